/**
 * The socket.io side of the coordinator: admits participants (Auth), decodes every incoming event with the
 * wire Schemas, answers a bad message with a typed `wire.error` and keeps serving, and hands good messages to
 * the scheduler (consents) and the round host (stage replies).
 *
 * Several coordinator instances share one socket.io cluster through an adapter (the official Postgres adapter,
 * coordinator/src/cluster/): every participant socket joins the room of its account, so a message for a
 * participant connected to another instance goes to that room and the adapter delivers it there. A socket held
 * here is written to directly, without a round trip through the adapter.
 */
import type { Server as HttpServer } from "node:http"
import { Schema } from "effect"
import { Server, type ServerOptions, type Socket } from "socket.io"
import type { WireError } from "@jointly/core/wire/Messages.ts"
import { WireRefusal } from "@jointly/core/wire/Messages.ts"
import { AwaitingHuman, events, HandshakeAuth, HumanAck, maxMessageBytes, StageReply, TaskConsent, transportMaxBytes } from "@jointly/core/wire/Messages.ts"
import type { HumanDecision } from "@jointly/core/wire/Messages.ts"
import type { StageRequest, TaskEnded, TaskOffer } from "@jointly/core/wire/Messages.ts"
import { AdmissionRefused, type Auth } from "../auth/Auth.ts"
import type { Log } from "../Log.ts"

/** A refusal a handler raises for the sender: becomes a `wire.error` reply, never a crash. */
export { WireRefusal }

export interface Inbound {
  readonly consent: (account: string, message: TaskConsent) => Promise<void>
  readonly reply: (account: string, message: StageReply) => Promise<void>
  readonly online: (account: string) => void
  readonly offline: (account: string) => void
  /** A participant's "ask" policy waits for a human (the dashboard shows it). */
  readonly awaitingHuman?: (account: string, message: AwaitingHuman) => Promise<void>
}

export const namespace = "/participants"

/** The room every socket of `account` joins: what other instances address it by. */
export const roomOf = (account: string) => `account:${account.toLowerCase()}`

export interface Options {
  /** A socket.io adapter spanning several instances (default: this process only). */
  readonly adapter?: ServerOptions["adapter"]
  /** Whether `account` is connected to another instance (presence kept by the cluster). */
  readonly remote?: (account: string) => boolean
}

const byteLength = (value: unknown): number => {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? "")
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

export const make = (http: HttpServer, auth: Auth, log: Log, options: Options = {}) => {
  const io = new Server(http, { maxHttpBufferSize: transportMaxBytes, serveClient: false, ...(options.adapter === undefined ? {} : { adapter: options.adapter }) })
  const remote = options.remote ?? (() => false)
  const nsp = io.of(namespace)
  const sockets = new Map<string, Socket>()
  let inbound: Inbound | undefined

  nsp.use((socket, next) => {
    const decoded = Schema.decodeUnknownExit(HandshakeAuth)(socket.handshake.auth)
    if (decoded._tag === "Failure") {
      return next(Object.assign(new Error("Malformed: the handshake needs { account, nonce, issuedAt, signature }"), { data: { code: "Malformed" } }))
    }
    auth.admit(decoded.value).then(
      (who) => {
        socket.data.account = who.account
        socket.data.org = who.org
        next()
      },
      (error) => {
        const code = error instanceof AdmissionRefused ? error.code : "Internal"
        log.warn("handshake refused", { code, message: String(error.message ?? error) })
        next(Object.assign(new Error(error instanceof AdmissionRefused ? error.message : "Internal: admission check failed"), { data: { code } }))
      }
    )
  })

  const refuse = (socket: Socket, error: WireError) => {
    log.warn("message refused", { account: socket.data.account, ...error })
    socket.emit(events.error, error)
  }

  /** Size check, Schema decode, then the handler; any failure becomes a typed reply to the sender only. */
  const on = <A, I>(socket: Socket, event: string, schema: Schema.Codec<A, I>, handle: (account: string, message: A) => Promise<void>) => {
    socket.on(event, (raw: unknown) => {
      if (byteLength(raw) > maxMessageBytes) {
        return refuse(socket, { code: "TooLarge", message: `${event} exceeds ${maxMessageBytes} bytes`, ref: event })
      }
      const decoded = Schema.decodeUnknownExit(schema)(raw)
      if (decoded._tag === "Failure") {
        return refuse(socket, { code: "Malformed", message: `${event}: ${String(decoded.cause)}`, ref: event })
      }
      handle(socket.data.account, decoded.value).catch((error: unknown) => {
        if (error instanceof WireRefusal) return refuse(socket, { code: error.code, message: error.message, ref: error.ref ?? event })
        log.error("handler failed", { event, error: String(error) })
        refuse(socket, { code: "Internal", message: `${event} could not be processed`, ref: event })
      })
    })
  }

  nsp.on("connection", (socket) => {
    const account: string = socket.data.account
    const previous = sockets.get(account)
    sockets.set(account, socket)
    void socket.join(roomOf(account))
    // A participant that reconnects replaces its old socket; the old one must not linger as a second identity.
    if (previous && previous.id !== socket.id) previous.disconnect(true)
    log.info("participant connected", { account, org: socket.data.org })
    on(socket, events.consent, TaskConsent, (who, m) => inbound!.consent(who, m))
    on(socket, events.reply, StageReply, (who, m) => inbound!.reply(who, m))
    on(socket, events.awaitingHuman, AwaitingHuman, async (who, m) => inbound!.awaitingHuman?.(who, m))
    // Any other event is a protocol violation: say so instead of ignoring it silently.
    socket.onAny((event: string) => {
      if (event !== events.consent && event !== events.reply && event !== events.awaitingHuman) {
        refuse(socket, { code: "UnknownStage", message: `unknown event ${event}`, ref: event })
      }
    })
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

  return {
    io,
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
    request: (account: string, request: StageRequest) => emit(account, events.request, request),
    ended: (account: string, message: TaskEnded) => emit(account, events.ended, message),
    /** Relays a human's decision to the participant, which checks it and answers; undefined when it is offline or silent. */
    relayHuman: async (account: string, decision: HumanDecision): Promise<HumanAck | undefined> => {
      const socket = sockets.get(account)
      if (!socket && !remote(account)) return undefined
      try {
        // Held elsewhere: the adapter carries the acknowledgement back (one per socket in the room).
        const raw = socket ? await socket.timeout(10_000).emitWithAck(events.humanDecision, decision) : (await nsp.to(roomOf(account)).timeout(10_000).emitWithAck(events.humanDecision, decision))[0]
        if (raw === undefined) return undefined
        const answer = Schema.decodeUnknownExit(HumanAck)(raw)
        return answer._tag === "Success" ? answer.value : { ok: false, detail: "the participant's answer does not decode" }
      } catch {
        return undefined
      }
    },
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

export type Hub = ReturnType<typeof make>
