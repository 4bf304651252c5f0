/**
 * `jointly` — one CLI for every role. Results go to stdout (JSON with --json); progress and logs to stderr.
 * This is the process's edge: its arguments and environment go to `dispatch`, its failures become exit codes.
 */
import { dispatch, usage, UsageError } from "./dispatch.ts"

const main = async () => {
  const argv = process.argv.slice(2)
  if (argv[0] === undefined || argv[0] === "help" || argv[0] === "--help") {
    process.stdout.write(usage)
    return
  }
  await dispatch(argv, process.env)
}

/** `--json` or `--format json` (either `--format json` or `--format=json`): errors go to stdout as JSON too. */
const jsonOutput = () => {
  const args = process.argv
  return args.includes("--json") || args.includes("--format=json") || args.some((a, i) => a === "--format" && args[i + 1] === "json")
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    if (jsonOutput()) process.stdout.write(JSON.stringify({ error: { code: "Usage", message: error.message } }) + "\n")
    process.stderr.write(`jointly: ${error.message}\n\n${usage}`)
    process.exit(2)
  }
  const message = error instanceof Error ? error.message : String(error)
  // --json: a failure is JSON on stdout too, so a script reads one document whatever happened.
  if (jsonOutput()) {
    const tagged = error as { code?: unknown; _tag?: unknown }
    const code = typeof tagged.code === "string" ? tagged.code : typeof tagged._tag === "string" ? tagged._tag : "Failed"
    process.stdout.write(JSON.stringify({ error: { code, message } }) + "\n")
  }
  process.stderr.write(`jointly: ${message}\n`)
  process.exit(1)
})
