/**
 * The OT path of the PSI family at one party (spec.ts, `params.protocol: "ot"`): the KKRT engine (../ot-psi) runs
 * in this party's protocol thread over a `Pump`, a link whose messages leave and arrive through the coordinator's
 * `query.ot` rounds, each sealed to the peer (Channel.ts) under its direction and sequence number.
 *
 * The engine's `send` never waits (Link.ts), so the pump buffers what it sends between rounds; a round returns when
 * the engine waits for a message it has not got, has finished, or has filled a reply (`REPLY_BYTES`: a reply and
 * the request that carries it on stay well inside a socket frame once base64-encoded).
 */
import { utf8ToBytes } from "@noble/hashes/utils.js"
import { Cause, Effect, type Exit } from "effect"
import { handler, type ParticipantSession } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import { Aes } from "../ot-psi/Aes.ts"
import * as Engine from "../ot-psi/Engine.ts"
import * as Link from "../ot-psi/Link.ts"
import * as Party from "./Party.ts"
import * as Spec from "./spec.ts"

/** Bytes of engine messages per reply: 6 MiB is 8 MiB in base64, half the 16 MiB socket frame. */
export const REPLY_BYTES = 6 * Link.DEFAULT_MAX_MESSAGE_BYTES

/** A link driven from outside: `deliver` hands it the peer's messages, `drain` takes what the engine sent. */
export class Pump implements Link.Link {
  readonly maxMessageBytes = Link.DEFAULT_MAX_MESSAGE_BYTES
  private inbox: Array<Uint8Array> = []
  private outbox: Array<Uint8Array> = []
  private outboxBytes = 0
  /** Set while the engine waits in `receive` with nothing in the inbox. */
  private waiting: ((message: Uint8Array) => void) | undefined
  private wake: (() => void) | undefined
  outcome: Exit.Exit<Engine.Output, Engine.EngineError> | undefined
  progress: { readonly done: number; readonly total: number } | undefined

  readonly send = (message: Uint8Array) =>
    Effect.sync(() => {
      this.outbox.push(message)
      this.outboxBytes += message.length
      if (this.outboxBytes >= REPLY_BYTES) this.notify()
    })

  readonly receive: Effect.Effect<Uint8Array> = Effect.promise(() => {
    const next = this.inbox.shift()
    if (next !== undefined) return Promise.resolve(next)
    return new Promise<Uint8Array>((resolve) => {
      this.waiting = resolve
      this.notify()
    })
  })

  deliver(message: Uint8Array) {
    const waiting = this.waiting
    this.waiting = undefined
    if (waiting !== undefined) waiting(message)
    else this.inbox.push(message)
  }

  finish(outcome: Exit.Exit<Engine.Output, Engine.EngineError>) {
    this.outcome = outcome
    this.notify()
  }

  /** Resolves once the engine has finished, waits for the peer, or has a full reply to send. */
  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve()
    return new Promise((resolve) => (this.wake = resolve))
  }

  /** What the engine sent, up to a reply's worth (at least one message). */
  drain(): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    let bytes = 0
    while (this.outbox.length > 0 && (out.length === 0 || bytes + this.outbox[0]!.length <= REPLY_BYTES)) {
      const message = this.outbox.shift()!
      bytes += message.length
      out.push(message)
    }
    this.outboxBytes -= bytes
    return out
  }

  get pending() {
    return this.outbox.length
  }

  private isSettled() {
    return this.outcome !== undefined || this.waiting !== undefined || this.outboxBytes >= REPLY_BYTES
  }

  private notify() {
    const wake = this.wake
    if (wake !== undefined && this.isSettled()) {
      this.wake = undefined
      wake()
    }
  }
}

interface OtState {
  readonly pump: Pump
  /** Sequence number of the next message from the peer, and of the next this party sends. */
  nextIn: number
  nextOut: number
  done: boolean
}

const MEMORY = "query/psi-ot"

/** Binds the engine's session to the task, the attempt and the two roles (both sides derive the same bytes). */
const contextOf = (session: ParticipantSession, receiver: string, sender: string) =>
  utf8ToBytes(`jointly/query/psi/ot/v1|${session.taskId}|${session.attempt}|${receiver}|${sender}`)

const label = (from: string, to: string, sequence: number) => `ot|${from}>${to}|${sequence}`

export const handlers = (ctx: Party.Context) => {
  const pump = handler(Spec.ot, ({ from, inbound }, session) =>
    Effect.gen(function*() {
      const stage = Spec.ot.name
      const s = yield* Party.withPeers(session, stage)
      if (s.protocol !== "ot") return yield* Party.fail(session, stage, "UnexpectedStage", "this task runs the ECDH engine")
      const peer = session.participants.find((p) => p !== session.self)!
      const peerKey = s.peers.get(peer)!.channelPublicKey
      let ot = session.memory.get(MEMORY) as OtState | undefined
      if (ot === undefined) {
        const receiver = ctx.holder
        const role = session.self === receiver ? "receiver" : "sender"
        const p = new Pump()
        const options: Engine.Options = {
          context: contextOf(session, receiver, peer === receiver ? session.self : peer),
          maxPeerElements: ctx.params.maxIds,
          revealToSender: ctx.params.receivers.length === 2,
          onProgress: (progress) => {
            if (progress.stage === "values") p.progress = { done: progress.partition + 1, total: progress.partitions }
          }
        }
        const program = role === "receiver" ? Engine.receiver(p, s.set.ids, options) : Engine.sender(p, s.set.ids, options)
        const services = yield* Effect.context<Aes>()
        void Effect.runPromiseExit(Effect.provideContext(program, services)).then((exit) => p.finish(exit))
        ot = { pump: p, nextIn: 0, nextOut: 0, done: false }
        session.memory.set(MEMORY, ot)
      }
      if (from !== ot.nextIn) return yield* Party.fail(session, stage, "OutOfOrder", `expected the peer's message ${ot.nextIn}, the relay starts at ${from}`)
      if (ot.done && inbound.length > 0) return yield* Party.fail(session, stage, "UnexpectedMessage", "the engine already finished")
      for (const box of inbound) {
        ot.pump.deliver(yield* Channel.open(session, stage, s.channel.secretKey, peer, peerKey, label(peer, session.self, ot.nextIn), box))
        ot.nextIn++
      }
      yield* Effect.promise(() => ot.pump.settled())
      const outcome = ot.pump.outcome
      if (outcome !== undefined && outcome._tag === "Failure") {
        const error = Cause.squash(outcome.cause)
        const code = typeof error === "object" && error !== null && "reason" in error ? String(error.reason) : "EngineFailed"
        return yield* Party.fail(session, stage, code, error instanceof Error ? error.message : String(error))
      }
      const outbound: Array<Uint8Array> = []
      for (const message of ot.pump.drain()) {
        outbound.push(yield* Channel.seal(session, stage, s.channel.secretKey, peer, peerKey, label(session.self, peer, ot.nextOut), message))
        ot.nextOut++
      }
      if (outcome !== undefined && ot.pump.pending === 0 && !ot.done) {
        // The size the peer's engine announced must be the one it signed in `query.keys` (what every party was told).
        if (outcome.value.stats.peerElements !== Party.countOf(s, peer)) {
          return yield* Party.fail(session, stage, "CountMismatch", `${peer} signed ${Party.countOf(s, peer)} ids but its engine announced ${outcome.value.stats.peerElements}`)
        }
        ot.done = true
        // Input indices into this party's set, in the common order; empty at a sender without the reveal.
        const matched = Array.from(outcome.value.indices)
        if (ctx.params.receivers.includes(session.self)) {
          s.matched = matched
          s.cardinality = matched.length
        }
      }
      return { outbound, done: ot.done, ...(ot.pump.progress !== undefined && { progress: ot.pump.progress }) }
    })
  )
  return [pump]
}
