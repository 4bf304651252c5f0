/** Where the addon is written. */
export declare const output: string
/** Compiles the addon; throws when the compiler, Node's headers or libsodium are missing. */
export declare const build: () => string
