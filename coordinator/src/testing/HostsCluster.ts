/**
 * A consortium across separate hosts (Netns.ts), brought up the way docs/deploy.md tells three organisations
 * to, with the `jointly` CLI only: the chain (anvil) in its own namespace; an operator namespace where the
 * supervisor's and the coordinator's keys are made (`keys new`), the contracts deployed (`deploy --keystore`)
 * and members audited (`supervise audit`); the coordinator in its own namespace as a service
 * (`coordinator --config`: TLS from a CA this cluster makes, PGlite); one namespace per organisation, whose
 * participant registers itself (`org register`) and runs as `jointly participant`, trusting that CA. Tasks are
 * submitted from the operator namespace with `task submit --ca`.
 */
import { randomBytes } from "node:crypto"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Wallet } from "ethers"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as AccountKeystore from "../keys/AccountKeystore.ts"
import { cliPath } from "@jointly/cli/internal/local/LocalCluster"
import * as Netns from "./Netns.ts"
import * as TestCa from "@jointly/core/internal/testing/TestCa"

export interface PartyOptions {
  readonly name: string
  readonly datasets: ReadonlyArray<DatasetSpec>
}

export interface Options {
  readonly dir: string
  readonly parties: ReadonlyArray<PartyOptions>
  /** Progress lines for a human. */
  readonly onProgress?: (line: string) => void
}

/** The hosts a cluster of these parties needs, in the order Netns numbers them. */
export const hostNames = (parties: ReadonlyArray<{ readonly name: string }>) => ["chain", "coordinator", "operator", ...parties.map((p) => p.name)]

export interface Party {
  readonly name: string
  readonly address: string
  readonly dataDir: string
  readonly configFile: string
  readonly started: Netns.Started
}

/** A command's JSON answer: its whole stdout (`--json` documents are pretty-printed), or its last JSON line. */
const lastJson = (stdout: string): Record<string, unknown> => {
  try {
    return JSON.parse(stdout)
  } catch {
    const line = stdout.trim().split("\n").reverse().find((l) => l.startsWith("{"))
    if (line === undefined) throw new Error(`no JSON on stdout: ${stdout}`)
    return JSON.parse(line)
  }
}

/** Brings the consortium up on `net` (made with `hostNames`); the caller tears `net` down, even if this fails. */
export const start = async (net: Netns.Network, options: Options) => {
  const progress = options.onProgress ?? (() => {})
    const host = (name: string) => net.hosts[name]!
    const quiet = { JOINTLY_LOG: "error" }
    /** One `jointly` command in `where`'s namespace; its last stdout JSON line, or an error with its stderr. */
    const jointly = async (where: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) => {
      const run = await net.run(where, [process.execPath, cliPath(), ...args], { ...quiet, ...env })
      // `task submit --watch --json` exits 1 for a task that did not succeed, with the task's summary on stdout.
      const answer = (() => {
        try {
          return lastJson(run.stdout)
        } catch {
          return undefined
        }
      })()
      if (run.code !== 0 && (answer === undefined || answer.taskId === undefined)) {
        throw new Error(`jointly ${args.slice(0, 2).join(" ")} in ${where} exited ${run.code}:\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-3000)}`)
      }
      return answer!
    }
    const dir = options.dir
    await mkdir(join(dir, "operator"), { recursive: true })

    // TLS: the operator's CA signs the coordinator's certificate for the address members reach it at.
    const ca = TestCa.make(join(dir, "operator"), "Consortium test CA")
    const coordinatorHost = host("coordinator").address
    const certificate = ca.issue("coordinator", [coordinatorHost])

    progress("chain")
    const chain = await net.start("chain", [process.execPath, cliPath(), "chain", "--data-dir", join(dir, "chain"), "--host", host("chain").address, "--port", "8545"], quiet)
    const rpcUrl = String(chain.ready.rpcUrl)

    const operatorPassphrase = randomBytes(18).toString("base64url")
    const operatorEnv = { JOINTLY_KEY_PASSPHRASE: operatorPassphrase }
    const supervisorKey = join(dir, "operator", "supervisor.json")
    const coordinatorKey = join(dir, "operator", "coordinator-key.json")
    progress("operator keys")
    const [, coordinatorAccount] = await Promise.all([
      jointly("operator", ["keys", "new", "--out", supervisorKey], operatorEnv),
      jointly("operator", ["keys", "new", "--out", coordinatorKey], operatorEnv)
    ])
    progress("deploy")
    await jointly("operator", ["deploy", "--data-dir", join(dir, "operator"), "--rpc-url", rpcUrl, "--keystore", supervisorKey, "--coordinator", String(coordinatorAccount.address), "--fund"], operatorEnv)
    const deployment = join(dir, "operator", "chain", "deployment.json")

    // The analyst: an organisation that only submits tasks, registered from its own keystore.
    const analyst = new Wallet(Wallet.createRandom().privateKey)
    const analystKey = join(dir, "operator", "analyst.json")
    await AccountKeystore.save(analystKey, analyst.privateKey, operatorPassphrase, { scryptN: 1 << 14 })

    const coordinatorConfig = join(dir, "coordinator", "coordinator.json")
    await mkdir(join(dir, "coordinator"), { recursive: true })
    await writeFile(coordinatorConfig, JSON.stringify({
      host: coordinatorHost,
      port: 8443,
      publicUrl: `https://${coordinatorHost}:8443`,
      tls: { cert: certificate.certFile, key: certificate.keyFile },
      store: join(dir, "coordinator", "db"),
      // The embedded anvil mines on demand and never reorganises: a record is final once mined.
      chain: { rpcUrl, deployment, confirmations: 1 },
      keystore: coordinatorKey
    }, null, 2))
    progress("coordinator")
    const coordinator = await net.start("coordinator", [process.execPath, cliPath(), "coordinator", "--config", coordinatorConfig], { ...quiet, JOINTLY_COORDINATOR_KEY_PASSPHRASE: operatorPassphrase })
    const coordinatorUrl = String(coordinator.ready.url)

    // Each organisation: its config (coordinator URL, the CA file, datasets, policy), its own registration.
    const participantPassphrase = randomBytes(18).toString("base64url")
    const participantEnv = { JOINTLY_KEY_PASSPHRASE: participantPassphrase }
    progress("registrations")
    const configs = await Promise.all(options.parties.map(async (party) => {
      const dataDir = join(dir, party.name)
      await mkdir(dataDir, { recursive: true })
      const configFile = join(dataDir, "participant.json")
      await writeFile(configFile, JSON.stringify({
        coordinatorUrl,
        ca: ca.certFile,
        dataDir,
        datasets: party.datasets,
        policy: { mode: "auto", taskKinds: ["*"], initiators: [analyst.address], minParties: 2, datasets: Object.fromEntries(party.datasets.map((d) => [d.name, {}])) }
      }, null, 2))
      const registered = await jointly(party.name, ["org", "register", "--config", configFile, "--name", `${party.name} ${randomBytes(3).toString("hex")}`, "--deployment", deployment, "--rpc-url", rpcUrl, "--fund"], participantEnv)
      return { name: party.name, dataDir, configFile, address: String(registered.address) }
    }))
    await jointly("operator", ["org", "register", "--keystore", analystKey, "--name", `analyst ${randomBytes(3).toString("hex")}`, "--deployment", deployment, "--rpc-url", rpcUrl, "--fund"], operatorEnv)
    progress("audit")
    await jointly("operator", ["supervise", "audit", ...configs.map((c) => c.address), analyst.address, "--keystore", supervisorKey, "--deployment", deployment, "--rpc-url", rpcUrl], operatorEnv)

    const startParticipant = (name: string, configFile: string, env: NodeJS.ProcessEnv = {}) =>
      net.start(name, [process.execPath, cliPath(), "participant", "--config", configFile], { ...quiet, ...participantEnv, ...env })
    progress("participants")
    const parties: Array<Party> = await Promise.all(configs.map(async (c) => ({ ...c, started: await startParticipant(c.name, c.configFile) })))

    /**
     * `jointly task submit --json` from the operator's host: with `watch` (the default) the summary of the ended
     * task, without it the submission's answer as soon as the task is stored.
     */
    const submit = async (draft: Record<string, unknown>, options: { readonly watch?: boolean } = {}) => {
      const file = join(dir, "operator", `task-${randomBytes(4).toString("hex")}.json`)
      await writeFile(file, JSON.stringify(draft))
      const watch = options.watch === false ? [] : ["--watch"]
      return jointly("operator", ["task", "submit", file, "--coordinator", coordinatorUrl, "--ca", ca.certFile, "--keystore", analystKey, ...watch, "--json"], operatorEnv)
    }
    /** `jointly task get --json`, signed in as the analyst: the whole stored task, its timestamps and result. */
    const get = (id: string) => jointly("operator", ["task", "get", id, "--coordinator", coordinatorUrl, "--ca", ca.certFile, "--keystore", analystKey, "--json"], operatorEnv)

    progress("ready")
    return { net, ca, rpcUrl, coordinatorUrl, deployment, parties, analyst, submit, get, jointly, startParticipant, participantEnv }
}

export type HostsCluster = Awaited<ReturnType<typeof start>>
