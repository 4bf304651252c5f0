/**
 * The socket.io side of the coordinator: admits participants (Auth), decodes every incoming event with the
 * wire Schemas, answers a bad message with a typed `wire.error` and keeps serving, and hands good messages to
 * the scheduler (consents) and the round host (stage replies).
 *
 * Several coordinator instances share one socket.io cluster through an adapter (the official Postgres adapter,
 * coordinator/src/cluster/): every participant socket joins the room of its account, so a message for a
 * participant connected to another instance goes to that room and the adapter delivers it there. A socket held
 * here is written to directly, without a round trip through the adapter.
 *
 * Abuse limits (SocketLimits.ts): only the authenticated `/participants` namespace is served — a connection
 * asking for `/` or any other namespace is refused and closed at once; a connection not admitted within the
 * handshake deadline is closed; frames larger than the application's message limit close the connection in
 * the transport itself (`maxHttpBufferSize` is that limit); a message may carry a few binary attachments (the OT PSI
 * relay's sealed boxes: Messages.ts `maxAttachments`), and one announcing more, or whose JSON and attachments together
 * pass that limit, is refused by the parser with a FrameRefused and closes the connection before any handler sees it
 * (Messages.ts `boundedParser`); new connections per address and events per account and per address are rate limited, answered with
 * a `RateLimited` wire.error, and a socket that keeps flooding is dropped. Every refusal is counted.
 */
import { Cause, Context, Effect, Exit, Layer, Schema } from "effect"
import { Server, type ServerOptions, type Socket } from "socket.io"
import * as SocketIoParser from "socket.io-parser"
import type { WireError } from "@jointly/core/internal/wire/Messages"
import { boundedParser, FrameRefused, WireRefusal } from "@jointly/core/internal/wire/Messages"
import { AwaitingHuman, events, HandshakeAuth, HumanAck, maxMessageBytes, StageReply, TaskConsent } from "@jointly/core/internal/wire/Messages"
import { DashboardSignInAck } from "@jointly/core/internal/wire/Messages"
import type { DashboardSignIn, HumanDecision } from "@jointly/core/internal/wire/Messages"
import type { StageReminder, StageRequest, TaskEnded, TaskOffer } from "@jointly/core/internal/wire/Messages"
import { StageReceipt } from "@jointly/core/internal/wire/Messages"
import { AdmissionRefused, type Auth } from "../auth/Auth.ts"
import * as Rejections from "../limits/Rejections.ts"
import type { Log } from "../Log.ts"
import * as ClientAddress from "../net/ClientAddress.ts"
import * as ClientCertificates from "../auth/ClientCertificates.ts"
import type { Server as Listener } from "../net/Listener.ts"
import * as AckTimeout from "./AckTimeout.ts"
import * as SocketLimits from "./SocketLimits.ts"

/** A refusal a handler raises for the sender: becomes a `wire.error` reply, never a crash. */
export { WireRefusal }

/**
 * Where decoded messages go. A handler refuses with a WireRefusal (a `wire.error` to the sender); any other
 * failure is a defect, logged and answered `Internal`.
 */
export interface Inbound {
  readonly consent: (account: string, message: TaskConsent) => Effect.Effect<void, WireRefusal>
  readonly reply: (account: string, message: StageReply) => Effect.Effect<void, WireRefusal>
  readonly online: (account: string) => void
  readonly offline: (account: string) => void
  /** A participant's "ask" policy waits for a human (the dashboard shows it). */
  readonly awaitingHuman?: (account: string, message: AwaitingHuman) => Effect.Effect<void, WireRefusal>
}

export const namespace = "/participants"

/** The room every socket of `account` joins: what other instances address it by. */
export const roomOf = (account: string) => `account:${account.toLowerCase()}`

/** The events a participant may send; anything else is answered UnknownStage. */
const inboundEvents: ReadonlySet<string> = new Set([events.consent, events.reply, events.awaitingHuman])

export interface HubOptions {
  readonly limits?: SocketLimits.SocketLimits
  /** Shared with the HTTP API's limits, so the dashboard shows every count in one place. */
  readonly rejections?: Rejections.Rejections
  /** Resolves a connection's client address (X-Forwarded-For only from trusted proxies). */
  readonly clientAddress?: ClientAddress.ClientAddress
  /** A socket.io adapter spanning several instances (default: this process only). */
  readonly adapter?: ServerOptions["adapter"]
  /** Whether `account` is connected to another instance (presence kept by the cluster). */
  readonly remote?: (account: string) => boolean
  /**
   * How long a stage request's acknowledgement is waited for before the sending counts as lost, by the request's
   * encoded size (AckTimeout.ts; default `AckTimeout.defaults`): one counted lost is sent again in full.
   */
  readonly ackTimeout?: AckTimeout.Settings
}

export const make = (http: Listener, auth: Auth, log: Log, options: HubOptions = {}) => {
  const rejections = options.rejections ?? Rejections.make()
  const limits = options.limits ?? SocketLimits.defaults
  const limiter = SocketLimits.make(limits, rejections)
  const addressOf = options.clientAddress ?? ClientAddress.make()
  const remote = options.remote ?? (() => false)
  const ackTimeout = options.ackTimeout ?? AckTimeout.defaults
  // A request sent again is the same object: its size is estimated once.
  const waits = new WeakMap<object, number>()
  const ackTimeoutMsOf = (message: object): number => {
    const known = waits.get(message)
    if (known !== undefined) return known
    const ms = AckTimeout.forBytes(ackTimeout, AckTimeout.estimatedBytes(message))
    waits.set(message, ms)
    return ms
  }
  const decodeReceipt = Schema.decodeUnknownExit(StageReceipt)
  const io = new Server(http, {
    // The transport's limit is the application's: a larger frame closes the connection before it is buffered.
    maxHttpBufferSize: maxMessageBytes,
    serveClient: false,
    transports: ["websocket"],
    // Our own deadline below closes and counts first; socket.io's is the backstop.
    connectTimeout: 2 * limits.handshakeTimeoutMs,
    cleanupEmptyChildNamespaces: true,
    // A refused message is counted: too large with the frames over the transport's limit, any other refusal (too
    // many attachments, a malformed packet) as malformed.
    parser: boundedParser(SocketIoParser, (error) =>
      rejections.count(error instanceof FrameRefused && error.reason === "TooLarge" ? SocketLimits.counterNames.tooLarge : SocketLimits.counterNames.malformedFrame)),
    ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
    allowRequest: (req, callback) => {
      const allowed = limiter.connection(addressOf(req.socket.remoteAddress, req.headers["x-forwarded-for"]))
      callback(allowed ? null : "RateLimited: too many connections from this address", allowed)
    }
  })
  const nsp = io.of(namespace)
  const sockets = new Map<string, Socket>()
  /** Engine connections admitted to `/participants`; any other is closed at the handshake deadline. */
  const admitted = new WeakSet<object>()
  let inbound: Inbound | undefined

  io.engine.on("connection", (conn: { close: () => void; once: (event: "close", listener: (reason: string, description?: unknown) => void) => void }) => {
    const deadline = setTimeout(() => {
      if (admitted.has(conn)) return
      rejections.count(SocketLimits.counterNames.handshakeTimeout)
      conn.close()
    }, limits.handshakeTimeoutMs)
    deadline.unref()
    conn.once("close", (_reason, description) => {
      clearTimeout(deadline)
      // engine.io keeps only the text of ws's WS_ERR_UNSUPPORTED_MESSAGE_LENGTH (close code 1009).
      if (/Max payload size exceeded/.test(String((description as Error | undefined)?.message))) {
        rejections.count(SocketLimits.counterNames.tooLarge)
      }
    })
  })

  /**
   * A refused namespace connection as socket.io hands it to the client (`connect_error`): its message, and the
   * admission code in `data`, which the participant turns back into its typed AdmissionRefused.
   */
  const connectRefusal = (code: string, message: string) => Object.assign(new Error(message), { data: { code } })

  // `/` always exists in socket.io and any other name would be answered "Invalid namespace" on a connection
  // left open: refuse both and close the connection once the refusal is written.
  const refuseNamespace = (socket: Socket, next: (error?: Error) => void) => {
    rejections.count(SocketLimits.counterNames.namespaceRefused)
    log.warn("namespace refused", { namespace: socket.nsp.name })
    next(connectRefusal("NotAuthorized", `NotAuthorized: only ${namespace} is served here`))
    setImmediate(() => socket.conn.close())
  }
  io.of("/").use(refuseNamespace)
  io.of(/.*/).use(refuseNamespace)

  nsp.use((socket, next) => {
    const address = addressOf(socket.handshake.address, socket.handshake.headers["x-forwarded-for"])
    socket.data.address = address
    // A namespace connect costs chain reads (Auth.admit): it draws on the address's connection budget too.
    if (!limiter.connection(address)) {
      return next(connectRefusal("RateLimited", "RateLimited: too many connections from this address"))
    }
    const decoded = Schema.decodeUnknownExit(HandshakeAuth)(socket.handshake.auth)
    if (decoded._tag === "Failure") {
      return next(connectRefusal("Malformed", "Malformed: the handshake needs { account, nonce, issuedAt, signature }"))
    }
    const clientKey = ClientCertificates.spkiOfSocket(socket.request.socket)
    void Effect.runPromiseExit(auth.admit(decoded.value, clientKey === undefined ? {} : { clientKey })).then((exit) => {
      if (Exit.isSuccess(exit)) {
        socket.data.account = exit.value.account
        socket.data.org = exit.value.org
        return next()
      }
      const error = Cause.squash(exit.cause)
      const code = error instanceof AdmissionRefused ? error.code : "Internal"
      log.warn("handshake refused", { code, message: String((error as Error).message ?? error) })
      next(connectRefusal(code, error instanceof AdmissionRefused ? error.message : "Internal: admission check failed"))
    })
  })

  const refuse = (socket: Socket, error: WireError) => {
    log.warn("message refused", { account: socket.data.account, ...error })
    socket.emit(events.error, error)
  }

  /**
   * Schema decode, then the handler; any failure becomes a typed reply to the sender only. A sender that asked for
   * an acknowledgement (a participant's stage reply: AgentSession keeps the reply until then, to send it again when
   * reminded) gets it once the message was handled here — taken by the round engine, forwarded to the task's
   * owner, or refused, which sending it again would not change — and not for one the rate limit dropped.
   */
  const on = <A, I>(socket: Socket, event: string, schema: Schema.Codec<A, I>, handle: (account: string, message: A) => Effect.Effect<void, WireRefusal>) => {
    socket.on(event, (raw: unknown, ack?: unknown) => {
      const received = Effect.sync(() => {
        if (typeof ack === "function") ack()
      })
      const decoded = Schema.decodeUnknownExit(schema)(raw)
      if (decoded._tag === "Failure") {
        Effect.runSync(received)
        return refuse(socket, { code: "Malformed", message: `${event}: ${String(decoded.cause)}`, ref: event })
      }
      // The socket's event handler is the edge: the message's handling runs detached, its answer goes to the sender.
      Effect.runFork(handle(socket.data.account, decoded.value).pipe(
        Effect.catchTag("WireRefusal", (error) => Effect.sync(() => refuse(socket, { code: error.code, message: error.message, ref: error.ref ?? event }))),
        Effect.catchCause((cause) =>
          Effect.sync(() => {
            log.error("handler failed", { event, error: String(Cause.squash(cause)) })
            refuse(socket, { code: "Internal", message: `${event} could not be processed`, ref: event })
          })
        ),
        Effect.ensuring(received)
      ))
    })
  }

  /**
   * Every incoming event draws on its account's and its address's budget before it is even looked at (socket.io
   * runs these middlewares before any handler; `onAny` listeners would run before them). Over budget it is
   * dropped, answered with at most one RateLimited wire.error a second, and a socket that goes on sending
   * `disconnectAfter` refused events in a row is dropped.
   */
  const limitEvents = (socket: Socket) => {
    let refusedInARow = 0
    let lastNotice = 0
    socket.use(([event], next) => {
      // Frames already received when a flooding socket was dropped are not events any more.
      if (!socket.connected) return
      const verdict = limiter.event(socket.data.account, socket.data.address)
      if (verdict === "ok") {
        refusedInARow = 0
        // Any other event is a protocol violation: say so instead of ignoring it silently.
        if (!inboundEvents.has(String(event))) return refuse(socket, { code: "UnknownStage", message: `unknown event ${String(event)}`, ref: String(event) })
        return next()
      }
      refusedInARow++
      const rate = verdict === "account" ? limits.eventsPerAccount : limits.eventsPerAddress
      const message = `more than ${rate.limit} events in ${rate.windowMs} ms from this ${verdict}; ${String(event)} dropped`
      if (refusedInARow >= limits.disconnectAfter) {
        rejections.count(SocketLimits.counterNames.dropped)
        refuse(socket, { code: "RateLimited", message: `${message}; disconnected after ${refusedInARow} refused events in a row`, ref: String(event) })
        socket.disconnect(true)
        return
      }
      if (Date.now() - lastNotice >= 1_000) {
        lastNotice = Date.now()
        refuse(socket, { code: "RateLimited", message, ref: String(event) })
      }
    })
  }

  nsp.on("connection", (socket) => {
    const account: string = socket.data.account
    const previous = sockets.get(account)
    sockets.set(account, socket)
    void socket.join(roomOf(account))
    // A participant that reconnects replaces its old socket; the old one must not linger as a second identity.
    if (previous && previous.id !== socket.id) previous.disconnect(true)
    admitted.add(socket.conn)
    log.info("participant connected", { account, org: socket.data.org })
    limitEvents(socket)
    on(socket, events.consent, TaskConsent, (who, m) => inbound!.consent(who, m))
    on(socket, events.reply, StageReply, (who, m) => inbound!.reply(who, m))
    on(socket, events.awaitingHuman, AwaitingHuman, (who, m) => inbound!.awaitingHuman?.(who, m) ?? Effect.void)
    socket.on("disconnect", () => {
      if (sockets.get(account) === socket) {
        sockets.delete(account)
        log.info("participant disconnected", { account })
        inbound?.offline(account)
      }
    })
    inbound?.online(account)
  })

  /** To the socket held here, else through the adapter to the instance that holds it; false when it is nowhere. */
  const emit = (account: string, event: string, payload: unknown): boolean => {
    const socket = sockets.get(account)
    if (socket) {
      socket.emit(event, payload)
      return true
    }
    if (!remote(account)) return false
    nsp.to(roomOf(account)).emit(event, payload)
    return true
  }

  /**
   * Sends a stage request or reminder and calls `answered` with the participant's StageReceipt for `requestId`, or
   * with undefined once none came within the wait for its size (AckTimeout.ts; or nobody holds the socket); false
   * when it is nowhere.
   * Held elsewhere, the adapter carries the acknowledgement back (what each socket of the room answered).
   */
  const emitForReceipt = (account: string, event: string, payload: object, requestId: string, answered: (receipt: StageReceipt | undefined) => void): boolean => {
    const socket = sockets.get(account)
    if (!socket && !remote(account)) return false
    const ackTimeoutMs = ackTimeoutMsOf(payload)
    const decide = (answers: ReadonlyArray<unknown>) => {
      const receipts = answers.flatMap((raw) => {
        const decoded = decodeReceipt(raw)
        return decoded._tag === "Success" && decoded.value.requestId === requestId ? [decoded.value] : []
      })
      answered(receipts.find((r) => r.known) ?? receipts[0])
    }
    if (socket) socket.timeout(ackTimeoutMs).emit(event, payload, (_error: unknown, answer: unknown) => decide(answer === undefined ? [] : [answer]))
    else nsp.to(roomOf(account)).timeout(ackTimeoutMs).emit(event, payload, (_error: unknown, answers: unknown) => decide(Array.isArray(answers) ? answers : []))
    return true
  }

  /** Sends `payload` to the org's participant and decodes its acknowledgement; undefined when it is offline or silent. */
  const ask = async <A extends { readonly ok: boolean; readonly detail?: string | undefined }>(
    account: string,
    event: string,
    payload: unknown,
    answer: Schema.Codec<A, unknown>
  ): Promise<A | undefined> => {
    const socket = sockets.get(account)
    if (!socket && !remote(account)) return undefined
    try {
      // Held elsewhere: the adapter carries the acknowledgement back (one per socket in the room).
      const raw = socket ? await socket.timeout(10_000).emitWithAck(event, payload) : (await nsp.to(roomOf(account)).timeout(10_000).emitWithAck(event, payload))[0]
      if (raw === undefined) return undefined
      const decoded = Schema.decodeUnknownExit(answer)(raw)
      return decoded._tag === "Success" ? decoded.value : ({ ok: false, detail: "the participant's answer does not decode" } as A)
    } catch {
      return undefined
    }
  }

  return {
    io,
    rejections,
    bind: (handlers: Inbound) => {
      inbound = handlers
    },
    isOnline: (account: string) => sockets.has(account) || remote(account),
    /** Accounts connected to this instance. */
    online: () => [...sockets.keys()],
    /** Accounts connected to this instance (what it announces to the others). */
    local: () => [...sockets.keys()],
    /** A refusal for `account` wherever it is connected (a message another instance forwarded here was refused). */
    refuse: (account: string, error: WireError) => {
      log.warn("message refused", { account, ...error })
      emit(account, events.error, error)
    },
    offer: (account: string, offer: TaskOffer) => emit(account, events.offer, offer),
    /**
     * A stage request; `delivered` hears whether the participant acknowledged it in time (false: lost, to be sent
     * again). False when it is nowhere.
     */
    request: (account: string, request: StageRequest, delivered: (delivered: boolean) => void = () => {}) =>
      emitForReceipt(account, events.request, request, request.requestId, (receipt) => delivered(receipt?.known === true)),
    /**
     * A reminder of an acknowledged request (no payload); `forgotten` is called when the participant answers that
     * it does not have the request (its memory was lost): it must be sent in full. False when it is nowhere.
     */
    remind: (account: string, reminder: StageReminder, forgotten: () => void = () => {}) =>
      emitForReceipt(account, events.remind, reminder, reminder.requestId, (receipt) => {
        if (receipt?.known === false) forgotten()
      }),
    ended: (account: string, message: TaskEnded) => emit(account, events.ended, message),
    /** Relays a human's decision to the participant, which checks it and answers; undefined when it is offline or silent. */
    relayHuman: (account: string, decision: HumanDecision): Promise<HumanAck | undefined> => ask(account, events.humanDecision, decision, HumanAck),
    /** Relays a dashboard token sign-in to the org's participant; undefined when it is not connected or does not answer. */
    relaySignIn: (account: string, request: DashboardSignIn): Promise<DashboardSignInAck | undefined> =>
      ask(account, events.dashboardSignIn, request, DashboardSignInAck),
    /** Disconnects an org's socket, e.g. right after the supervisor suspends it. */
    kick: (account: string, reason: string) => {
      const socket = sockets.get(account)
      if (socket) {
        socket.emit(events.error, { code: "NotAuthorized", message: reason })
        socket.disconnect(true)
      } else if (remote(account)) {
        nsp.to(roomOf(account)).emit(events.error, { code: "NotAuthorized", message: reason })
        nsp.in(roomOf(account)).disconnectSockets(true)
      }
    },
    close: () => new Promise<void>((resolve) => io.close(() => resolve()))
  }
}

export type HubShape = ReturnType<typeof make>

/** The participants' socket hub as a service: what the scheduler, the dashboard and the round channel send through. */
export class Hub extends Context.Service<Hub, HubShape>()("jointly/coordinator/Hub") {}

/** The hub on `http`, closed (every socket with it) when the layer's scope closes. */
export const layer = (http: Listener, auth: Auth, log: Log, options: HubOptions = {}): Layer.Layer<Hub> =>
  Layer.effect(
    Hub,
    Effect.acquireRelease(
      Effect.sync(() => make(http, auth, log, options)),
      // Closing must not fail the scope: a socket server that does not close cleanly is reported.
      (hub) => Effect.tryPromise(hub.close).pipe(Effect.catch((error) => Effect.logWarning("the participant hub did not close cleanly", error.cause)))
    )
  )
