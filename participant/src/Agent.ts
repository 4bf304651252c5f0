/**
 * The participant agent on Node: what a bank, hospital or shop embeds next to its data. Its session with the
 * coordinator (identity, signed consent from its local policy, stage relay, dashboard decisions) is
 * AgentSession.ts, shared with the browser participant; this module gives it Node's parts — the datasets opened
 * from files and databases, the runner in a protocol worker thread (or inline), and the Endpoint that trusts a
 * configured CA. Raw rows and keys never leave it.
 *
 * Two facades over one implementation: `start` (Promise) for embedders without Effect, `scoped` (Effect,
 * closed with its Scope) for those with it.
 *
 * The agent's own thread keeps the socket, the consent policy and the keystore; the datasets and every stage
 * run in its protocol worker thread (DESIGN.md §6), unless `compute: "inline"` runs them here too.
 */
import { Effect, Exit, Schema, Scope } from "effect"
import type { HeliaOptions } from "@jointly/backends/internal/ipfs/HeliaBlocks"
import type { BaseWallet } from "ethers"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import type { Choice } from "@jointly/backends/internal/Backends"
import type { DatasetSpec } from "./datasets/Dataset.ts"
import * as AgentSession from "./AgentSession.ts"
import * as Pinner from "./ipfs/Pinner.ts"
import * as OwedPins from "./ipfs/OwedPins.ts"
import type { AgentEvent, ConsentPolicy } from "./AgentSession.ts"
import * as ProtocolHost from "./host/ProtocolHost.ts"
import type * as KeyPolicy from "./policy/KeyPolicy.ts"
import * as ProtocolWorker from "./worker/ProtocolWorker.ts"

export { AdmissionRefused, type Agent, type AgentEvent, type ConsentDecision, type ConsentPolicy, type ConsentQuestion, type HumanChannel } from "./AgentSession.ts"
export { PinFailed, type PinEvent, type PinRetry, type PinState, type PinStatus } from "./ipfs/Pinner.ts"

export interface AgentConfig {
  /** `https://…`; plain `http://` only to a loopback address unless `trust.allowInsecure` (InsecureEndpoint). */
  readonly coordinatorUrl: string
  /**
   * Other instances of the same coordinator (several over one PostgreSQL store), under the same `trust`: when the
   * connection fails the agent moves to the next instance in turn, with backoff (`AgentSession.reconnection`), signs
   * in there and is offered its running tasks again.
   */
  readonly failoverUrls?: ReadonlyArray<string>
  /**
   * How the coordinator's certificate is checked: Node's default CA store, or `ca` (PEM text), e.g. the
   * consortium's own CA. A certificate that does not verify rejects `connected` with UntrustedCertificate.
   */
  readonly trust?: Endpoint.Trust
  /** The org's chain account (from the keystore). */
  readonly wallet: BaseWallet
  /** A login key published in the org's DID that signs the coordinator's Login instead of `wallet` (SessionConfig). */
  readonly loginKey?: BaseWallet
  /** A consent key published in the org's DID that signs its task consents instead of `wallet` (SessionConfig). */
  readonly consentKey?: BaseWallet
  /**
   * Datasets to serve, each with a declared schema: a CSV file (`{ name, file, columns }`), Parquet files
   * (`format: "parquet"`) or a PostgreSQL table or query (`postgres: { connection, table | query }`); all are
   * opened and every value checked at start.
   */
  readonly datasets: ReadonlyArray<DatasetSpec>
  readonly policy: ConsentPolicy
  /**
   * Where datasets load and stages run: "worker" (default) in a dedicated worker thread, so the socket is never
   * starved; "inline" on the agent's own thread (for browsers without workers, and for debugging).
   */
  readonly compute?: "worker" | "inline"
  /** Where the agent keeps what tasks leave it (query outputs, predictions, owned and partial models). */
  readonly dataDir?: string
  /** The backend of each kernel family; the fastest this Node offers by default (`@jointly/backends`). */
  readonly backends?: Choice
  /**
   * The secret a human types into the coordinator's dashboard to decide this participant's "ask" consents.
   * Without it, `HumanChannel.ask` rejects at once (and an "ask" policy therefore rejects the task).
   */
  readonly dashboardToken?: string
  /**
   * Smallest keys this participant accepts, above the defaults (Paillier 2048 bits, CKKS 128-bit security):
   * every offer below them is rejected, with the size named, before `policy` is asked.
   */
  readonly keys?: KeyPolicy.KeyRule
  /** The test harness's switch for keys below production sizes (never a task param): tests only. */
  readonly unsafeTestKeySizes?: boolean
  /**
   * Tests only: extra protocol modules (URLs or file paths exporting `protocols`) the protocol worker runs besides
   * the declared kinds, e.g. one whose stage kills the worker thread. Ignored with `compute: "inline"`.
   */
  readonly testProtocolModules?: ReadonlyArray<string | URL>
  /**
   * An embedded IPFS node for this participant (`@jointly/backends/internal/ipfs/HeliaBlocks`): the sealed result
   * and model each ended task names are pinned there (event `pinned`), so they outlive the coordinator's node.
   * `peers` should name the coordinator's node (and other parties'), which the blocks are fetched from.
   */
  readonly ipfs?: HeliaOptions
  /** How a pin that finds no node with the block is retried (Pinner.ts; default from 1 s, doubling to 60 s, 12 tries). */
  readonly pinRetry?: Pinner.PinRetry
}

/** The Node agent: the session, and its IPFS node when it runs one. */
export interface NodeAgent extends AgentSession.Agent {
  /**
   * This participant's IPFS node (peer id, listen addresses) when `ipfs` was configured, and `pins()`: each
   * artifact it was told to keep, pinning, pinned or failed (with the last error).
   */
  readonly ipfs?: { readonly peerId: string; readonly addresses: ReadonlyArray<string>; readonly pins: () => ReadonlyArray<Pinner.PinStatus> }
}

/** Protocols read datasets through this view (kept here for embedders and benches that import it from the agent). */
export const tabular = ProtocolHost.tabular

/**
 * Starts the agent's IPFS node (closed with `close`) and pins every artifact an ended task names (Pinner.ts:
 * retried with a bounded exponential Schedule, each failed try an event, a pin given up a `pinned` event with
 * `ok: false` and its `PinFailed`, never thrown; `pins()` lists them all). A node with a directory keeps the pins
 * still owed there (OwedPins.ts) and starts them again here: a restart does not forget them.
 */
const startIpfs = async (options: HeliaOptions, retry: Pinner.PinRetry | undefined, emitEvent: (event: AgentEvent) => void) => {
  const HeliaBlocks = await import("@jointly/backends/internal/ipfs/HeliaBlocks")
  const scope = Effect.runSync(Scope.make())
  const { blocks, node } = await Effect.runPromise(Scope.provide(HeliaBlocks.make(options), scope)).catch(async (error) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  })
  // A peer that went away (the coordinator's node restarted) is dialled again before each try.
  const redial = Effect.forEach(options.peers ?? [], (peer) => Effect.ignore(node.dial(peer)), { discard: true })
  // A node that keeps its blocks on disk keeps the pins it still owes there too, and tries them again at start.
  const owed = options.directory === undefined
    ? undefined
    : await Effect.runPromise(OwedPins.open(OwedPins.fileIn(options.directory))).catch(async (error) => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      throw error
    })
  const pinner = Pinner.make({ blocks, beforeTry: redial, ...(retry === undefined ? {} : { retry }), emit: emitEvent, ...(owed === undefined ? {} : { owed }) })
  Effect.runFork(Effect.forkIn(pinner.resume(), scope))
  // Each pin runs in the scope's lifetime: closing the agent interrupts pins still waiting to retry.
  const pinAll = (event: AgentEvent) => {
    if (event.type !== "ended" || event.artifacts === undefined) return
    for (const artifact of event.artifacts) Effect.runFork(Effect.forkIn(pinner.pin(event.taskId, artifact), scope))
  }
  return {
    info: { peerId: node.peerId, addresses: node.addresses, pins: pinner.status },
    pinAll,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const start = async (config: AgentConfig): Promise<NodeAgent> => {
  // Checked before anything loads: a participant never sends a handshake over plain http to another host.
  const endpoint = Endpoint.make(config.coordinatorUrl, config.trust)
  const failover = (config.failoverUrls ?? []).map((url) => Endpoint.make(url, config.trust))
  const wallet = config.wallet
  const listeners = new Set<(event: AgentEvent) => void>()
  const emitEvent = (event: AgentEvent) => {
    for (const listener of listeners) listener(event)
  }
  // A bad dataset stops the agent here with its DatasetError, naming the source, line or row and column, before it connects.
  const runner: ProtocolHost.Runner =
    config.compute === "inline"
      ? await ProtocolHost.inline({ wallet, datasets: config.datasets, dataDir: config.dataDir, backends: config.backends, unsafeTestKeySizes: config.unsafeTestKeySizes })
      : await ProtocolWorker.start({
          wallet,
          datasets: config.datasets,
          dataDir: config.dataDir,
          backends: config.backends,
          unsafeTestKeySizes: config.unsafeTestKeySizes,
          modules: config.testProtocolModules,
          onCrash: ({ detail, lostTasks }) => emitEvent({ type: "worker-crashed", detail, lostTasks })
        })
  const ipfs = config.ipfs === undefined ? undefined : await startIpfs(config.ipfs, config.pinRetry, emitEvent).catch(async (error) => {
    await runner.close()
    throw error
  })
  if (ipfs !== undefined) listeners.add(ipfs.pinAll)
  const agent = AgentSession.connect(config, { endpoint, failover, runner, listeners })
  if (ipfs === undefined) return agent
  return {
    ...agent,
    ipfs: ipfs.info,
    close: async () => {
      await agent.close()
      await ipfs.close()
    }
  }
}

/** The agent did not start: its data directory, key store, IPFS node or coordinator connection failed (`detail`). */
export class AgentStartFailed extends Schema.TaggedError<AgentStartFailed>()("AgentStartFailed", { detail: Schema.String }) {
  override get message() {
    return `the participant agent did not start: ${this.detail}`
  }
}

/** The agent as a scoped Effect resource; a start that fails is AgentStartFailed, a close that fails is reported. */
export const scoped = (config: AgentConfig): Effect.Effect<NodeAgent, AgentStartFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => start(config), catch: (error) => new AgentStartFailed({ detail: error instanceof Error ? error.message : String(error) }) }),
    (agent) => Effect.tryPromise(() => agent.close()).pipe(Effect.catch((error) => Effect.logWarning("the participant agent did not close cleanly", error.cause)))
  )
