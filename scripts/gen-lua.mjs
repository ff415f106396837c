// Generates a `lua.generated.ts` module beside each Lua folder of src/internal, one string export per script.
// Helpers are `local function`s in src/internal/lua/*.lua (shared by every folder) and in a folder's
// `lua/includes.lua`; each script ships only the helpers it calls, directly or through another helper, in the order
// they are defined (a helper calls only helpers defined above it), before the script itself.
// Each script's header names and types its KEYS and ARGV (syntax: `parseParams`): the module declares them
// (`Contracts`, labelled tuples) with a runtime `contracts` table, from which script.ts `define` builds typed
// descriptors, so no TypeScript file repeats a parameter list.
// `node scripts/gen-lua.mjs` writes them; `--check` fails when one is out of date (npm test runs that).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../src/internal/", import.meta.url))
export const folders = ["redis", "queue"]

/** Lua without its comments (whole-line and trailing), to find the calls in it. */
const codeOf = (lua) =>
  lua
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .map((line) => line.replace(/\s--\s.*$/, ""))
    .join("\n")

/**
 * The helpers of a file: each `local function <name>(` at the start of a line, through the first line `end`, with
 * the comment lines right above it. Comment paragraphs that stand apart (a blank line below them) are the file's
 * notes and are not shipped; any other top-level code is an error.
 */
const parseHelpers = (file) => {
  const helpers = []
  let comments = []
  const lines = readFileSync(file, "utf8").split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const start = /^local function (\w+)\(/.exec(line)
    if (start) {
      const end = lines.indexOf("end", i)
      if (end === -1) throw new Error(`${file}: ${start[1]} has no closing "end" line`)
      helpers.push({ name: start[1], text: [...comments, ...lines.slice(i, end + 1)].join("\n") })
      comments = []
      i = end
    } else if (line.startsWith("--")) comments.push(line)
    else if (line.trim() === "") comments = []
    else throw new Error(`${file}:${i + 1}: only local functions and comments belong in a helper file`)
  }
  return helpers
}

const callsIn = (code, names) => names.filter((name) => new RegExp(`(^|[^\\w.:])${name}\\s*\\(`).test(code))

/** Every helper a folder's scripts may call, in definition order, each with the helpers it calls. */
const library = (folder) => {
  const shared = readdirSync(`${root}lua/`)
    .filter((f) => f.endsWith(".lua"))
    .sort()
    .map((f) => `${root}lua/${f}`)
  const own = `${root}${folder}/lua/includes.lua`
  const helpers = [...shared, ...(existsSync(own) ? [own] : [])].flatMap(parseHelpers)
  const names = helpers.map((h) => h.name)
  if (new Set(names).size !== names.length) throw new Error(`${folder}: a helper name is defined twice`)
  return helpers.map((helper, index) => {
    const calls = callsIn(codeOf(helper.text.replace(/^.*?local function \w+/s, "")), names)
    for (const call of calls)
      if (names.indexOf(call) >= index) throw new Error(`${helper.name} calls ${call}, which is defined after it`)
    return { ...helper, calls }
  })
}

/** The helpers `code` calls, transitively, in definition order. */
const needed = (helpers, code) => {
  const byName = new Map(helpers.map((h) => [h.name, h]))
  const wanted = new Set()
  const visit = (name) => {
    if (wanted.has(name)) return
    wanted.add(name)
    for (const call of byName.get(name).calls) visit(call)
  }
  for (const name of callsIn(code, [...byName.keys()])) visit(name)
  return helpers.filter((h) => wanted.has(h.name))
}

/** A parameter's type in a header: string (the default), number, or boolean (sent as "1" or "0"). */
const scalars = ["string", "number", "boolean"]

/**
 * The parameters a script's header documents, one a line between `-- Input:` and `-- Output:` (test/lua.test.ts
 * checks the same syntax):
 *
 *   --   KEYS[<i>] <name>: <description>               KEYS[1..n] in order, n from the file name
 *   --   KEYS[<i>..<j>] <name>: <description>          keys i to j, one tuple parameter `<name>` of j - i + 1 keys
 *   --   KEYS[1..k] <name>: <description>              the keys of a `-N` script (any number)
 *   --   ARGV[<i>] <name> (<type>): <description>      ARGV[1..] in order; ` (<type>)` may be left out for string
 *   --   ARGV[<i>] <group>.<field> (<type>): ...       consecutive fields of one object parameter `<group>`, of the
 *                                                    interface `<Group>` the module declares from them
 *   --   ARGV[<i>..] <name> (list of [<field>: <type>, ...]): ...  last: the list's length, then each entry's fields
 *   --       <description, continued>                  (5 or more spaces) continues the line above
 *
 * Returns `{ keys, args }`: `keys` the key names, or `{ rest: name }` for a `-N` script; `args` the parameters in
 * ARGV order, each `{ name, type, description }` (type: a scalar, `{ list: [{ name, type }] }` or `{ group: fields }`).
 * Throws on a line it cannot parse, a missing or out-of-order index, or a duplicate name.
 */
const parseParams = (path, script, keyCount) => {
  const lines = script.split("\n")
  const input = lines.indexOf("-- Input:")
  const output = lines.findIndex((line) => /^-- Output:/.test(line))
  if (input === -1 || output < input) throw new Error(`${path}: the header needs "-- Input:", then "-- Output:"`)
  const fail = (i, why) => {
    throw new Error(`${path}:${i + 1}: ${why}\n  ${lines[i]}`)
  }
  const keys = []
  const args = []
  let argvCount = 0
  let last
  for (let i = input + 1; i < output; i++) {
    const line = lines[i]
    if (/^-- {5,}\S/.test(line)) {
      if (!last) fail(i, "a continuation line (5+ spaces) before any KEYS or ARGV line")
      last.description += ` ${line.trim().slice(2).trim()}`
      continue
    }
    const entry = /^-- {3}(KEYS|ARGV)\[([^\]]*)\] (.*)$/.exec(line)
    if (!entry)
      fail(i, "expected `--   KEYS[<i>] <name>: ...`, `--   ARGV[<i>] <name> (<type>): ...` or a continuation")
    const [, kind, index, rest] = entry
    const parts = /^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)(?: \(([^()]+)\))?: +(\S.*)$/.exec(rest)
    if (!parts) fail(i, "expected `<name>: <description>` or `<name> (<type>): <description>` after the index")
    const [, name, type = "string", description] = parts
    if (kind === "KEYS") {
      if (args.length > 0) fail(i, "KEYS are documented before ARGV")
      if (parts[2] !== undefined) fail(i, "KEYS are strings: no type")
      if (name.includes(".")) fail(i, "a key's name has no dot")
      if (keys.some((k) => k.name === name)) fail(i, `duplicate key name "${name}"`)
      const next = keys.reduce((n, k) => n + (k.count ?? 1), 0) + 1
      const range = /^(\d+)\.\.(\d+)$/.exec(index)
      if (keyCount === "N") {
        if (index !== "1..k" || keys.length > 0) fail(i, "a -N script documents its keys on one line, KEYS[1..k]")
      } else if (range) {
        if (Number(range[1]) !== next || Number(range[2]) <= next) fail(i, `expected KEYS[${next}..<j>], j > ${next}`)
      } else if (index !== String(next)) fail(i, `expected KEYS[${next}]`)
      last = range ? { name, description, count: Number(range[2]) - next + 1 } : { name, description }
      keys.push(last)
      continue
    }
    if (args.at(-1)?.type.list) fail(i, "a list takes the rest of ARGV: nothing follows it")
    const open = index.endsWith("..")
    if (index !== `${++argvCount}` && index !== `${argvCount}..`) fail(i, `expected ARGV[${argvCount}]`)
    const list = /^list of \[(.*)\]$/.exec(type)
    if (open !== Boolean(list)) fail(i, "a list parameter, and only a list, takes the rest of ARGV: ARGV[<i>..]")
    const parsedType = list
      ? {
          list: list[1].split(", ").map((field) => {
            const [, fieldName, fieldType] = /^([A-Za-z_]\w*): (string|number)$/.exec(field) ?? []
            if (!fieldName) fail(i, `a list entry's field is \`<name>: string\` or \`<name>: number\`, not "${field}"`)
            return { name: fieldName, type: fieldType }
          })
        }
      : type
    if (list && new Set(parsedType.list.map((f) => f.name)).size !== parsedType.list.length)
      fail(i, "duplicate field name in a list entry")
    if (!list && !scalars.includes(type)) fail(i, `unknown type "${type}" (${scalars.join(", ")} or list of [...])`)
    const [param, field] = name.split(".")
    const previous = args.at(-1)
    if (field !== undefined) {
      if (list) fail(i, "a list is not a field")
      last = { name: field, type: parsedType, description }
      if (previous?.name === param && previous.type.group) {
        if (previous.type.group.some((f) => f.name === field)) fail(i, `duplicate field "${name}"`)
        previous.type.group.push(last)
        continue
      }
      if (args.some((a) => a.name === param))
        fail(i, `duplicate parameter name "${param}" (a group's fields are consecutive)`)
      args.push({ name: param, type: { group: [last] } })
      continue
    }
    if (args.some((a) => a.name === name)) fail(i, `duplicate parameter name "${name}"`)
    last = { name, type: parsedType, description }
    args.push(last)
  }
  if (keyCount === "N" && keys.length === 0) fail(input, "a -N script documents KEYS[1..k]")
  const documented = keys.reduce((n, k) => n + (k.count ?? 1), 0)
  if (keyCount !== "N" && documented !== Number(keyCount))
    fail(input, `the file name says ${keyCount} key(s), the header documents ${documented}`)
  return {
    keys:
      keyCount === "N"
        ? { rest: keys[0].name }
        : keys.map((k) => (k.count ? { name: k.name, count: k.count } : k.name)),
    args
  }
}

/**
 * The first line of a script that builds key names while it runs (from ids it pops, a record's fields): Redis reads
 * it as a comment; Dragonfly, which refuses a key the script was not given in `KEYS` unless told otherwise, reads it
 * as the script's flag. Every such key carries the queue's hash tag (ARCHITECTURE.md, "Keys");
 * test/keySlots.test.ts checks, while the suites run, that exactly the scripts with this line build keys.
 */
export const undeclaredKeysFlag = "--!df flags=allow-undeclared-keys"

/**
 * Every script of a folder: its file, export name, key count ("N": any), parameters (header), helpers shipped and
 * full source.
 */
export const scripts = (folder) => {
  const dir = `${root}${folder}/lua/`
  const helpers = library(folder)
  return readdirSync(dir)
    .filter((f) => f.endsWith(".lua") && f !== "includes.lua")
    .sort()
    .map((file) => {
      const [, name, keys] = /^(\w+)-(\d+|N)\.lua$/.exec(file) ?? []
      if (!name) throw new Error(`${folder}/lua/${file}: expected <name>-<key count or N>.lua`)
      const script = readFileSync(dir + file, "utf8")
      const code = codeOf(script)
      for (const h of helpers)
        if (new RegExp(`local function ${h.name}\\(`).test(code))
          throw new Error(`${folder}/lua/${file} defines ${h.name}, a helper's name`)
      const shipped = needed(helpers, code)
      // Dragonfly reads a script's flags from its first line: it stays first, above the helpers
      const flagged = script.startsWith(`${undeclaredKeysFlag}\n`)
      const body = flagged ? script.slice(undeclaredKeysFlag.length + 1) : script
      const shipping = shipped.length === 0 ? body : `${shipped.map((h) => h.text).join("\n\n")}\n\n${body}`
      const source = flagged ? `${undeclaredKeysFlag}\n${shipping}` : shipping
      const params = parseParams(`${folder}/lua/${file}`, script, keys)
      return { file, name, keys, params, helpers: shipped.map((h) => h.name), source }
    })
}

/** `route` -> `Route`: the interface of a group of ARGV. */
const interfaceName = (group) => group[0].toUpperCase() + group.slice(1)

/** The TypeScript type of a parameter: its scalar type, its list's entries, or its group's interface. */
const tsType = ({ name, type }) =>
  type.list
    ? `ReadonlyArray<readonly [${type.list.map((f) => `${f.name}: ${f.type}`).join(", ")}]>`
    : type.group
      ? interfaceName(name)
      : type

/**
 * The interface of each group of ARGV (`<group>.<field>` lines) in a folder's scripts, declared once: every script
 * that has a group of that name has the same fields, types and order. Its docs are the first script's descriptions.
 */
const groupsOf = (folder, all) => {
  const groups = new Map()
  for (const { file, params } of all)
    for (const { name, type } of params.args) {
      if (!type.group) continue
      const shape = type.group.map((f) => `${f.name}: ${f.type}`).join(", ")
      const known = groups.get(name)
      if (!known) groups.set(name, { files: [file], shape, fields: type.group })
      else if (known.shape !== shape)
        throw new Error(`${folder}/lua/${file}: ${name}.* is not ${name}.* of ${known.files[0]} (${known.shape})`)
      else known.files.push(file)
    }
  if (groups.has("contracts")) throw new Error(`${folder}: a group named "contracts" would clash with \`Contracts\``)
  return [...groups].map(([name, { files, fields }]) => {
    const docs = fields.map(
      (f) => `  /** ${f.description.replaceAll("*/", "*\\/")} */\n  readonly ${f.name}: ${f.type}\n`
    )
    const uses = files.join(", ")
    return `/** The ARGV that \`${name}.*\` names in ${uses}, in this order. */\nexport interface ${interfaceName(name)} {\n${docs.join("")}}\n`
  })
}

export const render = (folder) => {
  const all = scripts(folder)
  const body = all.map(({ file, name, keys, helpers, source }) => {
    const count = keys === "N" ? "any number of" : keys
    const uses = helpers.length === 0 ? "" : ` Helpers: ${helpers.join(", ")}.`
    return `/** ${file}: ${count} key(s).${uses} */\nexport const ${name} = ${JSON.stringify(source)}\n`
  })
  const origin = `src/internal/${folder}/lua/*.lua with the helpers each calls (src/internal/lua/*.lua, includes.lua)`
  const types = all.map(({ file, name, params }) => {
    const keys = params.keys.rest
      ? `readonly [...${params.keys.rest}: Array<string>]`
      : `readonly [${params.keys
          .map((k) =>
            typeof k === "string"
              ? `${k}: string`
              : `...${k.name}: readonly [${Array(k.count).fill("string").join(", ")}]`
          )
          .join(", ")}]`
    const args = params.args.map((a) => `${a.name}: ${tsType(a)}`).join(", ")
    return `  /** ${file} */\n  readonly ${name}: {\n    readonly keys: ${keys}\n    readonly args: [${args}]\n  }\n`
  })
  const values = all.map(({ name, keys, params }) => {
    const args = `[${params.args.map((a) => JSON.stringify(a.name)).join(", ")}]`
    const groups = params.args
      .filter((a) => a.type.group)
      .map((a) => `${a.name}: [${a.type.group.map((f) => JSON.stringify(f.name)).join(", ")}]`)
    const fields = groups.length === 0 ? "" : `, fields: { ${groups.join(", ")} }`
    return `  ${name}: { lua: ${name}, keys: ${JSON.stringify(keys === "N" ? "N" : Number(keys))}, args: ${args}${fields} }`
  })
  const contracts =
    "/**\n * Each script's parameters, from its header: the keys as one tuple (any number for a `-N` script), then the ARGV\n" +
    " * parameters in order (see scripts/gen-lua.mjs for the header syntax, script.ts `define` for how they are sent).\n */\n" +
    `export interface Contracts {\n${types.join("")}}\n\n` +
    '/** Each script with its key count ("N": any), parameter names and the fields of each object parameter. */\n' +
    "export const contracts: { readonly [Name in keyof Contracts]: Contract<Contracts[Name]> } = {\n" +
    `${values.join(",\n")}\n}\n`
  return (
    `// Generated by scripts/gen-lua.mjs from ${origin}. Do not edit.\n\n` +
    `import type { Contract } from "../script.ts"\n\n` +
    [...body, ...groupsOf(folder, all), contracts].join("\n")
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stale = false
  for (const folder of folders) {
    const out = `${root}${folder}/lua.generated.ts`
    let text
    try {
      text = render(folder)
    } catch (error) {
      // a script or helper the generator cannot read: its message names the file and line
      console.error(`scripts/gen-lua.mjs: ${error.message}`)
      process.exit(1)
    }
    if (process.argv.includes("--check")) {
      if (!existsSync(out) || readFileSync(out, "utf8") !== text) {
        console.error(`src/internal/${folder}/lua.generated.ts is out of date: run \`npm run gen\``)
        stale = true
      }
    } else writeFileSync(out, text)
  }
  if (stale) process.exit(1)
}
