/**
 * The coordinator process in one place: HTTP API and socket.io hub on one port, the task store, the scheduler
 * and the chain notary. `start` resumes every unfinished task found in the store, so a restarted coordinator
 * picks up where the old one stopped.
 */
import { Context, Effect } from "effect"
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
import * as ChainIndex from "./governance/ChainIndex.ts"
import * as Auth from "./auth/Auth.ts"
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
import * as Hub from "./transport/Hub.ts"
import type { SocketLimits } from "./transport/SocketLimits.ts"
import * as SocketChannel from "./transport/SocketChannel.ts"
import * as Registry from "@jointly/core/internal/ledger/generated/ConsortiumRegistry"
import * as TaskLedger from "@jointly/core/internal/ledger/generated/TaskLedger"
import type { ChainInfo } from "@jointly/core/internal/api/Schemas"

export interface Config {
  /** PGlite data directory, or a postgres:// URL. */
  readonly store: string
  /** A ledger client signing with the coordinator's account (registered as coordinator in the TaskLedger). */
  readonly ledger: LedgerClient
  /** The governance contracts, read through the coordinator's account; absent on an old deployment. */
  readonly governance?: GovernanceLedger
  readonly host?: string
  /** 0 picks a free port. */
  readonly port?: number
  /** The backend of each kernel family; the fastest this Node offers by default. */
  readonly backends?: Backends.Choice
  /** Certificate and key (PEM text): the API, the dashboard, its SSE and the participants' sockets over HTTPS/WSS. */
  readonly tls?: Listener.TlsMaterial
  /** The URL members reach this coordinator at (a DNS name, a proxy; sign-in messages name its host); default the listening address. */
  readonly publicUrl?: string
  /** Reverse proxies (addresses or CIDR subnets) whose X-Forwarded-For names the client; no one else's is read. */
  readonly trustProxy?: ReadonlyArray<string>
  /** The participants' socket limits; default SocketLimits.defaults. */
  readonly socketLimits?: SocketLimits
  readonly startTimeoutMs?: number
  /** HMAC key for bearer tokens (≥ 32 bytes); default drawn at start, so a restart signs everyone out. */
  readonly authSecret?: Uint8Array
  /** Bearer token lifetime (default 15 minutes). */
  readonly tokenTtlMs?: number
  /** The HTTP abuse limits (http/Server.ts defaults). */
  readonly limits?: HttpServer.Limits
}

export const start = async (config: Config) => {
  const log = Log.make("coordinator")
  const ledger = config.ledger
  const domain = await ledger.domain()
  const addresses = await ledger.addresses()
  const coordinator = getAddress(ledger.account)

  const sql = await Sql.open(config.store)
  // The dashboard's live feed hears every store write that matters to it (dashboard/Live.ts).
  const bus = Live.makeBus()
  const store = Live.observe(await TaskStore.make(sql), bus)
  // The compute backends, composed once (`@jointly/backends/node`): CKKS sums for federated learning's "ckks"
  // aggregation, the key agreement and PRG of secure aggregation's dropout recovery, the tfjs runtime of online
  // predictions (loaded on the first prediction of a tfjs-layers model only).
  const backends = await Backends.build(NodeBackends.layer(config.backends))
  const runtime = Context.get(backends.context, ModelRuntime)
  const models = ModelStore.make(sql, { runtime: async () => runtime })

  const registry: Auth.Registry = {
    orgOf: async (account) => {
      const membership = await ledger.companyOf(account)
      if (membership.companyId === undefined) return { state: "None", name: "", pending: membership.pendingJoin !== undefined }
      const company = await ledger.getCompany(membership.companyId)
      return { state: membership.state as Auth.OrgState, name: company?.name ?? membership.companyId }
    }
  }
  const auth = Auth.make(registry, {
    recover: (login, signature) =>
      verifyTypedData(domain, Eip712.loginTypes, { ...login, coordinator, issuedAt: BigInt(login.issuedAt) }, signature)
  })

  const artifacts = ArtifactStore.make(sql)

  // Roles for the API, from the chain: org state in the registry, its SUPERVISOR_ROLE, the ledger's coordinators.
  const roleChain = config.governance?.provider
  const roles = Roles.make({
    orgOf: registry.orgOf,
    isSupervisor: async (account) => roleChain !== undefined && (await Registry.connect(addresses.registry, roleChain).hasRole(contractRoles.supervisor, account)),
    isOperator: async (account) =>
      getAddress(account) === coordinator || (roleChain !== undefined && (await TaskLedger.connect(addresses.ledger, roleChain).isCoordinator(account)))
  })

  // Every abuse limit, HTTP and socket alike, counts its refusals here; the dashboard shows them.
  const rejections = Rejections.make()
  const http = Listener.create({ tls: config.tls })
  const clientAddress = ClientAddress.make(config.trustProxy)
  const hub = Hub.make(http, auth, log, { limits: config.socketLimits, rejections, clientAddress })
  // The one round engine, here over the hub's sockets (protocol tests run it over the in-memory channel).
  const channel = SocketChannel.make(hub)
  const rounds = Effect.runSync(Effect.provide(RoundEngine.make, channel.layer))
  const scheduler = Scheduler.make({
    store,
    hub,
    rounds,
    auth,
    log,
    models,
    artifacts,
    consent: { recover: (consent, signature) => verifyTypedData(domain, Eip712.consentTypes, { ...consent }, signature) },
    backends: backends.layer,
    options: { startTimeoutMs: config.startTimeoutMs }
  })
  const notary = Notary.start({ store, ledger: fromClient(ledger), log: Log.make("notary") })
  scheduler.onStatus(() => notary.poke())
  const humans = HumanConsents.make({ bus, relay: hub.relayHuman })
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
  hub.bind({
    consent: (account, message) => scheduler.consent(account, message).finally(() => humans.answered(message.taskId, account)),
    awaitingHuman: humans.awaiting,
    reply: channel.reply,
    online: scheduler.online,
    offline: (account) => {
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
      log: Log.make("chain-index"),
      onStateChanged: (change) => {
        // What the API knew of these accounts' roles is stale from now on.
        roles.invalidate(change.addresses)
        if (change.to !== "Suspended" && change.to !== "Revoked") return
        const reason = `organisation ${change.name} (${change.addresses.join(", ")}) is ${change.to === "Suspended" ? "suspended by the supervisor" : "revoked"}`
        void (async () => {
          // Act on the org's state now, not on the event's: an index rebuilt from old blocks replays suspensions
          // long since lifted.
          const current = change.addresses[0] === undefined ? undefined : await auth.checkOrg(change.addresses[0]).then(() => "Audited", () => "barred")
          if (current === "Audited") return
          for (const account of change.addresses) hub.kick(account, reason)
          await scheduler.suspended(change.addresses, reason)
        })().catch((error) => log.error("could not stop the tasks of a suspended org", { error: String(error) }))
      }
    })
  await index?.start()

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
  const dashboard = Dashboard.make({ store, hub, ledger, domain, artifacts, models, index })
  let publicUrl = config.publicUrl
  const sessions = Sessions.make({
    expected: () => {
      const url = new URL(publicUrl ?? "http://coordinator")
      return { domain: url.host, uri: url.origin, chainId: Number(domain.chainId) }
    },
    secret: config.authSecret,
    tokenTtlMs: config.tokenTtlMs
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
      bus,
      rejections
    }
  })

  const host = config.host ?? "127.0.0.1"
  const port = await Listener.listen(http, host, config.port ?? 0)
  const url = config.publicUrl?.replace(/\/+$/, "") ?? Listener.urlOf(http, host, port)
  publicUrl ??= url
  await scheduler.resume()
  log.info("coordinator listening", { url })

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await index?.stop()
    await api.close()
    await scheduler.close()
    await hub.close()
    await new Promise<void>((resolve) => http.close(() => resolve()))
    await notary.stop()
    await sql.close()
    await backends.close()
  }

  return {
    url,
    port,
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
    /** Serves a new certificate and key to every connection made from now on (certificate rotation). */
    reloadTls: (tls: Listener.TlsMaterial) => Listener.reload(http, tls),
    close
  }
}

export type Coordinator = Awaited<ReturnType<typeof start>>

/** The coordinator as a scoped Effect resource: closed when the scope closes. */
export const scoped = (config: Config) =>
  Effect.acquireRelease(Effect.promise(() => start(config)), (c) => Effect.promise(() => c.close()))
