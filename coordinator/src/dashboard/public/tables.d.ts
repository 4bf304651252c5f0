/** Declarations of tables.js (plain JavaScript, served to the dashboard as is and imported by the CLI). */
export interface Table {
  readonly title: string
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

/** One printable cell: numbers to 6 significant digits, a list of scalars joined by spaces. */
export declare const cell: (value: unknown) => string

/** A result's tables: a summary of its scalars, then one table per keyed object, list of objects or group of lists. */
export declare const tablesOf: (result: unknown) => ReadonlyArray<Table>
