/**
 * Test, benchmark and notebook support: the public datasets shipped in the repository's `datasets/` folder
 * (provenance and licences in `datasets/README.md`). A fresh clone holds every file a test reads.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** The absolute path of `datasets/<name>` in this repository. */
export const datasetFile = (name: string): string => fileURLToPath(new URL(`../../../datasets/${name}`, import.meta.url))

/** The text of `examples/<path>` in this repository (e.g. the example id files of the joint-query tests). */
export const exampleText = (path: string): string => readFileSync(fileURLToPath(new URL(`../../../examples/${path}`, import.meta.url)), "utf8")
