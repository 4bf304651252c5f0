/**
 * `npm run bench -- [suite …]`: runs the named suites (all registered ones when none is named) and prints
 * one JSON result per line on stdout (DESIGN.md §10); progress and errors go to stderr.
 */
import { progress } from "./Report.ts"
import { suites } from "./Suites.ts"

const requested = process.argv.slice(2).filter((a) => !a.startsWith("-"))
const names = requested.length > 0 ? requested : Object.keys(suites)
const unknown = names.filter((n) => !(n in suites))
if (unknown.length > 0) {
  process.stderr.write(`unknown suite(s): ${unknown.join(", ")}; known: ${Object.keys(suites).join(", ")}\n`)
  process.exit(2)
}
let failed = false
for (const name of names) {
  const started = performance.now()
  progress(`suite ${name}: start`)
  try {
    await (await suites[name]!()).run()
    progress(`suite ${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } catch (e) {
    failed = true
    process.stderr.write(`[bench] suite ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  }
}
process.exit(failed ? 1 : 0)
