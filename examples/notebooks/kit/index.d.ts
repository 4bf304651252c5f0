// Types for tslab, whose TypeScript cannot read the sources' `.ts` imports: the helpers are typed in
// Notebook.ts; here the module is opaque so cells type-check.
export declare function load(): Promise<any>
