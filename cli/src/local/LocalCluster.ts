/**
 * A whole consortium on one machine, with real parts: anvil as the chain, the coordinator (in this process or
 * its own), and one participant **process** per party, each with its own encrypted keystore and data
 * directory. `jointly run --local`, the demo, the notebooks and the integration tests all stand on this.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Redacted } from "effect"
import type { Wallet } from "ethers"
import type { DatasetSpec } from "@jointly/participant/datasets/Dataset.ts"
import * as Keystore from "@jointly/participant/keystore/Keystore.ts"
import type { Policy } from "@jointly/participant/policy/ConsentPolicy.ts"
import type { TaskSpec } from "@jointly/core/task/TaskSpec.ts"
import { isFinal, type Status } from "@jointly/core/task/Lifecycle.ts"
import { type Anvil, startAnvil } from "@jointly/coordinator/chain/Anvil.ts"
import { deploymentPathOf } from "@jointly/coordinator/chain/Deployment.ts"
import * as Client from "@jointly/coordinator/client/Client.ts"
import * as Coordinator from "@jointly/coordinator/Coordinator.ts"
import * as AccountKeystore from "@jointly/coordinator/keys/AccountKeystore.ts"
import * as Consortium from "@jointly/coordinator/local/Consortium.ts"
import * as Operator from "@jointly/coordinator/local/Operator.ts"

export const cliPath = fileURLToPath(new URL("../../bin/jointly.mjs", import.meta.url))

export interface PartyOptions {
  readonly name: string
  readonly datasets: ReadonlyArray<DatasetSpec>
  /** Default: accept every task kind from the local analyst with at least 2 parties on these datasets. */
  readonly policy?: Policy
  /** Catalogue metadata per dataset (for `jointly catalog publish`). */
  readonly catalog?: Record<string, { readonly domain: string; readonly location?: string; readonly policy: "Open" | "GrantRequired" }>
  /** Test harness: the party's process accepts keys below production sizes (`--unsafe-test-key-sizes`). */
  readonly unsafeTestKeySizes?: boolean
}

export interface Options {
  readonly dataDir: string
  readonly parties: ReadonlyArray<PartyOptions>
  /** Run the coordinator as its own process (so a test can kill it); default in this process. */
  readonly coordinatorProcess?: boolean
  /** Progress lines for a human (stderr in the CLI). */
  readonly onProgress?: (line: string) => void
  readonly startTimeoutMs?: number
}

export interface Party {
  readonly name: string
  readonly address: string
  readonly encryptionPublicKey: string
  readonly dataDir: string
  readonly unsafeTestKeySizes: boolean
  process: ChildProcess
  readonly stderr: Array<string>
}

const defaultPolicy = (datasets: ReadonlyArray<DatasetSpec>, analyst: string): Policy => ({
  taskKinds: ["*"],
  initiators: [analyst],
  minParties: 2,
  datasets: Object.fromEntries(datasets.map((d) => [d.name, {}])),
  mode: "auto"
}) as unknown as Policy

/** Spawns the CLI and resolves with the first stdout line that parses as JSON carrying `event`. */
const spawnCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, stderr: Array<string>) =>
  new Promise<{ child: ChildProcess; ready: Record<string, unknown> }>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.push(line)
      if (stderr.length > 500) stderr.shift()
    })
    const lines = createInterface({ input: child.stdout! })
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line)
        if (parsed && typeof parsed === "object" && "event" in parsed) resolvePromise({ child, ready: parsed })
      } catch {
        /* not ours */
      }
    })
    child.once("exit", (code) => reject(new Error(`jointly ${args[0]} exited with code ${code} before it was ready:\n${stderr.slice(-15).join("\n")}`)))
  })

const passphraseOf = async (dir: string) => {
  const file = join(dir, "passphrase")
  try {
    return (await readFile(file, "utf8")).trim()
  } catch {
    const passphrase = randomBytes(24).toString("base64url")
    await writeFile(file, passphrase, { mode: 0o600 })
    return passphrase
  }
}

export const start = async (options: Options) => {
  const progress = options.onProgress ?? (() => {})
  const dataDir = resolve(options.dataDir)
  await mkdir(dataDir, { recursive: true })
  const anvil: Anvil = await startAnvil({ dataDir })
  progress(`chain: anvil on ${anvil.rpcUrl} (state in ${anvil.statePath})`)
  const keys = await Operator.load(dataDir)
  const stopped: Array<() => Promise<unknown>> = [() => anvil.stop()]
  // One chain client for this process's views of every key (supervisor, in-process coordinator, admissions).
  const chain = await Consortium.connect(anvil.rpcUrl, { embedded: true })
  stopped.push(() => chain.close())
  const stopAll = async () => {
    for (const stop of stopped.reverse()) await stop().catch(() => {})
  }
  try {
    const { deployment, supervisorLedger } = await Consortium.deploy(dataDir, chain, keys.supervisor, keys.coordinator, true)
    stopped.push(() => supervisorLedger.close())
    progress(`contracts: registry ${deployment.registry}, task ledger ${deployment.ledger}`)

    const analystKey = { name: "local-analyst", wallet: keys.analyst, encryptionPublicKey: keys.analyst.signingKey.compressedPublicKey }
    await Consortium.admit(deployment, keys.supervisor, supervisorLedger, analystKey, true)

    // Coordinator: in this process by default, or its own process (restartable by tests).
    const coordinatorDir = join(dataDir, "coordinator")
    await mkdir(coordinatorDir, { recursive: true })
    let coordinatorUrl: string
    let coordinator: Coordinator.Coordinator | undefined
    let coordinatorProcess: ChildProcess | undefined
    const coordinatorStderr: Array<string> = []
    const startCoordinator = async () => {
      if (options.coordinatorProcess) {
        // The service's own path (`jointly coordinator --config`): the account from an encrypted keystore whose
        // passphrase, like the clinics', is generated and kept in the local data directory.
        const passphrase = await passphraseOf(coordinatorDir)
        const keystore = join(coordinatorDir, "keystore.json")
        await AccountKeystore.save(keystore, keys.coordinator.privateKey, passphrase, { scryptN: 1 << 14 }).catch((error) => {
          if (!(error instanceof AccountKeystore.AccountKeystoreError && error.reason === "Exists")) throw error
        })
        const configFile = join(coordinatorDir, "coordinator.json")
        await writeFile(configFile, JSON.stringify({
          host: "127.0.0.1",
          port: port ?? 0,
          store: join(coordinatorDir, "db"),
          // The embedded chain never reorganises: a record is final once mined.
          chain: { rpcUrl: anvil.rpcUrl, deployment: deploymentPathOf(dataDir), confirmations: 1 },
          keystore
        }, null, 2))
        const { child, ready } = await spawnCli(["coordinator", "--config", configFile], { JOINTLY_COORDINATOR_KEY_PASSPHRASE: passphrase }, coordinatorStderr)
        coordinatorProcess = child
        return String(ready.url)
      }
      const ledger = await Consortium.ledgerFor(chain, keys.coordinator, deployment)
      const governance = await Consortium.governanceFor(chain, keys.coordinator, deployment)
      coordinator = await Coordinator.start({ store: join(coordinatorDir, "db"), ledger, governance, startTimeoutMs: options.startTimeoutMs })
      const running = coordinator
      stopped.push(async () => {
        await running.close()
        await governance?.close()
        await ledger.close()
      })
      return coordinator.url
    }
    let port: number | undefined
    coordinatorUrl = await startCoordinator()
    port = Number(new URL(coordinatorUrl).port)
    stopped.push(async () => {
      coordinatorProcess?.kill("SIGTERM")
    })
    progress(`coordinator: ${coordinatorUrl}`)

    // Participants: keystore first (its address is the org's identity), then registration, audit, process.
    const parties: Array<Party> = []
    for (const party of options.parties) {
      const dir = join(dataDir, "parties", party.name)
      await mkdir(dir, { recursive: true })
      const passphrase = await passphraseOf(dir)
      const identity = await Keystore.openPromise({ dataDir: dir, passphrase })
      await Consortium.admit(deployment, keys.supervisor, supervisorLedger, {
        name: party.name,
        wallet: Redacted.value(identity.account),
        encryptionPublicKey: identity.encryptionPublicKey
      }, true)
      const config = {
        coordinatorUrl,
        dataDir: dir,
        datasets: party.datasets.map((d) => ("file" in d ? { ...d, file: resolve(d.file) } : d)),
        policy: party.policy ?? defaultPolicy(party.datasets, keys.analyst.address),
        ...(Consortium.chainConfig(anvil.rpcUrl, deployment) === undefined ? {} : { chain: Consortium.chainConfig(anvil.rpcUrl, deployment) }),
        ...(party.catalog === undefined ? {} : { catalog: party.catalog })
      }
      const configFile = join(dir, "participant.json")
      await writeFile(configFile, JSON.stringify(config, null, 2))
      parties.push({ name: party.name, address: identity.address, encryptionPublicKey: identity.encryptionPublicKey, dataDir: dir, unsafeTestKeySizes: party.unsafeTestKeySizes === true, process: undefined as never, stderr: [] })
    }
    /** Starts (or restarts) a party's process; `env` adds variables, e.g. a test hook. */
    const launch = async (party: Party, env: NodeJS.ProcessEnv = {}) => {
      const passphrase = await passphraseOf(party.dataDir)
      const flags = party.unsafeTestKeySizes ? ["--unsafe-test-key-sizes"] : []
      const { child } = await spawnCli(["participant", "--config", join(party.dataDir, "participant.json"), ...flags], { ...env, JOINTLY_KEY_PASSPHRASE: passphrase }, party.stderr)
      party.process = child
      stopped.push(async () => {
        if (child.exitCode === null) child.kill("SIGTERM")
      })
    }
    await Promise.all(parties.map((party) => launch(party)))
    progress(`participants: ${parties.map((p) => `${p.name} (${p.address})`).join(", ")}`)

    // The typed client, signed in as an account of this cluster (the coordinator's URL is read at each call:
    // a restarted coordinator keeps its port).
    const clients = new Map<string, Client.Client>()
    const clientFor = (wallet: Pick<Wallet, "address" | "getAddress" | "signMessage">) => {
      const key = `${wallet.address}@${coordinatorUrl}`
      let client = clients.get(key)
      if (client === undefined) clients.set(key, (client = Client.make({ url: coordinatorUrl, initiator: wallet })))
      return client
    }
    /** A party's own chain account, from its keystore (tests and notebooks act as that organisation). */
    const walletOf = async (name: string): Promise<Wallet> => {
      const party = parties.find((p) => p.name === name)
      if (party === undefined) throw new Error(`no party ${name}`)
      const identity = await Keystore.openPromise({ dataDir: party.dataDir, passphrase: await passphraseOf(party.dataDir) })
      return Redacted.value(identity.account) as Wallet
    }
    /** The local analyst's client: it initiates the cluster's tasks and receives their results. */
    const analyst = () => clientFor(keys.analyst)

    /** Signs and submits a task as the local analyst; returns its id. */
    const submit = async (draft: Omit<TaskSpec, "initiator" | "nonce"> & { nonce?: string }) =>
      (await analyst().submit(draft as Client.TaskDraft)).taskId

    /** The task as the analyst sees it: its metadata and, once it succeeded, its result. */
    const task = async (id: string): Promise<TaskDetail> => {
      const detail = await analyst().get(id)
      const outcome = detail.status === "Succeeded" ? await analyst().result(id) : undefined
      return { ...detail, result: outcome?.result ?? null }
    }

    /** Polls until the task is final and every chain record of it is final or parked (or the timeout passes). */
    const waitForTask = async (id: string, opts: { timeoutMs?: number; onStatus?: (status: Status) => void } = {}) => {
      const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
      let last: Status | undefined
      let lastError: unknown
      while (Date.now() < deadline) {
        // A refused read (e.g. a result the analyst may not see) is reported at the timeout, not hidden.
        const detail = await task(id).catch((error) => void (lastError = error))
        if (detail && detail.status !== last) {
          last = detail.status
          opts.onStatus?.(detail.status)
        }
        if (detail && isFinal(detail.status) && detail.chain.every((c) => c.status === "confirmed" || c.status === "failed")) return detail
        await new Promise((r) => setTimeout(r, 100))
      }
      const cause = lastError === undefined ? "" : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
      throw new Error(`task ${id} did not finish within ${opts.timeoutMs ?? 120_000} ms (last status ${last})${cause}`)
    }

    return {
      dataDir,
      rpcUrl: anvil.rpcUrl,
      anvil,
      deployment,
      supervisorLedger,
      keys,
      parties,
      get coordinatorUrl() {
        return coordinatorUrl
      },
      coordinator: () => coordinator,
      coordinatorStderr,
      submit,
      task,
      waitForTask,
      /** The analyst's typed client (`clientFor(wallet)` for any other account of the cluster). */
      get client() {
        return analyst()
      },
      clientFor,
      walletOf,
      launch,
      /** Kills the coordinator process (SIGKILL: no goodbye) and starts a new one on the same port and store. */
      restartCoordinator: async (signal: NodeJS.Signals = "SIGKILL") => {
        if (!coordinatorProcess) throw new Error("restartCoordinator needs coordinatorProcess: true")
        const old = coordinatorProcess
        const exited = new Promise((r) => old.once("exit", r))
        old.kill(signal)
        await exited
        coordinatorUrl = await startCoordinator()
      },
      stop: stopAll
    }
  } catch (error) {
    await stopAll()
    throw error
  }
}

export type LocalCluster = Awaited<ReturnType<typeof start>>

/** A task as the analyst sees it: metadata, events, consents, chain records, and its result once it succeeded. */
export type TaskDetail = Client.TaskOutcome
