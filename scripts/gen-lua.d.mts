// Types of what tests import from gen-lua.mjs.

/** The first line of a script that builds key names while it runs (see gen-lua.mjs). */
export declare const undeclaredKeysFlag: string

/**
 * Every script of a folder ("queue", "redis"): its export name, the helpers shipped with it and its source as shipped
 * (see gen-lua.mjs).
 */
export declare const scripts: (
  folder: string
) => ReadonlyArray<{ readonly name: string; readonly helpers: ReadonlyArray<string>; readonly source: string }>
