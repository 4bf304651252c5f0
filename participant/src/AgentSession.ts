/**
 * The participant agent's session with a coordinator, on any platform (Node's Agent.ts, a browser page's
 * browser/BrowserAgent.ts): it proves its org's identity, answers task offers with signed consent decided by the
 * embedder's policy (after the key floor and the dataset's columns are checked), relays stage requests to the
 * platform's `Runner` and its replies back, and relays a dashboard user's decisions and sign-ins only when they
 * carry this participant's dashboard token. The platform gives it the Runner (where the rows and the stages live)
 * and the Endpoint (how the coordinator is reached): nothing here touches a file, a thread or a socket library's
 * platform half.
 */
import { Effect, Fiber, Schedule, Schema } from "effect"
import { type BaseWallet, getAddress, type Signer } from "ethers"
import { io, type Socket } from "socket.io-client"
import * as SocketIoParser from "socket.io-parser"
import * as ApiClient from "@jointly/core/internal/api/ClientSession"
import * as SignIn from "@jointly/core/internal/api/SignIn"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import * as Endpoint from "@jointly/core/internal/net/EndpointRule"
import { reasonHash } from "@jointly/core/internal/ledger/Ledger"
import { taskId as taskIdOf } from "@jointly/core/internal/task/TaskSpec"
import { AdmissionRefused, isTransient } from "@jointly/core/internal/wire/Admission"
import type { TaskArtifact, TaskConsent, WireError } from "@jointly/core/internal/wire/Messages"
import { type AwaitingHuman, boundedParser, DashboardSignIn, events, fitsFrame, HumanDecision, maxMessageBytes, type StageOutcome, type StageReceipt, StageReminder, StageRequest, TaskEnded, TaskOffer, WireError as WireErrorSchema } from "@jointly/core/internal/wire/Messages"
import type { DatasetSummary } from "./datasets/Dataset.ts"
import type { PinEvent } from "./ipfs/Pinner.ts"
import type { Runner } from "./host/Runner.ts"
import type { ConsentInput } from "./policy/ConsentPolicy.ts"
import * as KeyPolicy from "./policy/KeyPolicy.ts"
import * as HumanToken from "./policy/HumanToken.ts"

/** What the consent policy is asked about a task (participant/src/policy). */
export interface ConsentQuestion extends ConsentInput {
  readonly taskId: string
}

export interface ConsentDecision {
  readonly decision: "approve" | "reject"
  readonly reason: string
}

/**
 * A human asked through the coordinator's dashboard (policy `mode: "ask"`): resolves with the decision once a
 * human sends one that carries this participant's dashboard-token MAC (policy/HumanToken.ts).
 */
export interface HumanChannel {
  readonly ask: (summary: string) => Promise<{ readonly approve: boolean; readonly reason: string }>
}

export type ConsentPolicy = (question: ConsentQuestion, human: HumanChannel) => Promise<ConsentDecision> | ConsentDecision

/**
 * The org's account as the session uses it: a key held here (an ethers Wallet: Node's keystore, the page's
 * KeyVault) or a wallet's signer (an EIP-1193 provider through ethers' BrowserProvider), which shows the person
 * each EIP-712 consent and sign-in before signing it.
 */
export type AccountSigner = Pick<Signer, "signMessage" | "signTypedData" | "getAddress"> & { readonly address: string }

/** What the session needs besides the platform's parts (AgentConfig on Node, BrowserAgent's config in a page). */
export interface SessionConfig {
  readonly wallet: AccountSigner
  /**
   * A login key the org published in its did:ethr document (a `sigAuth` delegate, identity/DidIdentity.ts): it signs
   * the socket Login and the HTTP API's sign-in (a dashboard user's token sign-in included) for `wallet`'s account.
   * Rotated and revoked on chain; a revoked one is refused (AdmissionRefused "KeyNotAuthorized") at the next handshake.
   * The account key still signs protocol values (peers check them against the account address) and chain writes.
   */
  readonly loginKey?: BaseWallet
  /**
   * A consent key the org published in its did:ethr document (a `veriKey` delegate): it signs this participant's task
   * consents for `wallet`'s account. The coordinator and TaskLedger accept it while the DID names it; a revoked or
   * expired one is refused (wire.error "KeyNotAuthorized") and the consent is not recorded.
   */
  readonly consentKey?: BaseWallet
  readonly policy: ConsentPolicy
  readonly dashboardToken?: string
  readonly keys?: KeyPolicy.KeyRule
  readonly unsafeTestKeySizes?: boolean
}

export interface Platform {
  /** The coordinator, held to the transport rule (Node's Endpoint.make, or EndpointRule.make in a browser). */
  readonly endpoint: Endpoint.Endpoint
  /**
   * Other instances of the same coordinator (one PostgreSQL store behind them all), under the same rule: when the
   * connection to one fails, the session moves to the next in turn (`endpoint` first), signs in there and is
   * offered its running tasks again.
   */
  readonly failover?: ReadonlyArray<Endpoint.Endpoint>
  /** Where the datasets live and the stages run. */
  readonly runner: Runner
  /** Who hears the session's events (the platform may add its own, e.g. a crashed worker). */
  readonly listeners: Set<(event: AgentEvent) => void>
}

export type AgentEvent =
  /** Admitted by the coordinator instance at `coordinator` (its URL). */
  | { readonly type: "connected"; readonly coordinator: string }
  | { readonly type: "disconnected"; readonly reason: string }
  | { readonly type: "refused"; readonly code: string; readonly message: string }
  | { readonly type: "offer"; readonly taskId: string; readonly kind: string }
  /** A running task this participant approved, offered again after it restarted: taken up again or not. */
  | { readonly type: "rejoin"; readonly taskId: string; readonly accepted: boolean; readonly reason: string }
  | { readonly type: "consent"; readonly taskId: string; readonly approve: boolean; readonly reason: string }
  | { readonly type: "awaiting-human"; readonly taskId: string }
  /** A dashboard user proved this org's dashboard token; the agent signed the coordinator's sign-in message. */
  | { readonly type: "dashboard-sign-in" }
  | { readonly type: "stage"; readonly taskId: string; readonly stage: string; readonly ok: boolean; readonly detail?: string }
  /** The task ended; a succeeded one names its artifacts on IPFS (sealed to their readers), which a Node agent with a node pins. */
  | { readonly type: "ended"; readonly taskId: string; readonly status: string; readonly reason?: string; readonly artifacts?: ReadonlyArray<TaskArtifact> }
  /**
   * A task's artifact pinned on this participant's IPFS node (Node agent with `ipfs`), or given up (`error`, after
   * `attempts` tries); `pin-retry` is a failed try that will be tried again (ipfs/Pinner.ts).
   */
  | PinEvent
  | { readonly type: "wire-error"; readonly error: WireError }
  /** The protocol worker died and was restarted; the tasks it had accepted are lost. */
  | { readonly type: "worker-crashed"; readonly detail: string; readonly lostTasks: ReadonlyArray<string> }

export { AdmissionRefused }

/** A stage request the session holds: its stage, its outcome once computed, and whether the coordinator acknowledged its reply. */
interface HeldRequest {
  readonly stage: string
  settled?: StageOutcome
  acknowledged: boolean
}

/**
 * Requests of one task held at most (their outcomes kept for a reminder): more than a contribution task's
 * concurrent coalitions ask at once; reached only with a coordinator that does not acknowledge replies.
 */
const heldPerTask = 64

const decodeOr = <A, I>(schema: Schema.Codec<A, I>, raw: unknown): A | undefined => {
  const decoded = Schema.decodeUnknownExit(schema)(raw)
  return decoded._tag === "Success" ? decoded.value : undefined
}

/**
 * How the session retries a failed connection, each attempt at the next coordinator instance: exponential backoff
 * from 250 ms, never more than 2 s apart (a participant is a service: it keeps trying until it is closed), jittered
 * so that a consortium's participants do not all return to a restarted instance in the same instant.
 */
export const reconnection = Schedule.min([Schedule.exponential("250 millis"), Schedule.spaced("2 seconds")]).pipe(Schedule.jittered)

/**
 * How the session asks the same instance again when it answered but did not admit this org: exponential backoff
 * from 500 ms, never more than 30 s apart, jittered so that a consortium's participants do not all return in the
 * same instant to a coordinator whose chain node just came back. It is the one rule for every such answer:
 * - a passing refusal (Admission.isTransient: Unavailable, NonceUnsettled — the coordinator's own trouble — and
 *   RateLimited, the address's connection budget spent): the same org is admitted once it recovers or the budget
 *   refills, so `connected` stays pending meanwhile;
 * - a verdict on the org (OrgSuspended, KeyNotAuthorized, ...): it rejects `connected`, but a participant is a
 *   service and the verdict may be lifted (the supervisor restores the org, a key is published in its DID), so it
 *   keeps asking — rarely, once the backoff reaches 30 s — and comes back without a restart;
 * - the coordinator closing an admitted connection (e.g. the org suspended meanwhile): the admission check at the
 *   next try decides whether the org is back.
 * Transport trouble is not an answer: it moves to the next instance on `reconnection`.
 */
export const readmission = Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("30 seconds")]).pipe(Schedule.jittered)

/**
 * The instance answered without admitting this org: a refusal at the handshake (its AdmissionCode) or, code
 * "ServerDisconnect", an admitted connection the coordinator closed. Tried again on `readmission`.
 */
class NotAdmitted extends Schema.TaggedError<NotAdmitted>()("NotAdmitted", { code: Schema.String, detail: Schema.String }) {}

/** A connection attempt that ended without admission for a transport reason (the next instance is tried). */
class Unreachable extends Schema.TaggedError<Unreachable>()("Unreachable", { url: Schema.String, detail: Schema.String }) {}

/** A running agent (Agent.start, the browser's BrowserAgent.start); `close` disconnects it and stops its compute. */
export interface Agent {
  /** The org's checksummed chain address. */
  readonly address: string
  readonly datasets: ReadonlyArray<{ readonly name: string; readonly kind: DatasetSummary["kind"]; readonly rows: number }>
  /** A dataset's content hash as its rows are now (a pass over them in the protocol thread; a catalogue's dataHash). */
  readonly contentHash: (name: string) => Promise<string>
  /**
   * Resolves once the coordinator admitted this org; rejects with AdmissionRefused (e.g. OrgSuspended) if refused.
   * A refusal that is the coordinator's passing trouble (Unavailable, NonceUnsettled) leaves it pending while the
   * session tries again; each such refusal is still a `refused` event.
   */
  readonly connected: Promise<void>
  readonly isConnected: () => boolean
  /** What this participant has sent the coordinator since it started, in bytes and socket.io packets. */
  readonly traffic: () => { readonly sentBytes: number; readonly sentPackets: number }
  /** The coordinator's HTTP API, signed in as this org when a route needs it (artifacts of model requests). */
  readonly api: ApiClient.Client
  /** Subscribes to the agent's events; returns the unsubscribe function. */
  readonly on: (listener: (event: AgentEvent) => void) => () => void
  /** For tests and tools: send a raw event as this participant (the coordinator must refuse anything bad). */
  readonly rawEmit: (event: string, payload: unknown) => void
  readonly close: () => Promise<void>
}

export const connect = (config: SessionConfig, platform: Platform): Agent => {
  const { endpoint, runner, listeners } = platform
  const wallet = config.wallet
  const self = getAddress(wallet.address)
  const emitEvent = (event: AgentEvent) => {
    for (const listener of listeners) listener(event)
  }
  const keyFloor = KeyPolicy.minimums(config.keys, { unsafeTestKeySizes: config.unsafeTestKeySizes })
  // Consent needs only names and columns: the rows stay wherever the runner loaded them.
  const datasets = new Map(runner.datasets.map((d) => [d.name, d] as const))
  let domain: Eip712.Domain | undefined

  // The coordinator's instances (one, unless the platform names others to fail over to) and, for each, its HTTP API
  // through the client derived from its declaration (core/src/api), signed in as this org, over the same Endpoint
  // (trust, transport rule) as the socket. `at` is the instance in use: the socket, the sign-in and `api` follow it.
  const endpoints = [endpoint, ...(platform.failover ?? [])]
  // The HTTP sign-in (EIP-4361) names the account and is signed by the login key when there is one, as the socket
  // Login is: the coordinator accepts a login key the account's DID names now (http/Sessions.ts).
  const signIn: ApiClient.AccountSigner = config.loginKey === undefined
    ? wallet
    : { getAddress: async () => self, signMessage: (message) => config.loginKey!.signMessage(message) }
  const apis = endpoints.map((e) => ApiClient.make({ url: e.url, endpoint: e, signer: signIn }))
  let at = 0
  /** A fresh nonce (from the instance being connected to, which checks it) and signature at every connection attempt. */
  const login = async () => {
    const challenge = await Effect.runPromise(apis[at]!.call((a) => a.auth.nonce(), false))
    domain = Eip712.domain(BigInt(challenge.chainId), challenge.ledger)
    const issuedAt = Math.floor(Date.now() / 1000)
    const signature = await Eip712.signLogin(config.loginKey ?? wallet, domain, {
      account: self,
      nonce: challenge.nonce,
      coordinator: challenge.coordinator,
      issuedAt: BigInt(issuedAt)
    })
    return { account: self, nonce: challenge.nonce, issuedAt, signature }
  }

  let resolveConnected: () => void = () => {}
  let rejectConnected: (error: AdmissionRefused | Endpoint.UntrustedCertificate) => void = () => {}
  /** Resolves on the first admission; rejects with AdmissionRefused or UntrustedCertificate. */
  const connected = new Promise<void>((resolve, reject) => {
    resolveConnected = resolve
    rejectConnected = reject
  })
  connected.catch(() => {})
  /** A certificate this participant does not trust is reported, not retried in silence. */
  const untrusted = (error: unknown): boolean => {
    const explained = endpoints[at]!.explain(error)
    if (!(explained instanceof Endpoint.UntrustedCertificate)) return false
    emitEvent({ type: "refused", code: explained._tag, message: explained.message })
    rejectConnected(explained)
    return true
  }

  // Bytes this participant put on the wire (socket.io packets, each as engine.io encodes it): what left it, by size.
  const traffic = { sentBytes: 0, sentPackets: 0 }
  const countPacket = (packet: { data?: unknown }) => {
    const data = packet.data
    traffic.sentPackets++
    traffic.sentBytes += typeof data === "string" ? new TextEncoder().encode(data).length : data instanceof ArrayBuffer ? data.byteLength : ArrayBuffer.isView(data) ? data.byteLength : 0
  }

  // The session's handlers, attached to each socket it opens (one per connection to an instance).
  const handlers: Array<readonly [string, (...args: Array<any>) => void]> = []
  const on = (event: string, handler: (...args: Array<any>) => void) => void handlers.push([event, handler])

  /**
   * A socket to instance `at`. socket.io's own reconnection is off: it would only ever return to the same URL, so
   * `failover` retries instead, instance after instance.
   */
  const open = (): Socket => {
    const target = endpoints[at]!
    const opened = io(`${target.url}/participants`, {
      transports: ["websocket"],
      reconnection: false,
      timeout: 10_000,
      ...target.socketOptions,
      // Passed on to ws: frames from the coordinator are held to the same limit as ours to it, and so are messages of
      // several frames (binary attachments), which also reach the handlers as Uint8Arrays in a browser.
      ...({ maxPayload: maxMessageBytes } as object),
      parser: boundedParser(SocketIoParser),
      auth: (cb) => {
        login().then(cb, (error) => {
          untrusted(error)
          emitEvent({ type: "disconnected", reason: String(target.explain(error)) })
          cb({})
        })
      }
    })
    opened.io.on("open", () => opened.io.engine.on("packetCreate", countPacket))
    for (const [event, handler] of handlers) opened.on(event, handler)
    return opened
  }
  let socket: Socket

  /**
   * One connection attempt at the next instance: succeeds once admitted, or once refused (the refusal is the
   * admission check's answer, retried by its own rule below); fails with Unreachable on transport trouble.
   */
  const attempt = Effect.callback<void, Unreachable>((resume) => {
    at = (at + 1) % endpoints.length
    socket.close()
    const next = open()
    // What was emitted while the link was down (a stage reply, a consent) goes to the next instance, which routes it
    // to the task's owner. Without its acknowledgement id: the callback stays with the old socket, and the id may be
    // one the new socket gives another message (an unacknowledged reply is kept and sent again when reminded).
    next.sendBuffer.push(...socket.sendBuffer.splice(0).map(({ id: _id, ...packet }) => packet))
    socket = next
    next.once("connect", () => resume(Effect.void))
    next.once("connect_error", (error: Error & { data?: { code?: string } }) => {
      if (error.data?.code !== undefined) resume(Effect.void)
      else resume(Effect.fail(new Unreachable({ url: endpoints[at]!.url, detail: error.message })))
    })
  })
  let failing: Fiber.Fiber<void, Unreachable> | undefined
  /** Moves to the next instance, and the next, on the `reconnection` schedule until one admits or refuses this org. */
  const failover = () => {
    if (closed || failing !== undefined) return
    failing = Effect.runFork(Effect.retry(Effect.suspend(() => attempt), reconnection).pipe(Effect.ensuring(Effect.sync(() => (failing = undefined)))))
  }

  // Tasks waiting for a human's decision from the dashboard, announced again after every reconnection (the
  // coordinator keeps them in memory only).
  const waiting = new Map<string, { readonly announce: AwaitingHuman; readonly resolve: (answer: { approve: boolean; reason: string }) => void }>()
  const humanChannel = (taskId: string): HumanChannel => ({
    ask: (summary) => {
      if (config.dashboardToken === undefined) return Promise.reject(new Error("no dashboard token is configured, so no human can be asked"))
      return new Promise((resolve) => {
        const announce = { taskId, summary: summary.slice(0, 2000) }
        waiting.set(taskId, { announce, resolve })
        socket.emit(events.awaitingHuman, announce)
        emitEvent({ type: "awaiting-human", taskId })
      })
    }
  })

  /** Asks the policy and, on approval, has the runner accept the task before the consent is signed. */
  const decide = async (offer: TaskOffer): Promise<ConsentDecision> => {
    const spec = offer.spec
    // Never trust the coordinator's id: the consent signs the id, so it must commit to this very spec.
    if (taskIdOf(spec) !== offer.taskId) return { decision: "reject", reason: "the task id does not match the spec" }
    const party = spec.parties.find((p) => p.participant === self)
    if (!party) return { decision: "reject", reason: "this participant is not named in the task" }
    // The params, decoded by the kind's declaration where the protocols are (a browser page holds none: its
    // protocol worker reads the offer), and decoded again by the runner when it accepts the task.
    const reading = await runner.read(spec)
    if (!reading.ok) return { decision: "reject", reason: reading.problem }
    // Weak keys are refused whatever the task's params and the embedder's policy say.
    const weak = KeyPolicy.refusal(reading.keyMaterial, keyFloor)
    if (weak !== undefined) return { decision: "reject", reason: weak }
    const dataset = datasets.get(party.dataset)
    if (!dataset) return { decision: "reject", reason: `no dataset named ${party.dataset} is registered here` }
    const columns = reading.columns
    const missing = columns.filter((name) => !dataset.columns.some((c) => c.name === name))
    if (missing.length > 0) return { decision: "reject", reason: `dataset ${dataset.name} has no column ${missing.join(", ")}` }
    const answer = await config.policy({
      taskId: offer.taskId,
      kind: spec.kind,
      initiator: spec.initiator,
      parties: spec.parties.length,
      dataset: party.dataset,
      columns,
      params: reading.params,
      model: reading.model,
      recipients: reading.recipients
    }, humanChannel(offer.taskId))
    if (answer.decision !== "approve") return answer
    const accepted = await runner.accept(offer.taskId, spec)
    return accepted.ok ? answer : { decision: "reject", reason: `cannot run the task: ${accepted.problem}` }
  }

  /** `decide`, with a policy that throws answered as a refusal naming the failure. */
  const decideOrRefuse = (offer: TaskOffer): Promise<ConsentDecision> =>
    decide(offer).catch((error) => ({ decision: "reject" as const, reason: `policy failed: ${error instanceof Error ? error.message : String(error)}` }))

  // An offer repeated on reconnection while its decision is still open (e.g. waiting for a human) is not asked twice.
  const deciding = new Set<string>()
  const endedTasks = new Set<string>()
  /**
   * The signed answer given to each open task: an offer made again (the coordinator did not see the answer — lost
   * with a connection, or on its way between instances) gets the very same answer back, not a second decision, so
   * the policy and a human are asked once and the task is accepted by the runner once. Kept until the task ends
   * (bounded like `endedTasks`).
   */
  const answers = new Map<string, TaskConsent>()
  /** Tasks the runner holds, so a rejoin offer after a mere reconnection leaves a running task's state alone. */
  const acceptedTasks = new Set<string>()
  // A crashed protocol worker took its tasks' state with it: the runner no longer holds them, so their next rejoin
  // offer must be taken up (accepted again on the fresh worker), not ignored as a mere reconnection's.
  listeners.add((event) => {
    if (event.type === "worker-crashed") for (const taskId of event.lostTasks) acceptedTasks.delete(taskId)
  })
  on(events.offer, async (raw: unknown) => {
    const offer = decodeOr(TaskOffer, raw)
    if (!offer || !domain || deciding.has(offer.taskId)) return
    if (offer.rejoin === true) return void rejoin(offer)
    const given = answers.get(offer.taskId)
    if (given !== undefined) return void socket.emit(events.consent, given)
    deciding.add(offer.taskId)
    emitEvent({ type: "offer", taskId: offer.taskId, kind: offer.spec.kind })
    const { decision, reason } = await decideOrRefuse(offer)
    deciding.delete(offer.taskId)
    if (endedTasks.has(offer.taskId)) return
    const approve = decision === "approve"
    if (approve) acceptedTasks.add(offer.taskId)
    const signature = await Eip712.signConsent(config.consentKey ?? wallet, domain, { taskId: offer.taskId, specHash: offer.taskId, approve, reasonHash: reasonHash(reason) })
    const answer = { taskId: offer.taskId, approve, reason, signature }
    answers.set(offer.taskId, answer)
    if (answers.size > 1000) answers.delete(answers.keys().next().value!)
    socket.emit(events.consent, answer)
    emitEvent({ type: "consent", taskId: offer.taskId, approve, reason })
  })

  /** Rejoin decisions under way: a stage request of the task waits for its decision (it may come right after the offer). */
  const rejoining = new Map<string, Promise<unknown>>()

  /** The same checks as a first offer — the policy may have changed since — without a second consent. */
  const rejoin = async (offer: TaskOffer) => {
    if (acceptedTasks.has(offer.taskId) || endedTasks.has(offer.taskId)) return
    deciding.add(offer.taskId)
    const pending = decideOrRefuse(offer)
    rejoining.set(offer.taskId, pending)
    const { decision, reason } = await pending
    rejoining.delete(offer.taskId)
    deciding.delete(offer.taskId)
    const accepted = decision === "approve" && !endedTasks.has(offer.taskId)
    if (accepted) acceptedTasks.add(offer.taskId)
    else void runner.forget(offer.taskId)
    emitEvent({ type: "rejoin", taskId: offer.taskId, accepted, reason })
  }

  /**
   * Each task's requests whose reply may still be asked for, by request id, in arrival order, with their outcomes:
   * the coordinator sends an open request again when it has no acknowledgement of it (a copy lost between its
   * instances, a connection that closed), and reminds of one acknowledged when the reply may have been lost; the
   * same id is answered with the same reply, never computed twice. A task may have several requests open at once
   * here (a contribution task trains its coalitions concurrently, each a federated run among its members), so a
   * later request does not make an earlier one's reply unneeded: a request is let go (superseded) only once its
   * reply was acknowledged by the coordinator and a later request of its task has come — a sequential task's rounds
   * still keep one outcome at a time — or when the task ends. A reply emitted into a link that died unnoticed is
   * not acknowledged, so the reminder that follows the reconnection gets it again.
   */
  const held = new Map<string, Map<string, HeldRequest>>()
  /**
   * Ids of requests let go (superseded, or their task ended), bounded, oldest forgotten first: a late copy of one
   * (sent again while its reply was on the way) is acknowledged and dropped, never computed again.
   */
  const superseded = new Set<string>()
  const supersede = (requestId: string) => {
    superseded.add(requestId)
    if (superseded.size > 10_000) superseded.delete(superseded.values().next().value!)
  }
  /**
   * Lets go of `taskId`'s requests whose replies the coordinator acknowledged, but its latest; beyond
   * `heldPerTask` (a coordinator that never acknowledges replies), of the oldest as well.
   */
  const release = (taskId: string) => {
    const requests = held.get(taskId)
    if (requests === undefined) return
    const latest = [...requests.keys()].at(-1)
    for (const [requestId, entry] of requests) {
      if (requestId === latest) break
      if (entry.acknowledged || requests.size > heldPerTask) {
        requests.delete(requestId)
        supersede(requestId)
      }
    }
  }
  /** The acknowledgement socket.io hands a handler, when the coordinator asked for one. */
  const acknowledge = (ack: unknown, receipt: StageReceipt) => {
    if (typeof ack === "function") ack(receipt)
  }
  /** Sends a computed reply; the coordinator's acknowledgement of it lets the request go (`release`). */
  const replyWith = (request: { readonly requestId: string; readonly taskId: string }, entry: HeldRequest, outcome: StageOutcome) =>
    socket.emit(events.reply, { requestId: request.requestId, taskId: request.taskId, stage: entry.stage, outcome }, () => {
      entry.acknowledged = true
      release(request.taskId)
    })
  const compute = async (request: StageRequest): Promise<StageOutcome> => {
    await rejoining.get(request.taskId)
    const computed = await runner.stage(request)
    // A reply over the frame limit would only get this connection closed: fail the stage instead, saying why.
    return fitsFrame(computed)
      ? computed
      : { ok: false as const, code: "TooLarge", detail: `the reply to ${request.stage} exceeds the ${maxMessageBytes}-byte message limit` }
  }
  on(events.request, async (raw: unknown, ack?: unknown) => {
    const request = decodeOr(StageRequest, raw)
    if (!request) return
    // Received: the coordinator stops sending it, whatever the computing takes.
    acknowledge(ack, { requestId: request.requestId, known: true })
    const previous = held.get(request.taskId)?.get(request.requestId)
    if (previous !== undefined) {
      // A copy: the reply again once computed (still computing, the first copy's handler sends it).
      if (previous.settled !== undefined) replyWith(request, previous, previous.settled)
      return
    }
    if (superseded.has(request.requestId)) return
    const entry: HeldRequest = { stage: request.stage, acknowledged: false }
    let requests = held.get(request.taskId)
    if (requests === undefined) held.set(request.taskId, (requests = new Map()))
    requests.set(request.requestId, entry)
    release(request.taskId)
    const outcome = await compute(request)
    entry.settled = outcome
    replyWith(request, entry, outcome)
    emitEvent({ type: "stage", taskId: request.taskId, stage: request.stage, ok: outcome.ok, detail: outcome.ok ? undefined : `${outcome.code}: ${outcome.detail}` })
  })

  // An acknowledged request still open at the coordinator: its reply again if computed (it may have been lost), or
  // word that this participant does not have it (its memory was lost with a restart), so it is sent in full.
  on(events.remind, (raw: unknown, ack?: unknown) => {
    const reminder = decodeOr(StageReminder, raw)
    if (!reminder) return
    const entry = held.get(reminder.taskId)?.get(reminder.requestId)
    acknowledge(ack, { requestId: reminder.requestId, known: entry !== undefined || superseded.has(reminder.requestId) })
    if (entry?.settled !== undefined) replyWith(reminder, entry, entry.settled)
  })

  on(events.ended, (raw: unknown) => {
    const ended = decodeOr(TaskEnded, raw)
    if (!ended) return
    void runner.forget(ended.taskId)
    acceptedTasks.delete(ended.taskId)
    for (const requestId of held.get(ended.taskId)?.keys() ?? []) supersede(requestId)
    held.delete(ended.taskId)
    endedTask(ended.taskId)
    emitEvent({ type: "ended", taskId: ended.taskId, status: ended.status, reason: ended.reason, ...(ended.artifacts === undefined ? {} : { artifacts: ended.artifacts }) })
  })

  const endedTask = (taskId: string) => {
    endedTasks.add(taskId)
    answers.delete(taskId)
    if (endedTasks.size > 1000) endedTasks.delete(endedTasks.values().next().value!)
    waiting.get(taskId)?.resolve({ approve: false, reason: "the task ended before a human decided" })
    waiting.delete(taskId)
  }

  on(events.humanDecision, (raw: unknown, ack?: (answer: { ok: boolean; detail?: string }) => void) => {
    const reply = typeof ack === "function" ? ack : () => {}
    const decision = decodeOr(HumanDecision, raw)
    if (!decision) return reply({ ok: false, detail: "malformed decision" })
    const pending = waiting.get(decision.taskId)
    if (!pending) return reply({ ok: false, detail: `no decision of task ${decision.taskId} is awaited here` })
    const answer = { taskId: decision.taskId, participant: self, approve: decision.approve, reason: decision.reason }
    if (config.dashboardToken === undefined || !HumanToken.verify(config.dashboardToken, answer, decision.mac)) {
      return reply({ ok: false, detail: "the decision does not carry this participant's dashboard token" })
    }
    waiting.delete(decision.taskId)
    pending.resolve({ approve: decision.approve, reason: decision.reason })
    reply({ ok: true })
  })

  // A dashboard user signing in as this org with its dashboard token: sign the coordinator's sign-in message only
  // when the token's MAC over it checks, and only a message for this account at a coordinator instance this agent
  // connects to (never a sign-in elsewhere, whoever relays it).
  const origins = endpoints.map((e) => new URL(e.url))
  on(events.dashboardSignIn, (raw: unknown, ack?: (answer: { ok: boolean; signature?: string; detail?: string }) => void) => {
    const reply = typeof ack === "function" ? ack : () => {}
    const request = decodeOr(DashboardSignIn, raw)
    if (!request) return reply({ ok: false, detail: "malformed sign-in request" })
    const fields = SignIn.parse(request.message)
    if (fields === undefined || fields.address !== self || !origins.some((o) => fields.domain === o.host && fields.uri === o.origin)) {
      return reply({ ok: false, detail: `not a sign-in for ${self} at ${origins.map((o) => o.host).join(" or ")}` })
    }
    if (config.dashboardToken === undefined || !HumanToken.verifySignIn(config.dashboardToken, request.message, request.mac)) {
      return reply({ ok: false, detail: "the sign-in does not carry this participant's dashboard token" })
    }
    emitEvent({ type: "dashboard-sign-in" })
    signIn.signMessage(request.message).then((signature) => reply({ ok: true, signature }), (error: unknown) => reply({ ok: false, detail: String(error) }))
  })

  on("connect", () => {
    for (const { announce } of waiting.values()) socket.emit(events.awaitingHuman, announce)
  })

  on(events.error, (raw: unknown) => {
    const error = decodeOr(WireErrorSchema, raw)
    if (error) emitEvent({ type: "wire-error", error })
  })

  on("disconnect", (reason: Socket.DisconnectReason) => {
    emitEvent({ type: "disconnected", reason })
    // Closed by this side (the agent closing, or moving to another instance): nothing to do.
    if (reason === "io client disconnect") return
    // The server dropped us (e.g. the org was suspended): the same instance again on `readmission`.
    if (reason === "io server disconnect") return readmit(new NotAdmitted({ code: "ServerDisconnect", detail: "the coordinator closed the connection" }))
    // The link or the instance failed: move on to the next.
    failover()
  })

  on("connect", () => {
    emitEvent({ type: "connected", coordinator: endpoints[at]!.url })
    resolveConnected()
  })
  /**
   * One more connection attempt at the same instance: fails with NotAdmitted if refused again (whatever the code);
   * succeeds once admitted, or on transport trouble, which the `connect_error` handler below answers by moving to
   * the next instance. The auth callback signs a fresh nonce for it, as for every attempt.
   */
  const readmitOnce = Effect.callback<void, NotAdmitted>((resume) => {
    const current = socket
    if (closed || current.connected) return resume(Effect.void)
    const admitted = () => {
      current.off("connect_error", refused)
      resume(Effect.void)
    }
    const refused = (error: Error & { data?: { code?: string } }) => {
      current.off("connect", admitted)
      const code = error.data?.code
      resume(code === undefined ? Effect.void : Effect.fail(new NotAdmitted({ code, detail: error.message })))
    }
    current.once("connect", admitted)
    current.once("connect_error", refused)
    current.connect()
    return Effect.sync(() => {
      current.off("connect", admitted)
      current.off("connect_error", refused)
    })
  })
  let readmitting: Fiber.Fiber<void, NotAdmitted> | undefined
  /**
   * Asks the same instance again on the `readmission` schedule, from the answer just seen, until it admits this org
   * or the link fails. While it runs, the refusals it meets are the `connect_error` handler's to report, not to
   * start another.
   */
  const readmit = (answer: NotAdmitted) => {
    if (closed || readmitting !== undefined) return
    let seen: NotAdmitted | undefined = answer
    // The answer already seen is the schedule's first failure, so the first try again waits its first delay.
    const tries = Effect.suspend(() => {
      const first = seen
      seen = undefined
      return first === undefined ? readmitOnce : Effect.fail(first)
    })
    readmitting = Effect.runFork(Effect.retry(tries, readmission).pipe(Effect.ensuring(Effect.sync(() => (readmitting = undefined)))))
  }

  on("connect_error", (error: Error & { data?: { code?: string } }) => {
    const code = error.data?.code
    // Transport trouble: the next instance is tried (a refused certificate is reported first).
    if (code === undefined) {
      untrusted(error)
      return failover()
    }
    emitEvent({ type: "refused", code, message: error.message })
    // A verdict on the org rejects `connected`; the coordinator's own trouble leaves it pending (Admission.isTransient).
    // The hub sends the refusal's message, "<code>: <detail>": the detail is what follows the code.
    if (!isTransient(code)) rejectConnected(new AdmissionRefused({ code, detail: error.message.startsWith(`${code}: `) ? error.message.slice(code.length + 2) : error.message }))
    readmit(new NotAdmitted({ code, detail: error.message }))
  })

  let closed = false
  socket = open()
  return {
    address: self,
    datasets: runner.datasets.map((d) => ({ name: d.name, kind: d.kind, rows: d.rowCount })),
    /** A dataset's content hash as its rows are now (a pass over them in the protocol thread; a catalogue's dataHash). */
    contentHash: (name: string) => runner.contentHash(name),
    connected,
    isConnected: () => socket.connected,
    /** What this participant has sent the coordinator since it started, in bytes and socket.io packets. */
    traffic: () => ({ ...traffic }),
    /** The coordinator's HTTP API, signed in as this org when a route needs it (artifacts of model requests). */
    get api() {
      return apis[at]!
    },
    on: (listener: (event: AgentEvent) => void) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    /** For tests and tools: send a raw event as this participant (the coordinator must refuse anything bad). */
    rawEmit: (event: string, payload: unknown) => socket.emit(event, payload),
    close: async () => {
      closed = true
      if (failing !== undefined) await Effect.runPromise(Fiber.interrupt(failing))
      if (readmitting !== undefined) await Effect.runPromise(Fiber.interrupt(readmitting))
      socket.close()
      await runner.close()
      for (const e of endpoints) await e.close()
    }
  }
}

