/**
 * The coordinator process in one place: HTTP API and socket.io hub on one port, the task store, the scheduler
 * and the chain notary. `start` resumes every unfinished task found in the store, so a restarted coordinator
 * picks up where the old one stopped.
 *
 * Over a PostgreSQL store several instances run side by side (coordinator/src/cluster/): each owns the tasks it
 * accepted, under a lease with a fencing token; the socket.io Postgres adapter spans their hubs, so a participant
 * may connect to any of them; messages for a task another instance owns are forwarded to it; one instance at a
 * time drains the chain outbox and follows the chain index; the dashboard's live feed and the API work from any.
 */
import { randomBytes } from "node:crypto"
import { Cause, Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as RoundEngine from "@jointly/core/internal/runtime/RoundEngine"
import { isFinal } from "@jointly/core/internal/task/Lifecycle"
import { getAddress, verifyTypedData } from "ethers"
import { catchUpProbability } from "@jointly/core/internal/ledger/CatchUp"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import { fromClient, type LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import { roles as contractRoles, type GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import * as ArtifactStore from "./artifacts/ArtifactStore.ts"
import * as SealedArtifacts from "./artifacts/SealedArtifacts.ts"
import * as CheckpointChain from "./artifacts/CheckpointChain.ts"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import * as ChainIndex from "./governance/ChainIndex.ts"
import * as Auth from "./auth/Auth.ts"
import * as Nonces from "./auth/Nonces.ts"
import * as AdapterPool from "./cluster/AdapterPool.ts"
import * as Bridge from "./cluster/Bridge.ts"
import * as EndedClients from "./cluster/EndedClients.ts"
import * as Cluster from "./cluster/Cluster.ts"
import * as ConsentKeys from "./audit/ConsentKeys.ts"
import * as ClientCertificates from "./auth/ClientCertificates.ts"
import * as Dashboard from "./dashboard/Dashboard.ts"
import * as HumanConsents from "./dashboard/HumanConsents.ts"
import * as Live from "./dashboard/Live.ts"
import * as Policy from "./http/Policy.ts"
import * as Roles from "./http/Roles.ts"
import * as HttpServer from "./http/Server.ts"
import * as Sessions from "./http/Sessions.ts"
import * as Rejections from "./limits/Rejections.ts"
import * as Log from "./Log.ts"
import * as ModelStore from "./models/ModelStore.ts"
import * as ClientAddress from "./net/ClientAddress.ts"
import * as Listener from "./net/Listener.ts"
import * as Notary from "./notary/Notary.ts"
import * as Scheduler from "./scheduler/Scheduler.ts"
import * as Sql from "./store/Sql.ts"
import * as TaskStore from "./store/TaskStore.ts"
import * as TaskRouting from "./cluster/TaskRouting.ts"
import * as Hub from "./transport/Hub.ts"
import * as AckTimeout from "./transport/AckTimeout.ts"
import type { SocketLimits } from "./transport/SocketLimits.ts"
import * as SocketChannel from "./transport/SocketChannel.ts"
import * as Registry from "@jointly/core/internal/ledger/generated/ConsortiumRegistry"
import * as TaskLedger from "@jointly/core/internal/ledger/generated/TaskLedger"
import type { ChainInfo, LiveEvent } from "@jointly/core/internal/api/Schemas"
import type { StageReply, TaskConsent } from "@jointly/core/internal/wire/Messages"
import { WireRefusal } from "@jointly/core/internal/wire/Messages"
import type { LeaseToken } from "./store/TaskStore.ts"
import { LeaseLost } from "./store/TaskStore.ts"
import type { OutboxStore } from "./notary/Notary.ts"

export interface Config {
  /** PGlite data directory, or a postgres:// URL. */
  readonly store: string
  /** A ledger client signing with the coordinator's account (registered as coordinator in the TaskLedger). */
  readonly ledger: LedgerClient
  /** The governance contracts, read through the coordinator's account; absent on an old deployment. */
  readonly governance?: GovernanceLedger
  /**
   * An IPFS node (embedded Helia or Kubo, `@jointly/backends/internal/ipfs`): members' sealed uploads are pinned
   * there, and each task's result and model as a copy sealed to their readers (artifacts/SealedArtifacts.ts).
   */
  readonly artifactBlocks?: ArtifactBlocksShape
  /**
   * How many checkpoint bodies of a task the IPFS node keeps pinned (default 2): older ones are unpinned once a
   * later one is saved; every checkpoint's link stays (artifacts/CheckpointChain.ts).
   */
  readonly checkpointsKept?: number
  /**
   * The least time between two garbage collections of that node, in ms (default 60 000; 0 collects at every
   * release): a collection walks the whole store, so one per superseded checkpoint would cost most of a core.
   */
  readonly checkpointGcIntervalMs?: number
  /**
   * The public half of the coordinator's encryption key (keys/EncryptionKey.ts; its secret stays in the operator's
   * keystore), published as the newest key of its account's DID before the start: the coordinator is then a reader
   * of the checkpoints of the tasks it runs, found by the same DID lookup as any reader.
   */
  readonly encryptionPublicKey?: string
  readonly host?: string
  /** 0 picks a free port. */
  readonly port?: number
  /** The backend of each kernel family; the fastest this Node offers by default. */
  readonly backends?: Backends.Choice
  /** Certificate and key (PEM text): the API, the dashboard, its SSE and the participants' sockets over HTTPS/WSS. */
  readonly tls?: Listener.TlsMaterial
  /**
   * Admit participants only over a TLS client certificate whose key their org's DID names (auth/ClientCertificates.ts).
   * Needs `tls` and the deployment's DID registry (`governance`).
   */
  readonly clientCertificates?: boolean
  /** The URL members reach this coordinator at (a DNS name, a proxy; sign-in messages name its host); default the listening address. */
  readonly publicUrl?: string
  /** Reverse proxies (addresses or CIDR subnets) whose X-Forwarded-For names the client; no one else's is read. */
  readonly trustProxy?: ReadonlyArray<string>
  /** The participants' socket limits; default SocketLimits.defaults. */
  readonly socketLimits?: SocketLimits
  /**
   * How long a stage request's acknowledgement is waited for before it is sent again: a base plus the request's
   * encoded size at an assumed least throughput, capped (transport/AckTimeout.ts: each absent field keeps its
   * default, 5 s + size / 256 KiB/s, at most 75 s). Decoded at start: a bad value stops it with AckTimeoutInvalid.
   */
  readonly ackTimeout?: AckTimeout.SettingsInput
  readonly startTimeoutMs?: number
  /** How often tasks awaiting consents are offered again to the parties that have not answered (default 5 s). */
  readonly reofferMs?: number
  /** HMAC key for bearer tokens (≥ 32 bytes); default drawn at start, so a restart signs everyone out. */
  readonly authSecret?: Uint8Array
  /** Bearer token lifetime (default 15 minutes). */
  readonly tokenTtlMs?: number
  /** The HTTP abuse limits (http/Server.ts defaults). */
  readonly limits?: HttpServer.Limits
  /**
   * Several instances over one PostgreSQL store: the lease period (default 10 s; a dead instance's tasks are taken
   * over within two) and this instance's id (default: host, pid, random). Ignored over an embedded store.
   */
  readonly cluster?: { readonly leaseMs?: number; readonly instance?: string }
  /** The longest wait between the notary's tries while the chain node does not answer (default 10 s). */
  readonly chainRetryMaxMs?: number
  /** The log level of every part (default warn); the command line passes JOINTLY_LOG's. */
  readonly logLevel?: Log.Level
}

/**
 * A running coordinator as its operator and an embedder see it: where it listens, which chain and contracts it
 * notarizes on, certificate rotation and shutdown. Its parts (store, scheduler, socket hub, notary…) are not public.
 */
export interface Coordinator {
  /** The URL members reach it at: `publicUrl` when configured, else the listening address. */
  readonly url: string
  /** The port it listens on (the one picked when `port` was 0). */
  readonly port: number
  /** This instance's id among several over one PostgreSQL store. */
  readonly instance: string
  /** The chain, contracts and finality setting it notarizes with (what `GET /api/health` reports). */
  readonly chain: typeof ChainInfo.Type
  /** Serves a new certificate and key to every connection made from now on (certificate rotation). */
  readonly reloadTls: (tls: Listener.TlsMaterial) => void
  /** Stops taking requests, stops its tasks' runs on this instance (another instance or a restart resumes them) and closes the store. */
  readonly close: () => Promise<void>
}

/** The coordinator with its parts, for this repository's CLI, local cluster and tests (`@jointly/coordinator/internal/Coordinator`). */
export interface Internals extends Coordinator {
  readonly store: TaskStore.TaskStoreShape
  readonly models: ModelStore.ModelStore
  readonly artifacts: ArtifactStore.ArtifactStore
  readonly index: ChainIndex.ChainIndex | undefined
  readonly scheduler: Scheduler.SchedulerShape
  readonly notary: Notary.NotaryShape
  readonly hub: Hub.HubShape
  readonly rejections: Rejections.Rejections
  readonly roles: Roles.RoleReader
  readonly clientAddress: ClientAddress.ClientAddress
  readonly cluster: Cluster.Cluster
}

/** How long a suspension seen on chain waits for the chain to answer for the org's current state before acting unconfirmed. */
const suspensionCheckMs = 30_000

/** The bearer-token and nonce secret every instance of a cluster shares: configured, else agreed on in the store. */
const sharedSecret = async (sql: Sql.Sql): Promise<Uint8Array> => {
  await sql.query(`insert into cluster_secrets(name, value) values ('auth', $1) on conflict do nothing`, [randomBytes(32)])
  const [row] = await sql.query<{ value: Uint8Array }>(`select value from cluster_secrets where name = 'auth'`)
  return new Uint8Array(row!.value)
}

export const start = async (config: Config): Promise<Internals> => {
  // Refused before anything is opened: a bad setting, and over PostgreSQL (several instances share a socket.io
  // adapter whose insides AdapterPool.ts relies on) an adapter release that module does not know.
  const ackTimeout = AckTimeout.resolve(config.ackTimeout)
  if (Sql.isPostgres(config.store)) AdapterPool.check(AdapterPool.installedVersion())
  // Checked before anything is opened: nothing to close on the way out.
  if (config.clientCertificates === true && (config.tls === undefined || config.governance?.addresses.didRegistry === undefined)) {
    throw new ClientCertificates.ClientCertificatesUnavailable({
      detail: config.tls === undefined ? "the coordinator listens without TLS (configure tls)" : "the deployment has no DID registry to name the certificates' keys"
    })
  }
  const logOf = (component: string) => Log.make(component, config.logLevel)
  const log = logOf("coordinator")
  const ledger = config.ledger
  const domain = await ledger.domain()
  const addresses = await ledger.addresses()
  const coordinator = getAddress(ledger.account)

  const instance = config.cluster?.instance ?? Cluster.newInstanceId()
  // Each pool's connections name their role and instance (`pg_stat_activity.application_name`).
  const sql = await Sql.open(config.store, `jointly store ${instance}`)
  const base = await Effect.runPromise(TaskStore.make(sql))
  // An embedded store is one process's alone; a PostgreSQL store may be shared by several instances.
  const clustered = sql.engine === "postgres"
  const secret = config.authSecret ?? (clustered ? await sharedSecret(sql) : randomBytes(32))
  const spent = clustered ? Nonces.inStore(sql) : Nonces.inMemory()
  // The official Postgres adapter spans the instances' socket.io servers: its own small pool, one LISTEN client.
  // A client whose connection ended while the adapter held it (its LISTEN client) is taken back (EndedClients.ts).
  const adapterPool = clustered
    ? EndedClients.releasedOnEnd(new (await import("pg")).default.Pool({ connectionString: config.store, max: 4, application_name: Sql.applicationName(`jointly adapter ${instance}`) }))
    : undefined
  adapterPool?.on("error", () => {})
  // The adapter keeps its LISTEN client checked out, where the pool's idle listener is off: without one of ours, a
  // database restart's error event on it would stop the process. The adapter reconnects on the client's "end".
  adapterPool?.on("connect", (client) => client.on("error", (error) => log.warn("socket.io adapter connection", { error: String(error) })))
  // Told each time the adapter's LISTEN client listens again after its first time (at start, before anything was
  // sent): set below, once the bridge and the cluster exist.
  let listens = 0
  let adapterListeningAgain = () => {}
  const adapter = adapterPool === undefined
    ? undefined
    : await AdapterPool.make(adapterPool, {
      channelPrefix: "socket.io",
      namespace: Hub.namespace,
      errorHandler: (error) => log.warn("socket.io adapter", { error: String(error) }),
      listening: () => {
        if (++listens > 1) adapterListeningAgain()
      }
    })
  let cluster: Cluster.Cluster | undefined
  // The leases are kept over a connection of their own: behind the store's busy pool (a hundred tasks' queries)
  // a renewal waited past the lease, and an instance at work was taken for dead — its tasks claimed away
  // mid-round, its participants' presence dropped by the others.
  const leaseSql = clustered ? await Sql.openPostgres(config.store, 1, `jointly leases ${instance}`) : undefined
  // The compute backends, composed once (`@jointly/backends/node`): CKKS sums for federated learning's "ckks"
  // aggregation, the key agreement and PRG of secure aggregation's dropout recovery, the tfjs runtime of online
  // predictions (loaded on the first prediction of a tfjs-layers model only).
  const backends = await Backends.build(NodeBackends.layer(config.backends))
  const runtime = Context.get(backends.context, ModelRuntime)
  const models = ModelStore.make(sql, { runtime: async () => runtime })

  const registry = Auth.registryOf(async (account) => {
    const membership = await ledger.companyOf(account)
    if (membership.companyId === undefined) return { state: "None", name: "", pending: membership.pendingJoin !== undefined }
    const company = await ledger.getCompany(membership.companyId)
    return { state: membership.state as Auth.OrgState, name: company?.name ?? membership.companyId }
  })
  // Login keys published in the members' did:ethr documents, when the deployment has the DID registry.
  const didRegistry = config.governance?.addresses.didRegistry
  const dids = didRegistry === undefined || config.governance === undefined
    ? undefined
    : DidIdentity.makeResolver({ chainId: domain.chainId, registry: didRegistry, provider: config.governance.provider })
  // With client certificates bound to DIDs: the keys an org's DID names now, checked at the socket handshake and at sign-in.
  const didKeys = dids === undefined ? undefined : Auth.didKeysOf(dids.resolve)
  const tlsClientKeys = config.clientCertificates === true && didKeys !== undefined
    ? (account: string) => Effect.map(didKeys(account), (keys) => keys.tlsClientKeys)
    : undefined
  // Login keys: the addresses an org's DID names to sign its socket Login and its HTTP sign-in besides the account.
  const loginSigners = didKeys === undefined ? undefined : (account: string) => Effect.map(didKeys(account), (keys) => keys.loginSigners)
  const auth = Auth.make(registry, {
    recover: (login, signature) =>
      verifyTypedData(domain, Eip712.loginTypes, { ...login, coordinator, issuedAt: BigInt(login.issuedAt) }, signature)
  }, {
    secret,
    spent,
    ...(loginSigners === undefined ? {} : { loginSigners }),
    ...(tlsClientKeys === undefined ? {} : { tlsClientKeys })
  })

  const artifacts = ArtifactStore.make(sql, config.artifactBlocks)
  // Results and models go to IPFS sealed to their readers' current encryption keys: the DID's newest, else the registry's.
  const registeredKey = async (account: string) => {
    const { companyId } = await ledger.companyOf(account)
    const key = companyId === undefined ? undefined : (await ledger.getCompany(companyId))?.encPubKey
    return key !== undefined && /^0x0[23][0-9a-fA-F]{64}$/.test(key) ? key : undefined
  }
  const sealed = config.artifactBlocks === undefined
    ? undefined
    : SealedArtifacts.make({ blocks: config.artifactBlocks, keyOf: DidIdentity.currentEncryptionKey(dids, registeredKey) })
  const checkpoints = config.artifactBlocks === undefined
    ? undefined
    : CheckpointChain.make({
      blocks: config.artifactBlocks,
      ...(config.checkpointsKept === undefined ? {} : { keep: config.checkpointsKept }),
      ...(config.checkpointGcIntervalMs === undefined ? {} : { gcMinIntervalMs: config.checkpointGcIntervalMs })
    })

  // Roles for the API, from the chain: org state in the registry, its SUPERVISOR_ROLE, the ledger's coordinators.
  // Bound once: binding a contract parses its whole ABI, a few ms of CPU that every background role refresh paid.
  const roleChain = config.governance?.provider
  const registryRoles = roleChain === undefined ? undefined : Registry.connect(addresses.registry, roleChain)
  const ledgerRoles = roleChain === undefined ? undefined : TaskLedger.connect(addresses.ledger, roleChain)
  const roles = Roles.make({
    orgOf: (account) => Effect.mapError(registry.orgOf(account), (error) => new Roles.RolesUnreadable({ address: account, detail: error.detail })),
    isSupervisor: (account) => Roles.chainRead(account, async () => registryRoles !== undefined && (await registryRoles.hasRole(contractRoles.supervisor, account))),
    isOperator: (account) => Roles.chainRead(account, async () => getAddress(account) === coordinator || (ledgerRoles !== undefined && (await ledgerRoles.isCoordinator(account))))
  })

  // Every abuse limit, HTTP and socket alike, counts its refusals here; the dashboard shows them.
  const rejections = Rejections.make()
  const http = Listener.create({ tls: config.tls, clientCertificates: config.clientCertificates === true })
  const clientAddress = ClientAddress.make(config.trustProxy)
  const hub = Hub.make(http, auth, log, {
    limits: config.socketLimits,
    rejections,
    clientAddress,
    adapter,
    remote: (account) => cluster?.remote(account) ?? false,
    ackTimeout
  })
  const bridge = Bridge.make({ nsp: clustered ? hub.io.of(Hub.namespace) : undefined, instance, log: logOf("cluster") })
  // The dashboard's live feed hears every store write that matters to it (dashboard/Live.ts), on every instance.
  const localBus = Live.makeBus()
  const bus: Live.Bus = {
    publish: (event: LiveEvent) => {
      localBus.publish(event)
      bridge.broadcast({ type: "live", event })
    },
    subscribe: localBus.subscribe
  }
  bridge.on("live", (m) => localBus.publish(m.event))
  const store = Live.observe(base, bus)
  // The one round engine, here over the hub's sockets (protocol tests run it over the in-memory channel).
  const channel = SocketChannel.make(hub)

  // The outbox, drained by the one instance holding its lease; every write carries the lease's token.
  const outboxToken = (): LeaseToken => cluster?.token("outbox") ?? { name: "outbox", holder: instance, fence: -1 }
  const leading = () => cluster?.token("outbox") !== undefined
  const outbox: OutboxStore = {
    nextPending: () => (leading() ? store.nextPending() : Effect.succeed(undefined)),
    sent: () => (leading() ? store.sent() : Effect.succeed([])),
    markSent: (id, txHash, block) => store.markSent(id, txHash, block, outboxToken()),
    confirm: (id, txHash, block, blockHash) => store.confirm(id, txHash, block, blockHash, outboxToken()),
    requeue: (id, reason) => store.requeue(id, reason, outboxToken()),
    retryLater: (id, error, giveUp) => store.retryLater(id, error, giveUp, outboxToken()),
    pendingCount: () => store.pendingCount()
  }

  // The task-driving services as one Layer graph over the store, the hub and the round engine on the hub's
  // channel: the scheduler and the notary's loop live in `services` and stop when it closes.
  const services = Layer.mergeAll(
    Scheduler.layer({
      auth,
      log,
      instance,
      released: (taskId, from) => bridge.broadcast({ type: "released", taskId, from, by: instance }),
      models,
      artifacts,
      ...(sealed === undefined ? {} : { sealed }),
      ...(checkpoints === undefined ? {} : { checkpoints }),
      ...(config.encryptionPublicKey === undefined ? {} : { checkpointReader: coordinator }),
      consent: { recover: (consent, signature) => verifyTypedData(domain, Eip712.consentTypes, { ...consent }, signature) },
      ...(dids === undefined ? {} : { consentKey: dids.consentKey }),
      backends: backends.layer,
      options: { startTimeoutMs: config.startTimeoutMs, reofferMs: config.reofferMs }
    }),
    Notary.layer({ store: outbox, ledger: fromClient(ledger), log: logOf("notary"), ...(config.chainRetryMaxMs === undefined ? {} : { options: { maxRetryMs: config.chainRetryMaxMs } }) })
  ).pipe(
    Layer.provide(Layer.mergeAll(
      Layer.succeed(TaskStore.TaskStore, store),
      Layer.succeed(Hub.Hub, hub),
      Layer.provide(RoundEngine.layer, channel.layer)
    ))
  )
  const servicesScope = Effect.runSync(Scope.make())
  const built = await Effect.runPromise(Layer.buildWithScope(services, servicesScope))
  const scheduler = Context.get(built, Scheduler.Scheduler)
  const notary = Context.get(built, Notary.Notary)
  /** Runs a background reaction to an event (a bridge message, a socket, a chain change); its failure is logged. */
  const background = (what: string, effect: Effect.Effect<unknown, unknown>) =>
    void Effect.runFork(Effect.catchCause(effect, (cause) => Effect.sync(() => log.error(what, { error: String(Cause.squash(cause)) }))))
  bridge.on("released", (m) => {
    if (m.from === instance) background("could not release a task", scheduler.release(m.taskId))
  })
  const poke = () => background("notary poke failed", notary.poke)
  scheduler.onStatus(poke)
  const humans = HumanConsents.make({ bus, relay: hub.relayHuman, share: (change) => bridge.broadcast({ type: "human", change }) })
  bridge.on("human", (m) => humans.mirror(m.change))
  // Requests refused by the abuse limits, announced on the live feed (throttled: a flood must not flood the feed too).
  let announced = 0
  rejections.onChange((_kind, total) => {
    if (Date.now() - announced < 1_000) return
    announced = Date.now()
    bus.publish({ type: "limits", rejected: total })
  })
  scheduler.onStatus((taskId, status) => {
    bus.publish({ type: "status", taskId, status })
    if (isFinal(status)) humans.taskEnded(taskId)
  })
  // A consent or stage reply for a task another instance owns is forwarded to it; refusals reach the sender
  // wherever it is connected.
  const routing = TaskRouting.make({
    instance,
    mayBeElsewhere: (taskId) => clustered && !scheduler.owns(taskId),
    ownerOf: store.ownerOf,
    consent: scheduler.consent,
    consented: humans.answered
  })
  bridge.on("forward", (m) => {
    if (m.target !== instance) return
    const handled = m.message.kind === "consent" ? routing.consentHere(m.account, m.message.consent) : channel.reply(m.account, m.message.reply)
    const ref = m.message.kind === "consent" ? "task.consent" : m.message.reply.requestId
    background(
      "forwarded message failed",
      Effect.catchTag(handled, "WireRefusal", (error) => Effect.sync(() => hub.refuse(m.account, { code: error.code, message: error.message, ref: error.ref ?? ref })))
    )
  })
  // A participant back (on any instance): its rejoin offers first, then its open requests sent again. The other
  // way round, a participant that restarted met a request for a task it had forgotten before the offer that lets
  // it take the task up again (it waits for a rejoin decision only once the offer has come).
  const reconnected = (account: string) => Effect.andThen(scheduler.online(account), Effect.sync(() => channel.online(account)))
  hub.bind({
    consent: routing.route(routing.consentHere, (owner, account, consent) => bridge.broadcast({ type: "forward", target: owner, account, message: { kind: "consent", consent } })),
    awaitingHuman: (account, message) => Effect.sync(() => humans.awaiting(account, message)),
    reply: routing.route(channel.reply, (owner, account, reply: StageReply) => bridge.broadcast({ type: "forward", target: owner, account, message: { kind: "reply", reply } })),
    online: (account) => {
      cluster?.localOnline(account)
      background("online handling failed", reconnected(account))
    },
    offline: (account) => {
      cluster?.localOffline(account)
      channel.offline(account)
      humans.offline(account)
    }
  })

  // Suspension takes effect at once (PROTOCOLS.md §2.1 (d)): the index sees the chain event, the hub drops the
  // org's socket and the scheduler fails every open task that names it.
  const index = config.governance === undefined
    ? undefined
    : ChainIndex.make({
      sql,
      ledger: config.governance,
      deployBlock: addresses.deployBlock ?? 0n,
      log: logOf("chain-index"),
      onStateChanged: (change) => {
        // What the API knew of these accounts' roles is stale from now on — on every instance.
        roles.invalidate(change.addresses)
        bridge.broadcast({ type: "roles", addresses: [...change.addresses] })
        if (change.to !== "Suspended" && change.to !== "Revoked") return
        const reason = `organisation ${change.name} (${change.addresses.join(", ")}) is ${change.to === "Suspended" ? "suspended by the supervisor" : "revoked"}`
        void (async () => {
          // Act on the org's state now, not on the event's: an index rebuilt from old blocks replays suspensions
          // long since lifted. A chain that does not answer is asked again for a while; if it still does not, the
          // event is acted on (a suspension is not ignored for want of a read), and the log says it was not confirmed.
          const current = change.addresses[0] === undefined ? undefined : await Effect.runPromise(Effect.match(
            Auth.untilChainAnswers(auth.checkOrg(change.addresses[0]), Date.now() + suspensionCheckMs),
            { onSuccess: () => "Audited", onFailure: (refusal) => (refusal.code === "Unavailable" ? refusal.detail : "barred") }
          ))
          if (current === "Audited") return
          if (current !== undefined && current !== "barred") {
            log.warn("the chain did not answer for a suspended org's current state; acting on the event unconfirmed", { reason, error: current })
          }
          // The org's sockets go wherever they are connected; each instance stops the tasks it owns.
          for (const account of change.addresses) hub.kick(account, reason)
          bridge.broadcast({ type: "suspended", accounts: [...change.addresses], reason })
          await Effect.runPromise(scheduler.suspended(change.addresses, reason))
        })().catch((error) => log.error("could not stop the tasks of a suspended org", { error: String(error) }))
      }
    })
  bridge.on("roles", (m) => roles.invalidate(m.addresses))
  bridge.on("suspended", (m) => {
    background("could not stop the tasks of a suspended org", scheduler.suspended(m.accounts, m.reason))
  })

  const chain: typeof ChainInfo.Type = {
    chainId: domain.chainId.toString(),
    coordinator,
    registry: addresses.registry,
    ledger: addresses.ledger,
    deployBlock: (addresses.deployBlock ?? 0n).toString(),
    confirmations: ledger.confirmations,
    // The attacker shares of Nakamoto's tables: what the confirmations setting buys on a proof-of-work chain.
    catchUpRisk: [0.1, 0.3].map((q) => ({ q, probability: catchUpProbability(q, ledger.confirmations) })),
    ...(config.governance === undefined
      ? {}
      : { suite: Object.fromEntries(Object.entries(config.governance.addresses).filter((e): e is [string, string] => e[0] !== "deployBlock" && typeof e[1] === "string")) })
  }
  const dashboard = Dashboard.make({ store, hub, ledger, domain, artifacts, models, index, ...(dids === undefined ? {} : { consentSigners: ConsentKeys.ofResolver(dids) }) })
  let publicUrl = config.publicUrl
  const sessions = Sessions.make({
    expected: () => {
      const url = new URL(publicUrl ?? "http://coordinator")
      return { domain: url.host, uri: url.origin, chainId: Number(domain.chainId) }
    },
    secret,
    spent,
    tokenTtlMs: config.tokenTtlMs,
    ...(loginSigners === undefined ? {} : { loginSigners })
  })
  const api = HttpServer.attach({
    server: http,
    store,
    scheduler,
    models,
    artifacts,
    index,
    limits: config.limits,
    clientAddress: (req) => clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"]),
    parts: {
      chain,
      socketNonce: auth.issueNonce,
      sessions,
      roles,
      policy: Policy.make({ store, models, artifacts, index, governance: config.governance, sql }),
      dashboard,
      humans,
      relaySignIn: hub.relaySignIn,
      ...(tlsClientKeys === undefined ? {} : { tlsClientKeys }),
      bus,
      rejections
    }
  })

  const host = config.host ?? "127.0.0.1"
  const port = await Listener.listen(http, host, config.port ?? 0)
  const url = config.publicUrl?.replace(/\/+$/, "") ?? Listener.urlOf(http, host, port)
  publicUrl ??= url
  cluster = Cluster.make({ sql: leaseSql ?? sql, storeSql: sql, store, bridge, log: logOf("cluster"), instance, leaseMs: config.cluster?.leaseMs, exclusive: !clustered, url, local: hub.local })
  cluster.role("outbox", { start: () => Effect.sync(poke), stop: Effect.void })
  if (index !== undefined) cluster.role("chain-index", { start: () => index.start(), stop: index.stop() })
  await cluster.start({
    adopt: scheduler.adopt,
    lost: scheduler.lostAll,
    online: (account) => background("online handling failed", reconnected(account)),
    offline: (account) => {
      // The instance that held its socket is gone, but it may already be back here (it failed over to this one).
      if (hub.local().includes(account)) return
      channel.offline(account)
      humans.offline(account)
    }
  })
  // Nothing carries the cluster's NOTIFYs to an instance while its adapter's LISTEN client reconnects (a database
  // restart, a terminated backend): what was sent to it meanwhile is lost. Every round's open request is the one
  // thing that must get through (a lost offer or consent is made up for by the scheduler's re-offers, lost presence
  // by the next snapshot). The round engine sends a request whose acknowledgement did not come again, and reminds
  // the participant of one acknowledged (its reply may be what was lost) on its own schedule whatever the listener
  // does (a NOTIFY lost while it listens); a listener back is only the moment to look at once. So an instance whose
  // listener is back has the open requests of the participants held elsewhere looked at (their acknowledgements
  // and replies, forwarded here, may be lost) and says hello: each other instance answers with its presence
  // snapshot and has its own open requests to the participants held by this one looked at. Either way only the
  // unacknowledged are sent in full again; the others get a reminder without their payload.
  // Presence keeps accounts in lower case; the round engine knows its participants by their checksummed address.
  adapterListeningAgain = () => {
    log.warn("socket.io adapter listening again: open requests looked at again", { instance })
    cluster?.announce()
    for (const account of cluster?.remoteAccounts() ?? []) channel.online(getAddress(account))
  }
  bridge.on("hello", (m) => {
    if (m.instance !== instance) for (const account of cluster?.remoteAccounts(m.instance) ?? []) channel.online(getAddress(account))
  })
  log.info("coordinator listening", { url, instance })

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await index?.stop()
    await api.close()
    // The scheduler's runs are interrupted and the notary's loop stops before the cluster hands the tasks back.
    await Effect.runPromise(Scope.close(servicesScope, Exit.void))
    await cluster?.stop()
    // Nothing answers on the API any more: the connections still open to it (a client's kept-alive sockets, which
    // node's close does not always count as idle) are cut now, or closing the listener waits out their keep-alive
    // (65 s) before the store closes.
    http.closeAllConnections()
    await hub.close()
    await new Promise<void>((resolve) => http.close(() => resolve()))
    await adapterPool?.end().catch(() => {})
    await leaseSql?.close().catch(() => {})
    await sql.close()
    await backends.close()
  }

  return {
    url,
    port,
    instance,
    store,
    models,
    artifacts,
    index,
    scheduler,
    notary,
    hub,
    chain,
    rejections,
    roles,
    clientAddress,
    cluster: cluster!,
    reloadTls: (tls: Listener.TlsMaterial) => Listener.reload(http, tls),
    close
  }
}

/** The coordinator did not start: its store, chain, listener or another part failed (`detail`). */
export class CoordinatorStartFailed extends Schema.TaggedError<CoordinatorStartFailed>()("CoordinatorStartFailed", { detail: Schema.String }) {
  override get message() {
    return `the coordinator did not start: ${this.detail}`
  }
}

/** The coordinator as a scoped Effect resource: closed when the scope closes (a close that fails is reported). */
export const scoped = (config: Config): Effect.Effect<Internals, CoordinatorStartFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => start(config), catch: (error) => new CoordinatorStartFailed({ detail: error instanceof Error ? error.message : String(error) }) }),
    (c) => Effect.tryPromise(() => c.close()).pipe(Effect.catch((error) => Effect.logWarning("the coordinator did not close cleanly", error.cause)))
  )
