/** Declarations of canonicalJson.js (plain JavaScript, also served as is to the dashboard). */

/** JSON with object keys sorted recursively; bigint as decimal strings; bytes as lowercase hex; undefined fields dropped. */
export declare const canonicalJson: (value: unknown) => string
