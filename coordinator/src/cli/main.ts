/**
 * `jointly` — one CLI for every role. Results go to stdout (JSON with --json); progress and logs to stderr.
 */
import { parseArgs } from "node:util"
import * as Chain from "./chain.ts"
import * as Coordinate from "./coordinator.ts"
import * as RunLocal from "./run-local.ts"

const usage = `jointly — organisations answer questions together without handing over raw data

Usage:
  jointly run --local --task <task.json> --party <name>=<file.csv> [--party …] [--json] [--data-dir <dir>] [--keep]
      Start an embedded chain, a coordinator and one participant process per party on 127.0.0.1,
      register and audit them, run the task, print the result, shut everything down.
  jointly participant --config <participant.json>
      Run a participant agent (key passphrase from JOINTLY_KEY_PASSPHRASE).
  jointly coordinator --data-dir <dir> --rpc-url <url> [--port <n>]
      Run a coordinator over an existing deployment in <dir>/chain/deployment.json.
  jointly chain --data-dir <dir> [--port <n>]
      Run the embedded chain (anvil) on 127.0.0.1 with its state in <dir>/chain.
  jointly deploy --data-dir <dir> --rpc-url <url> [--embedded]
      Deploy the consortium contracts (supervisor and coordinator keys in <dir>/operator; --embedded funds
      them on an anvil chain).
`

const main = async () => {
  const [command, ...rest] = process.argv.slice(2)
  switch (command) {
    case "run": {
      const { values } = parseArgs({
        args: rest,
        options: {
          local: { type: "boolean" },
          task: { type: "string" },
          party: { type: "string", multiple: true },
          json: { type: "boolean" },
          "data-dir": { type: "string" },
          keep: { type: "boolean" }
        }
      })
      if (!values.local || !values.task || !values.party) throw new UsageError("run needs --local, --task and at least two --party")
      return RunLocal.run({ task: values.task, parties: values.party, json: values.json ?? false, dataDir: values["data-dir"], keep: values.keep ?? false })
    }
    case "participant": {
      const { values } = parseArgs({ args: rest, options: { config: { type: "string" } } })
      if (!values.config) throw new UsageError("participant needs --config <file>")
      const { run } = await import("@jointly/participant/cli/ParticipantMain.ts")
      await run(values.config)
      return
    }
    case "coordinator": {
      const { values } = parseArgs({ args: rest, options: { "data-dir": { type: "string" }, "rpc-url": { type: "string" }, port: { type: "string" } } })
      if (!values["data-dir"] || !values["rpc-url"]) throw new UsageError("coordinator needs --data-dir and --rpc-url")
      return Coordinate.run({ dataDir: values["data-dir"], rpcUrl: values["rpc-url"], port: Number(values.port ?? 0) })
    }
    case "chain": {
      const { values } = parseArgs({ args: rest, options: { "data-dir": { type: "string" }, port: { type: "string" } } })
      if (!values["data-dir"]) throw new UsageError("chain needs --data-dir")
      return Chain.startChain({ dataDir: values["data-dir"], port: Number(values.port ?? 0) })
    }
    case "deploy": {
      const { values } = parseArgs({ args: rest, options: { "data-dir": { type: "string" }, "rpc-url": { type: "string" }, embedded: { type: "boolean" } } })
      if (!values["data-dir"] || !values["rpc-url"]) throw new UsageError("deploy needs --data-dir and --rpc-url")
      return Chain.deploy({ dataDir: values["data-dir"], rpcUrl: values["rpc-url"], embedded: values.embedded ?? false })
    }
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(usage)
      return
    default:
      throw new UsageError(`unknown command ${command}`)
  }
}

class UsageError extends Error {}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`jointly: ${error.message}\n\n${usage}`)
    process.exit(2)
  }
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`jointly: ${message}\n`)
  process.exit(1)
})
