/**
 * `jointly` — one CLI for every role. Results go to stdout (JSON with --json); progress and logs to stderr.
 */
import { parseArgs } from "node:util"
import * as Chain from "@jointly/coordinator/cli/chain.ts"
import * as Coordinate from "@jointly/coordinator/cli/coordinator.ts"
import * as Governance from "./governance.ts"
import * as RunLocal from "./run-local.ts"

const usage = `jointly — organisations answer questions together without handing over raw data

Usage:
  jointly run --local --task <task.json> --party <name>=<file.csv> [--party …] [--json] [--data-dir <dir>] [--keep]
      Start an embedded chain, a coordinator and one participant process per party on 127.0.0.1,
      register and audit them, run the task, print the result, shut everything down.
  jointly local up --task <task.json> --party <name>=<file.csv> [--party …] [--json] [--data-dir <dir>]
      The same cluster, kept running until Ctrl-C: prints the dashboard and API URLs and the parties.
  jointly task submit <spec.json> --coordinator <url> --key-env <VAR> [--watch] [--json]
      Sign a task spec (parties by address, no initiator) with the private key in $VAR and submit it.
  jointly task watch <id> --coordinator <url> --key-env <VAR> [--json]
      Follow a task to its end: status lines and progress bars on stderr (bars on a terminal only).
  jointly task cancel <id> --coordinator <url> --key-env <VAR> [--reason <text>] [--json]
  jointly task get <id> | list [--status <s>] --coordinator <url> --key-env <VAR> [--json]
      Every command signs in to the coordinator (Sign-In with Ethereum) with the private key in $VAR
      (default $JOINTLY_KEY). --coordinator defaults to $JOINTLY_COORDINATOR. With --json, stdout is one
      JSON document, errors included.
  jointly participant --config <participant.json>
      Run a participant agent (key passphrase from JOINTLY_KEY_PASSPHRASE).
  jointly coordinator --data-dir <dir> --rpc-url <url> [--port <n>] [--confirmations <n>] [--max-fee-gwei <n>]
      Run a coordinator over an existing deployment in <dir>/chain/deployment.json. A chain record counts as
      final after --confirmations blocks (default 2; 1 for the embedded chain); no transaction pays more than
      --max-fee-gwei per gas (default 200).
  jointly chain --data-dir <dir> [--port <n>]
      Run the embedded chain (anvil) on 127.0.0.1 with its state in <dir>/chain.
  jointly deploy --data-dir <dir> --rpc-url <url> [--embedded] [--max-fee-gwei <n>]
      Deploy the consortium contracts (supervisor and coordinator keys in <dir>/operator). --embedded mints
      their gas money on the embedded anvil chain; elsewhere the operator funds the supervisor account and it
      tops up the coordinator's by a transfer.
  jointly catalog search <q> --url <coordinator> --key-env <VAR> [--all]
  jointly catalog publish --config <participant.json> --dataset <name> [--retire]
      Keyword search of the data catalogue; publish (or retire) a dataset's description from its registered source.
  jointly supervise members|tasks|grants --url <coordinator> (--key-env <VAR> | --data-dir <dir>)
  jointly supervise suspend|restore <org> --data-dir <dir> --rpc-url <url> [--url <coordinator>] [--reason <text>]
      The supervisor's view and its decisions (org = address, company id, or name with --url).
  jointly verify <task-id> --url <coordinator> --rpc-url <url> --key-env <VAR> [--json]
      Rebuild a task's history from the chain and check the stored result and artifacts against it (exit 1 on mismatch).
  jointly certify <file> (--config <participant.json> | --data-dir <dir> --rpc-url <url>) [--out <cert.json>]
  jointly certify --verify <file> --cert <cert.json> --rpc-url <url>
      Notarize a file's salted hash with the submitter's signature; verify a file against its certificate.
`

/** A flag's value decoded at the edge: a whole number ≥ 1, or a usage error naming the flag. */
const positiveInteger = (flag: string, value: string): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} expects a whole number ≥ 1, got ${value}`)
  return n
}

/** A fee in gwei (decimals allowed, e.g. 1.5) as wei, or a usage error. */
const gweiToWei = (value: string): bigint => {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value)
  if (m === null) throw new UsageError(`--max-fee-gwei expects a number of gwei, got ${value}`)
  return BigInt(m[1]!) * 10n ** 9n + BigInt((m[2] ?? "").padEnd(9, "0"))
}

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
    case "local": {
      const [sub, ...args] = rest
      if (sub !== "up") throw new UsageError("local expects up")
      const { values } = parseArgs({ args, options: { task: { type: "string" }, party: { type: "string", multiple: true }, json: { type: "boolean" }, "data-dir": { type: "string" } } })
      if (!values.task || !values.party) throw new UsageError("local up needs --task and at least two --party")
      const { up } = await import("./local-up.ts")
      return up({ task: values.task, parties: values.party, json: values.json ?? false, dataDir: values["data-dir"] })
    }
    case "task": {
      const [sub, ...args] = rest
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          coordinator: { type: "string" },
          "key-env": { type: "string" },
          json: { type: "boolean" },
          watch: { type: "boolean" },
          reason: { type: "string" },
          status: { type: "string" },
          limit: { type: "string" }
        }
      })
      const coordinator = values.coordinator ?? process.env.JOINTLY_COORDINATOR
      if (!coordinator) throw new UsageError("task needs --coordinator <url> (or JOINTLY_COORDINATOR)")
      // Every task command signs in; the key's variable defaults to JOINTLY_KEY when that is set.
      const keyEnv = values["key-env"] ?? (process.env.JOINTLY_KEY ? "JOINTLY_KEY" : undefined)
      const common = { coordinator, json: values.json ?? false, keyEnv }
      const Task = await import("@jointly/coordinator/cli/task.ts")
      const id = positionals[0]
      switch (sub) {
        case "submit":
          if (!id || !keyEnv) throw new UsageError("task submit needs <spec.json> and --key-env <VAR>")
          return Task.submit({ ...common, file: id, keyEnv, watch: values.watch ?? false })
        case "watch":
          if (!id) throw new UsageError("task watch needs <id>")
          return Task.watch({ ...common, id }).then(() => undefined)
        case "cancel":
          if (!id) throw new UsageError("task cancel needs <id>")
          return Task.cancel({ ...common, id, reason: values.reason })
        case "get":
          if (!id) throw new UsageError("task get needs <id>")
          return Task.get({ ...common, id })
        case "list":
          return Task.list({ ...common, status: values.status, limit: values.limit === undefined ? undefined : Number(values.limit) })
        default:
          throw new UsageError("task expects submit, watch, cancel, get or list")
      }
    }
    case "participant": {
      const { values } = parseArgs({ args: rest, options: { config: { type: "string" } } })
      if (!values.config) throw new UsageError("participant needs --config <file>")
      const { run } = await import("@jointly/participant/cli/ParticipantMain.ts")
      await run(values.config)
      return
    }
    case "coordinator": {
      const { values } = parseArgs({
        args: rest,
        options: { "data-dir": { type: "string" }, "rpc-url": { type: "string" }, port: { type: "string" }, confirmations: { type: "string" }, "max-fee-gwei": { type: "string" } }
      })
      if (!values["data-dir"] || !values["rpc-url"]) throw new UsageError("coordinator needs --data-dir and --rpc-url")
      return Coordinate.run({
        dataDir: values["data-dir"],
        rpcUrl: values["rpc-url"],
        port: Number(values.port ?? 0),
        ...(values.confirmations === undefined ? {} : { confirmations: positiveInteger("--confirmations", values.confirmations) }),
        ...(values["max-fee-gwei"] === undefined ? {} : { maxFeePerGasWei: gweiToWei(values["max-fee-gwei"]) })
      })
    }
    case "chain": {
      const { values } = parseArgs({ args: rest, options: { "data-dir": { type: "string" }, port: { type: "string" } } })
      if (!values["data-dir"]) throw new UsageError("chain needs --data-dir")
      return Chain.startChain({ dataDir: values["data-dir"], port: Number(values.port ?? 0) })
    }
    case "deploy": {
      const { values } = parseArgs({ args: rest, options: { "data-dir": { type: "string" }, "rpc-url": { type: "string" }, embedded: { type: "boolean" }, "max-fee-gwei": { type: "string" } } })
      if (!values["data-dir"] || !values["rpc-url"]) throw new UsageError("deploy needs --data-dir and --rpc-url")
      return Chain.deploy({
        dataDir: values["data-dir"],
        rpcUrl: values["rpc-url"],
        embedded: values.embedded ?? false,
        ...(values["max-fee-gwei"] === undefined ? {} : { maxFeePerGasWei: gweiToWei(values["max-fee-gwei"]) })
      })
    }
    case "catalog": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { url: { type: "string" }, all: { type: "boolean" }, config: { type: "string" }, dataset: { type: "string" }, retire: { type: "boolean" }, "key-env": { type: "string" } }
      })
      const [action, ...words] = positionals
      if (action === "search") {
        if (!values.url) throw new UsageError("catalog search needs --url <coordinator>")
        return Governance.catalogSearch({ url: values.url, q: words.join(" "), all: values.all ?? false, signer: await signerOf(values["key-env"]) })
      }
      if (action === "publish") {
        if (!values.config || !values.dataset) throw new UsageError("catalog publish needs --config and --dataset")
        return Governance.catalogPublish({ config: values.config, dataset: values.dataset, retire: values.retire ?? false })
      }
      throw new UsageError("catalog needs search or publish")
    }
    case "supervise": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { url: { type: "string" }, "data-dir": { type: "string" }, "rpc-url": { type: "string" }, reason: { type: "string" }, "key-env": { type: "string" } }
      })
      if (!positionals[0]) throw new UsageError("supervise needs members, tasks, grants, suspend or restore")
      return Governance.supervise({ what: positionals[0], org: positionals[1], url: values.url, dataDir: values["data-dir"], rpcUrl: values["rpc-url"], reason: values.reason, signer: await signerOf(values["key-env"]) })
    }
    case "verify": {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { url: { type: "string" }, "rpc-url": { type: "string" }, json: { type: "boolean" }, "key-env": { type: "string" } } })
      if (!positionals[0] || !values.url || !values["rpc-url"]) throw new UsageError("verify needs <task-id>, --url and --rpc-url")
      return Governance.verify({ taskId: positionals[0], url: values.url, rpcUrl: values["rpc-url"], json: values.json ?? false, signer: await signerOf(values["key-env"]) })
    }
    case "certify": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { verify: { type: "string" }, cert: { type: "string" }, out: { type: "string" }, meta: { type: "string" }, config: { type: "string" }, "data-dir": { type: "string" }, "rpc-url": { type: "string" } }
      })
      if (values.verify) {
        if (!values.cert || !values["rpc-url"]) throw new UsageError("certify --verify needs --cert and --rpc-url")
        return Governance.certifyVerify({ file: values.verify, cert: values.cert, rpcUrl: values["rpc-url"] })
      }
      if (!positionals[0]) throw new UsageError("certify needs <file>")
      return Governance.certify({ file: positionals[0], out: values.out, meta: values.meta, config: values.config, dataDir: values["data-dir"], rpcUrl: values["rpc-url"] })
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

/** The member's wallet from `--key-env <VAR>` (default $JOINTLY_KEY when set): the API's commands sign in with it. */
const signerOf = async (keyEnv: string | undefined) => {
  const { walletOf } = await import("@jointly/coordinator/cli/task.ts")
  return walletOf(keyEnv ?? (process.env.JOINTLY_KEY ? "JOINTLY_KEY" : undefined))
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    if (process.argv.includes("--json")) process.stdout.write(JSON.stringify({ error: { code: "Usage", message: error.message } }) + "\n")
    process.stderr.write(`jointly: ${error.message}\n\n${usage}`)
    process.exit(2)
  }
  const message = error instanceof Error ? error.message : String(error)
  // --json: a failure is JSON on stdout too, so a script reads one document whatever happened.
  if (process.argv.includes("--json")) {
    const tagged = error as { code?: unknown; _tag?: unknown }
    const code = typeof tagged.code === "string" ? tagged.code : typeof tagged._tag === "string" ? tagged._tag : "Failed"
    process.stdout.write(JSON.stringify({ error: { code, message } }) + "\n")
  }
  process.stderr.write(`jointly: ${message}\n`)
  process.exit(1)
})
