export declare const defaultEntries: ReadonlyArray<string>
export declare const nodeImportsOf: (entry: string) => Promise<{
  readonly found: ReadonlyArray<{ readonly module: string; readonly importer: string; readonly chain: ReadonlyArray<string> }>
  readonly inputs: number
}>
export declare const coreNodeImports: () => ReadonlyArray<{ readonly file: string; readonly module: string }>
