// Types of what tests import from gen-lua.mjs.

/** The first line of a script that builds key names while it runs (see gen-lua.mjs). */
export declare const undeclaredKeysFlag: string
