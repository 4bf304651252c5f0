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
import { Effect, Exit, Redacted, Scope } from "effect"
import { getBytes, type Wallet } from "ethers"
import type { DatasetSpec } from "@jointly/participant/internal/datasets/Dataset"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import * as QueryServices from "@jointly/participant/internal/host/QueryServices"
import type { Policy } from "@jointly/participant/internal/policy/ConsentPolicy"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import type { Status } from "@jointly/core/internal/task/Lifecycle"
import { type Anvil, startAnvil } from "@jointly/coordinator/internal/chain/Anvil"
import { deploymentPathOf, loadDeployment } from "@jointly/coordinator/internal/chain/Deployment"
import * as Client from "@jointly/coordinator/internal/client/Client"
import * as Coordinator from "@jointly/coordinator/internal/Coordinator"
import type * as Log from "@jointly/coordinator/internal/Log"
import * as AccountKeystore from "@jointly/coordinator/internal/keys/AccountKeystore"
import * as EncryptionKey from "@jointly/coordinator/internal/keys/EncryptionKey"
import * as Consortium from "@jointly/coordinator/internal/local/Consortium"
import * as Operator from "@jointly/coordinator/internal/local/Operator"
import { cliPath } from "./CliBin.ts"

export { cliPath }

export interface PartyOptions {
  readonly name: string
  readonly datasets: ReadonlyArray<DatasetSpec>
  /** Default: accept every task kind from the local analyst with at least 2 parties on these datasets. */
  readonly policy?: Policy
  /** Catalogue metadata per dataset (for `jointly catalog publish`). */
  readonly catalog?: Record<string, { readonly domain: string; readonly location?: string; readonly policy: "Open" | "GrantRequired" }>
  /** Test harness: the party's process accepts keys below production sizes (`--unsafe-test-key-sizes`). */
  readonly unsafeTestKeySizes?: boolean
  /**
   * Registered and audited with its own keystore (passphrase in `<dataDir>/passphrase`), but no process is
   * started: the party runs elsewhere — a browser participant, or an Agent the caller embeds (the packaging
   * test's installed consumer) — signing in with the account `walletOf(name)` opens.
   */
  readonly external?: boolean
}

/**
 * A running cluster's chain and coordinator, as another cluster's parties join them (`Options.joins`): the
 * operator keys and the deployment are read from its data directory. `LocalCluster.shared` describes one.
 */
export interface Shared {
  readonly dataDir: string
  readonly rpcUrl: string
  readonly coordinatorUrl: string
}

export interface Options {
  readonly dataDir: string
  readonly parties: ReadonlyArray<PartyOptions>
  /**
   * Joins a running cluster instead of starting a chain and a coordinator: this one's parties are admitted on
   * its chain by its supervisor and connect to its coordinator, and `stop()` stops them alone (the joined
   * cluster runs on). Several clusters whose parties need nothing fresh (the notebooks' test) share one start
   * this way. The options about the chain and the coordinator (`coordinatorProcess`, `store`, `instances`,
   * `participantsAt`, `leaseMs`, `chainRetryMaxMs`, `socketLimits`, `ipfs`) are for a cluster that starts its own: refused with it.
   */
  readonly joins?: Shared
  /** Run the coordinator as its own process (so a test can kill it); default in this process. */
  readonly coordinatorProcess?: boolean
  /** The coordinator's store: a `postgres://` URL, or (default) a PGlite directory in `dataDir`. */
  readonly store?: string
  /**
   * Coordinator processes over that one PostgreSQL store (coordinator/src/cluster/; default 1). With more than
   * one, each listens on its own port; instance 0 is the analyst's, `participantsAt` the participants'.
   */
  readonly instances?: number
  /** The instance every participant connects to first (default 0); the others are its failover list. */
  readonly participantsAt?: number
  /** The cluster's lease period in ms (default the coordinator's). */
  readonly leaseMs?: number
  /** The coordinator's longest wait between tries to write a chain record while the node does not answer (its config's `chain.retryMaxMs`; default 10 s). */
  readonly chainRetryMaxMs?: number
  /** The coordinator process's socket limits (its config file's `socketLimits`), e.g. for many participants on one address. */
  readonly socketLimits?: { readonly connectionsPerMinute?: number; readonly eventsPer10sPerAddress?: number; readonly eventsPer10sPerAccount?: number }
  /**
   * Every process gets an embedded IPFS node, peered on loopback: the coordinator's (its config's `ipfs` section
   * when it runs as a process) and each participant's, which dials the coordinator's and pins the sealed result and
   * model of every task it ends (blocks kept in `<party dir>/artifacts-ipfs`). The coordinator's node collects its
   * garbage at every checkpoint release (`ipfs.gcIntervalMs` 0: a local store is small). Default none.
   */
  readonly ipfs?: boolean
  /**
   * The log level of the coordinator this process runs (default warn, Log.ts's) and, when given, of every process
   * the cluster starts (their JOINTLY_LOG); without it those read JOINTLY_LOG from the environment they inherit.
   * The CLI passes the level its edge read from JOINTLY_LOG.
   */
  readonly logLevel?: Log.Level
  /** Progress lines for a human (stderr in the CLI). */
  readonly onProgress?: (line: string) => void
  readonly startTimeoutMs?: number
  /**
   * Calls the start off (a test's `beforeAll` that timed out, a Ctrl-C): everything started so far is stopped,
   * processes still starting included, and `start` rejects once it is. A start that fails does the same.
   */
  readonly signal?: AbortSignal
}

export interface Party {
  readonly name: string
  readonly address: string
  readonly encryptionPublicKey: string
  readonly dataDir: string
  readonly unsafeTestKeySizes: boolean
  readonly external: boolean
  process: ChildProcess
  readonly stderr: Array<string>
  /** The party's IPFS node as its process reported it ready (with the cluster's `ipfs` option). */
  ipfs?: IpfsNode
}

/** An IPFS node of the cluster: its peer id and the multiaddrs it listens on. */
export interface IpfsNode {
  readonly peerId: string
  readonly addresses: ReadonlyArray<string>
}

const ipfsNodeOf = (ready: Record<string, unknown>): IpfsNode | undefined => {
  const ipfs = ready.ipfs as { peerId?: unknown; addresses?: unknown } | undefined
  return typeof ipfs?.peerId === "string" && Array.isArray(ipfs.addresses) ? { peerId: ipfs.peerId, addresses: ipfs.addresses.map(String) } : undefined
}

const defaultPolicy = (datasets: ReadonlyArray<DatasetSpec>, analyst: string): Policy => ({
  taskKinds: ["*"],
  initiators: [analyst],
  minParties: 2,
  datasets: Object.fromEntries(datasets.map((d) => [d.name, {}])),
  mode: "auto"
}) as unknown as Policy

/**
 * Spawns the CLI: the child at once (to be stopped even while it starts), and `ready`, the first stdout line that
 * parses as JSON carrying `event` (rejected if the child exits before).
 */
const spawnCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, stderr: Array<string>) => {
  // The child is a process edge of its own and reads its environment there: it inherits this one (PATH, TMPDIR,
  // JOINTLY_LOG when no logLevel was given) with `env` over it, its passphrase always among `env`.
  const child = spawn(process.execPath, [cliPath(), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  const ready = new Promise<Record<string, unknown>>((resolvePromise, reject) => {
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.push(line)
      if (stderr.length > 500) stderr.shift()
    })
    const lines = createInterface({ input: child.stdout! })
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line)
        if (parsed && typeof parsed === "object" && "event" in parsed) resolvePromise(parsed)
      } catch {
        /* not ours */
      }
    })
    child.once("exit", (code) => reject(new Error(`jointly ${args[0]} exited with code ${code} before it was ready:\n${stderr.slice(-15).join("\n")}`)))
  })
  // A start called off stops the child before it is ready and no longer waits for it: not an unhandled rejection.
  ready.catch(() => {})
  return { child, ready }
}

/**
 * Ends a child process and waits for its exit, so that once `stop()` returns nothing of the cluster still writes
 * to its directories (a caller removes them next): SIGTERM (and SIGCONT, for one a test paused), then SIGKILL if
 * it is still there after `graceMs`. Tests that spawn a process of their own end it the same way.
 */
export const terminate = async (child: ChildProcess, graceMs = 10_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()))
  child.kill("SIGTERM")
  child.kill("SIGCONT")
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
  await exited
  clearTimeout(timer)
}

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

/** An embedded IPFS node on loopback with its blocks in `directory`, stopped once (later calls do nothing). */
const startIpfsNode = async (directory: string) => {
  const HeliaBlocks = await import("@jointly/backends/internal/ipfs/HeliaBlocks")
  const scope = Effect.runSync(Scope.make())
  const { blocks, node } = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ directory }), scope))
  let stopping: Promise<void> | undefined
  const stop = () => (stopping ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  return { blocks, node: { peerId: node.peerId, addresses: node.addresses } as IpfsNode, stop }
}

export const start = async (options: Options) => {
  const progress = options.onProgress ?? (() => {})
  // The processes it starts log at the level asked for, else at their inherited environment's.
  const logEnv = options.logLevel === undefined ? {} : { JOINTLY_LOG: options.logLevel }
  const dataDir = resolve(options.dataDir)
  options.signal?.throwIfAborted()
  // Everything the cluster starts is stopped by closing this scope, last started first. A part that finishes
  // starting after the scope closed (a call-off or a failure while it was in flight) is stopped at once.
  const scope = Effect.runSync(Scope.make())
  let stopping: Promise<void> | undefined
  const stopAll = () => (stopping ??= Effect.runPromise(Scope.close(scope, Exit.void)))
  /** Past a call-off (or a failure), the start goes no further. */
  const stillStarting = () => {
    if (stopping !== undefined) throw new Error("the local cluster was stopped while it started")
  }
  /** Registers how to stop what was just started; past a call-off it is stopped now. */
  const started = async (stop: () => Promise<unknown>) => {
    await Effect.runPromise(Scope.addFinalizer(scope, Effect.promise(() => stop().then(() => {}, () => {}))))
    stillStarting()
  }
  const callOff = () => void stopAll()
  options.signal?.addEventListener("abort", callOff, { once: true })
  const joins = options.joins
  try {
    const ownsChain = ["coordinatorProcess", "store", "instances", "participantsAt", "leaseMs", "chainRetryMaxMs", "socketLimits", "ipfs"] as const
    const misplaced = ownsChain.filter((option) => options[option] !== undefined)
    if (joins !== undefined && misplaced.length > 0) throw new Error(`a cluster that joins another starts no chain or coordinator: ${misplaced.join(", ")} do not apply`)
    await mkdir(dataDir, { recursive: true })
    // Joining: the chain, the operator's keys and the contracts are the joined cluster's, already there.
    const anvil: Anvil | undefined = joins === undefined ? await startAnvil({ dataDir }) : undefined
    if (anvil !== undefined) {
      await started(() => anvil.stop())
      progress(`chain: anvil on ${anvil.rpcUrl} (state in ${anvil.statePath})`)
    }
    const rpcUrl = anvil?.rpcUrl ?? joins!.rpcUrl
    const joined = joins === undefined ? undefined : await joinedConsortium(joins)
    const keys = joined?.keys ?? await Operator.load(dataDir)
    // One chain client for this process's views of every key (supervisor, in-process coordinator, admissions).
    const chain = await Consortium.connect(rpcUrl, { embedded: true })
    await started(() => chain.close())
    const { deployment, supervisorLedger } = joined === undefined
      ? await Consortium.deploy(dataDir, chain, keys.supervisor, keys.coordinator, true)
      : { deployment: joined.deployment, supervisorLedger: await Consortium.ledgerFor(chain, keys.supervisor, joined.deployment) }
    await started(() => supervisorLedger.close())
    if (joins === undefined) {
      progress(`contracts: registry ${deployment.registry}, task ledger ${deployment.ledger}`)
      const analystKey = { name: "local-analyst", wallet: keys.analyst, encryptionPublicKey: keys.analyst.signingKey.compressedPublicKey }
      await Consortium.admit(deployment, keys.supervisor, supervisorLedger, analystKey, true)
    }

    // Coordinator: in this process by default, or its own process (restartable by tests).
    const coordinatorDir = Operator.coordinatorDirOf(dataDir)
    await mkdir(coordinatorDir, { recursive: true })
    const instances = options.instances ?? 1
    if (instances > 1 && !(options.coordinatorProcess && options.store !== undefined && /^postgres(ql)?:\/\//.test(options.store))) {
      throw new Error("several coordinator instances need coordinatorProcess: true and a postgres:// store")
    }
    const store = options.store ?? join(coordinatorDir, "db")
    const coordinatorUrls: Array<string> = []
    const ports: Array<number | undefined> = []
    let coordinator: Coordinator.Internals | undefined
    const coordinatorProcesses: Array<ChildProcess | undefined> = []
    /** Each instance's stderr lines (the last 500). */
    const coordinatorStderrs: Array<Array<string>> = Array.from({ length: instances }, () => [])
    const coordinatorStderr = coordinatorStderrs[0]!
    /** The coordinator's IPFS node (instance 0's), and how to stop the in-process one. */
    let coordinatorIpfs: IpfsNode | undefined
    let stopCoordinatorIpfs: (() => Promise<void>) | undefined
    /**
     * Each coordinator process's IPFS listen addresses once it first started: a restarted process listens there
     * again, and its directory keeps its peer id, so the multiaddrs in the participants' configs still reach it.
     */
    const ipfsListens: Array<ReadonlyArray<string> | undefined> = []
    const startCoordinator = async (i: number) => {
      if (options.coordinatorProcess) {
        // The service's own path (`jointly coordinator --config`): the account from an encrypted keystore whose
        // passphrase, like the clinics', is generated and kept in the local data directory.
        const passphrase = await passphraseOf(coordinatorDir)
        const keystore = join(coordinatorDir, "keystore.json")
        await AccountKeystore.save(keystore, keys.coordinator.privateKey, passphrase, { scryptN: 1 << 14 }).catch((error) => {
          if (!(error instanceof AccountKeystore.AccountKeystoreError && error.reason === "Exists")) throw error
        })
        // With IPFS, its encryption key too (a reader of its tasks' checkpoints), in a second keystore.
        const encryptionKeystore = join(coordinatorDir, "encryption-keystore.json")
        if (options.ipfs) {
          await AccountKeystore.save(encryptionKeystore, keys.coordinatorEncryption.privateKey, passphrase, { scryptN: 1 << 14 }).catch((error) => {
            if (!(error instanceof AccountKeystore.AccountKeystoreError && error.reason === "Exists")) throw error
          })
        }
        const configFile = join(coordinatorDir, i === 0 ? "coordinator.json" : `coordinator-${i}.json`)
        await writeFile(configFile, JSON.stringify({
          host: "127.0.0.1",
          port: ports[i] ?? 0,
          store,
          // The embedded chain never reorganises: a record is final once mined.
          chain: { rpcUrl, deployment: deploymentPathOf(dataDir), confirmations: 1, ...(options.chainRetryMaxMs === undefined ? {} : { retryMaxMs: options.chainRetryMaxMs }) },
          keystore,
          ...(options.ipfs ? { encryptionKeystore } : {}),
          ...(options.leaseMs === undefined ? {} : { cluster: { leaseMs: options.leaseMs } }),
          ...(options.socketLimits === undefined ? {} : { socketLimits: options.socketLimits }),
          // A local store is small: collected at every release, so what a release frees is gone when the task moves on.
          ...(options.ipfs ? { ipfs: { directory: i === 0 ? "ipfs" : `ipfs-${i}`, gcIntervalMs: 0, ...(ipfsListens[i] === undefined ? {} : { listen: ipfsListens[i] }) } } : {})
        }, null, 2))
        const { child, ready: readyLine } = spawnCli(["coordinator", "--config", configFile], { ...logEnv, JOINTLY_COORDINATOR_KEY_PASSPHRASE: passphrase }, coordinatorStderrs[i]!)
        coordinatorProcesses[i] = child
        await started(() => terminate(child))
        const ready = await readyLine
        const ipfsNode = ipfsNodeOf(ready)
        // The addresses it reported, without the /p2p/<id> suffix a listen address does not take.
        if (ipfsNode !== undefined) ipfsListens[i] ??= ipfsNode.addresses.map((a) => a.replace(/\/p2p\/[^/]+$/, ""))
        if (i === 0) coordinatorIpfs = ipfsNode
        return String(ready.url)
      }
      const ipfs = options.ipfs ? await startIpfsNode(Operator.coordinatorIpfsDirOf(dataDir)) : undefined
      if (ipfs !== undefined) {
        coordinatorIpfs = ipfs.node
        stopCoordinatorIpfs = ipfs.stop
        await started(ipfs.stop)
      }
      const ledger = await Consortium.ledgerFor(chain, keys.coordinator, deployment)
      const governance = await Consortium.governanceFor(chain, keys.coordinator, deployment)
      const encryptionPublicKey = ipfs === undefined
        ? undefined
        : await EncryptionKey.publishFor(chain, keys.coordinator.privateKey, governance?.addresses.didRegistry, getBytes(keys.coordinatorEncryption.privateKey))
      coordinator = await Coordinator.start({
        store,
        ledger,
        governance,
        startTimeoutMs: options.startTimeoutMs,
        ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
        ...(ipfs === undefined ? {} : { artifactBlocks: ipfs.blocks, checkpointGcIntervalMs: 0 }),
        ...(encryptionPublicKey === undefined ? {} : { encryptionPublicKey }),
        ...(options.chainRetryMaxMs === undefined ? {} : { chainRetryMaxMs: options.chainRetryMaxMs })
      })
      const running = coordinator
      await started(async () => {
        await running.close()
        await governance?.close()
        await ledger.close()
      })
      return coordinator.url
    }
    if (joins !== undefined) coordinatorUrls[0] = joins.coordinatorUrl
    else {
      for (let i = 0; i < instances; i++) {
        coordinatorUrls[i] = await startCoordinator(i)
        ports[i] = Number(new URL(coordinatorUrls[i]!).port)
        progress(`coordinator${instances > 1 ? ` instance ${i}` : ""}: ${coordinatorUrls[i]}`)
      }
    }

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
        coordinatorUrl: coordinatorUrls[options.participantsAt ?? 0]!,
        // The other instances, for the participant to fail over to.
        ...(instances > 1 ? { failoverUrls: coordinatorUrls.filter((_, i) => i !== (options.participantsAt ?? 0)) } : {}),
        dataDir: dir,
        datasets: party.datasets.map((d) => ("file" in d ? { ...d, file: resolve(d.file) } : d)),
        policy: party.policy ?? defaultPolicy(party.datasets, keys.analyst.address),
        ...(Consortium.chainConfig(rpcUrl, deployment) === undefined ? {} : { chain: Consortium.chainConfig(rpcUrl, deployment) }),
        ...(party.catalog === undefined ? {} : { catalog: party.catalog }),
        // Its own node, dialling the coordinator's on loopback; blocks kept beside its keystore.
        ...(coordinatorIpfs === undefined ? {} : { ipfs: { peers: coordinatorIpfs.addresses.filter((a) => a.startsWith("/ip4/127.0.0.1/")), directory: "artifacts-ipfs" } })
      }
      const configFile = join(dir, "participant.json")
      await writeFile(configFile, JSON.stringify(config, null, 2))
      parties.push({ name: party.name, address: identity.address, encryptionPublicKey: identity.encryptionPublicKey, dataDir: dir, unsafeTestKeySizes: party.unsafeTestKeySizes === true, external: party.external === true, process: undefined as never, stderr: [] })
    }
    /** Starts (or restarts) a party's process; `env` adds variables, e.g. a test hook. */
    const launch = async (party: Party, env: NodeJS.ProcessEnv = {}) => {
      const passphrase = await passphraseOf(party.dataDir)
      const flags = party.unsafeTestKeySizes ? ["--unsafe-test-key-sizes"] : []
      const { child, ready } = spawnCli(["participant", "--config", join(party.dataDir, "participant.json"), ...flags], { ...logEnv, ...env, JOINTLY_KEY_PASSPHRASE: passphrase }, party.stderr)
      party.process = child
      await started(() => terminate(child))
      party.ipfs = ipfsNodeOf(await ready)
    }
    await Promise.all(parties.filter((party) => !party.external).map((party) => launch(party)))
    progress(`participants: ${parties.map((p) => `${p.name} (${p.address})`).join(", ")}`)
    stillStarting()
    options.signal?.removeEventListener("abort", callOff)

    // The typed client, signed in as an account of this cluster, at one coordinator instance (a restarted
    // coordinator keeps its port, so its URL too).
    const clients = new Map<string, Client.Client>()
    const clientFor = (wallet: Pick<Wallet, "address" | "getAddress" | "signMessage">, instance = 0) => {
      const url = coordinatorUrls[instance]!
      const key = `${wallet.address}@${url}`
      let client = clients.get(key)
      if (client === undefined) clients.set(key, (client = Client.make({ url, initiator: wallet })))
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
    const analyst = (instance = 0) => clientFor(keys.analyst, instance)

    /** Signs and submits a task as the local analyst (to coordinator `instance`); returns its id. */
    const submit = async (draft: Omit<TaskSpec, "initiator" | "nonce"> & { nonce?: string }, instance = 0) =>
      (await analyst(instance).submit(draft as Client.TaskDraft)).taskId

    /** The task as the analyst sees it (at coordinator `instance`): its metadata and, once it succeeded, its result. */
    const task = async (id: string, instance = 0): Promise<TaskDetail> => {
      const detail = await analyst(instance).get(id)
      const outcome = detail.status === "Succeeded" ? await analyst(instance).result(id) : undefined
      return { ...detail, result: outcome?.result ?? null }
    }

    /**
     * Waits until the task is final and every chain record of it is final or parked (or the timeout passes),
     * following the coordinator's event stream (`Client.watch`) instead of polling.
     */
    const waitForTask = async (id: string, opts: { timeoutMs?: number; onStatus?: (status: Status) => void; instance?: number } = {}): Promise<TaskDetail> =>
      analyst(opts.instance).watch(id, { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.onStatus === undefined ? {} : { onStatus: opts.onStatus }) })

    /** A party by name; an error naming it when the cluster has none. */
    const party = (name: string): Party => {
      const found = parties.find((p) => p.name === name)
      if (found === undefined) throw new Error(`no party ${name} in this cluster (${parties.map((p) => p.name).join(", ")})`)
      return found
    }

    /** What a party's participant wrote for a task whose result it received (`<dataDir>/outputs/<task>.json`). */
    const outputOf = async (name: string, taskId: string): Promise<unknown> =>
      JSON.parse(await readFile(QueryServices.outputFile(party(name).dataDir, taskId), "utf8"))

    /**
     * Submits `kind` over the named parties' `dataset` and waits for it: the id and detail of a task that
     * succeeded, or an error naming the status and reason it ended with.
     */
    const runTask = async (kind: string, run: { readonly parties: ReadonlyArray<string>; readonly dataset: string; readonly params: Record<string, unknown>; readonly timeoutMs?: number }) => {
      const id = await submit({ kind, parties: run.parties.map((name) => ({ participant: party(name).address, dataset: run.dataset })) as never, params: run.params })
      const detail = await waitForTask(id, run.timeoutMs === undefined ? {} : { timeoutMs: run.timeoutMs })
      if (detail.status !== "Succeeded") throw new Error(`${kind} task ${id} ended ${detail.status}: ${detail.reason ?? "no reason given"}`)
      return { id, detail }
    }

    return {
      dataDir,
      rpcUrl,
      /** The chain this cluster started; undefined for one that joined another's. */
      anvil,
      /** This cluster's chain and coordinator as another cluster joins them (`Options.joins`). */
      shared: (): Shared => joins ?? { dataDir, rpcUrl, coordinatorUrl: coordinatorUrls[0]! },
      deployment,
      supervisorLedger,
      keys,
      parties,
      get coordinatorUrl() {
        return coordinatorUrls[0]!
      },
      /** Every coordinator instance's URL, by index. */
      coordinatorUrls: coordinatorUrls as ReadonlyArray<string>,
      coordinator: () => coordinator,
      coordinatorStderr,
      coordinatorStderrs: coordinatorStderrs as ReadonlyArray<ReadonlyArray<string>>,
      /** Each coordinator process's pid (undefined in this process or once it exited). */
      coordinatorPids: () => coordinatorProcesses.map((child) => (child?.exitCode === null && child.signalCode === null ? child.pid : undefined)),
      submit,
      task,
      waitForTask,
      runTask,
      party,
      outputOf,
      /** The analyst's typed client (`clientFor(wallet)` for any other account of the cluster). */
      get client() {
        return analyst()
      },
      clientFor,
      walletOf,
      launch,
      /** The IPFS nodes (the `ipfs` option): the coordinator's, and a way to stop it when it runs in this process. */
      ipfs: {
        coordinator: () => coordinatorIpfs,
        stopCoordinatorNode: async () => {
          if (stopCoordinatorIpfs === undefined) throw new Error("stopCoordinatorNode needs the ipfs option and the coordinator in this process")
          await stopCoordinatorIpfs()
        }
      },
      /** Signals coordinator process `instance` (SIGKILL: no goodbye; SIGSTOP: a pause) and, for a kill, waits for its exit. */
      signalCoordinator: async (signal: NodeJS.Signals, instance = 0) => {
        const child = coordinatorProcesses[instance]
        if (!child) throw new Error("signalCoordinator needs coordinatorProcess: true")
        const exited = signal === "SIGSTOP" || signal === "SIGCONT" ? undefined : new Promise((r) => child.once("exit", r))
        child.kill(signal)
        await exited
      },
      /** Kills coordinator process `instance` (SIGKILL: no goodbye) and starts a new one on the same port and store (a new instance id). */
      restartCoordinator: async (signal: NodeJS.Signals = "SIGKILL", instance = 0) => {
        const old = coordinatorProcesses[instance]
        if (!old) throw new Error("restartCoordinator needs coordinatorProcess: true")
        // One already gone (killed before) is simply started again.
        if (old.exitCode === null && old.signalCode === null) {
          const exited = new Promise((r) => old.once("exit", r))
          old.kill(signal)
          await exited
        }
        coordinatorUrls[instance] = await startCoordinator(instance)
      },
      stop: stopAll
    }
  } catch (error) {
    options.signal?.removeEventListener("abort", callOff)
    await stopAll()
    throw options.signal?.aborted ? new Error("the local cluster's start was called off; what it had started is stopped", { cause: options.signal.reason }) : error
  }
}

export type LocalCluster = Awaited<ReturnType<typeof start>>

/**
 * The deployment and operator keys of a cluster being joined, from its data directory: the deployment first, so
 * a directory that is not a started cluster's is refused before `Operator.load` would make keys in it.
 */
const joinedConsortium = async (joins: Shared) => {
  const deployment = await loadDeployment(joins.dataDir)
  if (deployment === undefined) throw new Error(`no deployment in ${joins.dataDir}: it is not the data directory of a started cluster`)
  return { deployment, keys: await Operator.load(joins.dataDir) }
}

/**
 * A start that one call ends whatever point it reached, for a test's `beforeAll`/`afterAll`: vitest times out a
 * `beforeAll` without cancelling it, so the start goes on while `afterAll` runs with no cluster to stop. `stop()`
 * calls off a start still under way (everything it started is stopped before it settles) and stops a started
 * cluster; before any start it does nothing.
 */
export const starter = () => {
  const call = new AbortController()
  let starting: Promise<LocalCluster> | undefined
  return {
    start: (options: Omit<Options, "signal">): Promise<LocalCluster> => {
      if (starting !== undefined) throw new Error("a LocalCluster starter starts one cluster")
      return (starting = start({ ...options, signal: call.signal }))
    },
    stop: async (): Promise<void> => {
      if (starting === undefined) return
      call.abort()
      // A start that failed or was called off has stopped what it started; a finished one is stopped here.
      const cluster = await starting.catch(() => undefined)
      await cluster?.stop()
    }
  }
}

/** A task as the analyst sees it: metadata, events, consents, chain records, and its result once it succeeded. */
export type TaskDetail = Client.TaskOutcome
