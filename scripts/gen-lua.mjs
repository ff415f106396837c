// Generates a `lua.generated.ts` module beside each Lua folder of src/internal, one string export per script.
// Helpers are `local function`s in src/internal/lua/*.lua (shared by every folder) and in a folder's
// `lua/includes.lua`; each script ships only the helpers it calls, directly or through another helper, in the order
// they are defined (a helper calls only helpers defined above it), before the script itself.
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

/** How many ARGV the header's Input section documents, one a line: `--   ARGV[<n>] ...`, from 1 (test/lua.test.ts). */
const argvCount = (script) => {
  const header = script.split("\n")
  const input = header.indexOf("-- Input:")
  const output = header.findIndex((line) => /^-- Output:/.test(line))
  return header.slice(input + 1, output).filter((line) => /^-- {3}ARGV\[\d+\] /.test(line)).length
}

/** Every script of a folder: its file, export name, key count ("N": any), helpers shipped and full source. */
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
      const source = shipped.length === 0 ? script : `${shipped.map((h) => h.text).join("\n\n")}\n\n${script}`
      return { file, name, keys, argv: argvCount(script), helpers: shipped.map((h) => h.name), source }
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
  const contracts = all
    .filter(({ keys }) => keys !== "N")
    .map(({ name, keys, argv }) => `  ${name}: { lua: ${name}, keys: ${keys}, argv: ${argv} }`)
  const table =
    "/** Each fixed-key script with its key count (file name) and ARGV count (header), for typed descriptors. */\n" +
    `export const contracts = {\n${contracts.join(",\n")}\n} as const\n`
  return `// Generated by scripts/gen-lua.mjs from ${origin}. Do not edit.\n\n${[...body, table].join("\n")}`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stale = false
  for (const folder of folders) {
    const out = `${root}${folder}/lua.generated.ts`
    const text = render(folder)
    if (process.argv.includes("--check")) {
      if (!existsSync(out) || readFileSync(out, "utf8") !== text) {
        console.error(`src/internal/${folder}/lua.generated.ts is out of date: run \`npm run gen\``)
        stale = true
      }
    } else writeFileSync(out, text)
  }
  if (stale) process.exit(1)
}
