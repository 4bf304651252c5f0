/**
 * The OT path of the PSI family at one party (spec.ts, `params.protocol: "ot"`): the KKRT engine (../ot-psi) runs
 * in this party's protocol thread over a `Pump`, a link whose messages leave and arrive through the coordinator's
 * `query.ot` rounds, each sealed to the peer (Channel.ts) under its direction and sequence number.
 *
 * The engine's `send` never waits (Link.ts), so the pump buffers what it sends between rounds; a round returns when
 * the engine waits for a message it has not got, has finished, or has filled a reply (`REPLY_BYTES`, at most
 * `Spec.RELAY_BOXES` messages: a reply and the request that carries it on stay well inside a socket message).
 */
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Cause, Effect, type Exit, Fiber } from "effect"
import { handler, type ParticipantSession } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as IdSpill from "../IdSpill.ts"
import { SpillError } from "../Spill.ts"
import { Aes, AesError } from "../ot-psi/Aes.ts"
import * as Engine from "../ot-psi/Engine.ts"
import * as Link from "../ot-psi/Link.ts"
import * as RowRuns from "../RowRuns.ts"
import * as Party from "./Party.ts"
import * as Resume from "./Resume.ts"
import * as Spec from "./spec.ts"

/** Bytes of engine messages per reply: 6 MiB, inside the coordinator's `Spec.RELAY_BYTES` once sealed. */
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
  outcome: Exit.Exit<Engine.Output, Engine.EngineError | SpillError> | undefined
  progress: { readonly done: number; readonly total: number } | undefined

  readonly send = (message: Uint8Array) =>
    Effect.sync(() => {
      this.outbox.push(message)
      this.outboxBytes += message.length
      if (this.full) this.notify()
    })

  // Never rejects: the promise is only ever resolved, by `deliver`.
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

  finish(outcome: Exit.Exit<Engine.Output, Engine.EngineError | SpillError>) {
    this.outcome = outcome
    this.notify()
  }

  /** Resolves once the engine has finished, waits for the peer, or has a full reply to send. */
  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve()
    return new Promise((resolve) => (this.wake = resolve))
  }

  /** What the engine sent, up to a reply's worth (at least one message, at most `Spec.RELAY_BOXES`). */
  drain(): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    let bytes = 0
    while (this.outbox.length > 0 && (out.length === 0 || (out.length < Spec.RELAY_BOXES && bytes + this.outbox[0]!.length <= REPLY_BYTES))) {
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

  /** A reply's worth is waiting: by bytes, or by messages (each a binary attachment of the reply). */
  private get full() {
    return this.outboxBytes >= REPLY_BYTES || this.outbox.length >= Spec.RELAY_BOXES
  }

  private isSettled() {
    return this.outcome !== undefined || this.waiting !== undefined || this.full
  }

  private notify() {
    const wake = this.wake
    if (wake !== undefined && this.isSettled()) {
      this.wake = undefined
      wake()
    }
  }
}

/** Positions 0…n−1 not in `indices`. */
const unmatched = (n: number, indices: Uint32Array): Array<number> => {
  const hit = new Uint8Array(n)
  for (const i of indices) hit[i] = 1
  const out: Array<number> = []
  for (let i = 0; i < n; i++) if (hit[i] === 0) out.push(i)
  return out
}

/** This party's shape of the task's engine (Resume.Shape): its role, what its output keeps, the buckets, the hash seed. */
const shapeOf = (ctx: Party.Context, session: ParticipantSession, s: Party.Peered): Resume.Shape => {
  const peer = session.participants.find((p) => p !== session.self)!
  return {
    role: session.self === ctx.holder ? "receiver" : "sender",
    keep: !ctx.params.receivers.includes(session.self) ? "nothing" : ctx.mode === "difference" ? "unmatched" : "matched",
    buckets: IdSpill.bucketCount(Math.max(Party.sizeOf(s), Party.countOf(s, peer)), Spec.bucketIdsOf(ctx.params)),
    seed: IdSpill.seedOf(session.taskId)
  }
}

/** The leading buckets an earlier attempt of this task finished that this party can keep (none without a spilled set). */
export const resumable = (ctx: Party.Context, session: ParticipantSession, s: Party.Peered): Effect.Effect<ReadonlyArray<Resume.Bucket>, SpillError> =>
  s.spilled === undefined ? Effect.succeed([]) : Resume.resumable(s.spilled, shapeOf(ctx, session, s))

const total = (buckets: ReadonlyArray<Resume.Bucket>, of: (b: Resume.Bucket) => number) => buckets.reduce((sum, b) => sum + of(b), 0)

/**
 * The engine over this party's set, bucket by bucket when there are several (spec.ts "Buckets"): one engine session
 * per bucket over the same link, its context naming the bucket. An in-memory set is split by the same hash. A
 * spilled one is read back one bucket at a time, and at a party that receives output, what its output lists — the
 * matched ids, or for a difference the unmatched ones — goes back to the spill directory as the bucket closes, as a
 * run sorted by row (`s.runs`, RowRuns.ts), so nothing proportional to the output stays in memory.
 *
 * A spilled set's engine starts after the `kept` buckets of an earlier attempt (spec.ts "Resume") and records each
 * bucket it finishes. Its directory is removed when the engine fails, and otherwise when the task is over (the
 * output written, or the task's memory released as ended): a peer that still has to resume needs this party's
 * record too. An engine stopped by a new attempt keeps it.
 */
const inBuckets = (
  link: Pump,
  s: Party.Peered,
  options: Engine.Options,
  shape: Resume.Shape,
  kept: ReadonlyArray<Resume.Bucket>
): Effect.Effect<Engine.Output, Engine.EngineError | SpillError, Aes> => {
  const engine = shape.role === "receiver" ? Engine.receiver : Engine.sender
  const { spilled } = s
  const { buckets, keep } = shape
  if (buckets === 1 && spilled === undefined) return engine(link, s.set.ids, options)
  const run = Effect.gen(function*() {
    const split = spilled === undefined ? IdSpill.bucketsOf(s.set.ids, shape.seed, buckets) : undefined
    const matched: Array<number> = []
    const runs = spilled === undefined || keep === "nothing" ? undefined : yield* RowRuns.restore(spilled.dir, kept.map((b) => b.kept), buckets)
    const done = [...kept]
    let matches = total(kept, (b) => b.matches)
    let peerElements = total(kept, (b) => b.peerElements)
    let last: Engine.Output | undefined
    for (let b = kept.length; b < buckets; b++) {
      const members = split?.[b]
      const bucket = members !== undefined ? { ids: members.map((i) => s.set.ids[i]!), rows: members } : yield* IdSpill.readBucket(spilled!, b, buckets)
      const context = concatBytes(options.context, utf8ToBytes(`|bucket|${b}|${buckets}`))
      const out = yield* engine(link, bucket.ids, { ...options, context, onProgress: undefined })
      peerElements += out.stats.peerElements
      matches += out.indices.length
      last = out
      link.progress = { done: b + 1, total: buckets }
      if (members !== undefined) {
        for (const i of out.indices) matched.push(members[i]!)
        continue
      }
      const listed = keep === "matched" ? out.indices : unmatched(bucket.ids.length, out.indices)
      if (runs !== undefined) yield* RowRuns.add(runs, bucket, listed)
      done.push({ digest: Resume.digestOf(bucket), matches: out.indices.length, kept: runs === undefined ? 0 : listed.length, peerElements: out.stats.peerElements })
      yield* Resume.record(spilled!.dir, shape, done)
    }
    if (runs !== undefined) {
      s.runs = runs
      s.cardinality = matches
    }
    // The last bucket always runs (Resume.resumable never keeps it), so `last` is set.
    return { indices: Uint32Array.from(matched), stats: { ...last!.stats, elements: Party.sizeOf(s), peerElements } }
  })
  if (spilled === undefined) return run
  return Effect.onExit(run, (exit) => (exit._tag === "Failure" && !Cause.hasInterruptsOnly(exit.cause) ? spilled.dir.remove : Effect.void))
}

interface OtState {
  readonly pump: Pump
  /** Sequence number of the next message from the peer, and of the next this party sends. */
  nextIn: number
  nextOut: number
  done: boolean
  readonly release: () => void
}

const MEMORY = "query/psi-ot"

/** Binds the engine's session to the task, the attempt and the two roles (both sides derive the same bytes). */
const contextOf = (session: ParticipantSession, receiver: string, sender: string) =>
  utf8ToBytes(`jointly/query/psi/ot/v1|${session.taskId}|${session.attempt}|${receiver}|${sender}`)

const label = (from: string, to: string, sequence: number) => `ot|${from}>${to}|${sequence}`

export const handlers = (ctx: Party.Context) => {
  const pump = handler(Spec.ot, ({ from, inbound, resume = 0 }, session) =>
    Effect.gen(function*() {
      const stage = Spec.ot.name
      const s = yield* Party.withPeers(session, stage)
      if (s.protocol !== "ot") return yield* Party.fail(session, stage, "UnexpectedStage", "this task runs the ECDH engine")
      const peer = session.participants.find((p) => p !== session.self)!
      const peerKey = s.peers.get(peer)!.channelPublicKey
      let ot = session.memory.get(MEMORY) as OtState | undefined
      if (ot === undefined) {
        const receiver = ctx.holder
        const shape = shapeOf(ctx, session, s)
        const resumable = s.resumable ?? []
        if (resume > resumable.length) return yield* Party.fail(session, stage, "ResumeMismatch", `asked to resume at bucket ${resume}, but this party kept ${resumable.length}`)
        const p = new Pump()
        const options: Engine.Options = {
          context: contextOf(session, receiver, peer === receiver ? session.self : peer),
          maxPeerElements: ctx.params.maxIds,
          revealToSender: ctx.params.receivers.length === 2,
          onProgress: (progress) => {
            if (progress.stage === "values") p.progress = { done: progress.partition + 1, total: progress.partitions }
          }
        }
        const program = inBuckets(p, s, options, shape, resumable.slice(0, resume))
        const services = yield* Effect.context<Aes>()
        const fiber = Effect.runFork(Effect.provideContext(program, services))
        fiber.addObserver((exit) => p.finish(exit))
        // A task that ends while the engine waits for the peer stops it (and so removes its spill directory).
        ot = { pump: p, nextIn: 0, nextOut: 0, done: false, release: () => void Effect.runFork(Fiber.interrupt(fiber)) }
        session.memory.set(MEMORY, ot)
      }
      if (from !== ot.nextIn) return yield* Party.fail(session, stage, "OutOfOrder", `expected the peer's message ${ot.nextIn}, the relay starts at ${from}`)
      if (ot.done && inbound.length > 0) return yield* Party.fail(session, stage, "UnexpectedMessage", "the engine already finished")
      for (const box of inbound) {
        ot.pump.deliver(yield* Channel.open(session, stage, s.channel.secretKey, peer, peerKey, label(peer, session.self, ot.nextIn), box))
        ot.nextIn++
      }
      // Never rejects (`settled` only resolves); the engine's own failure arrives as `outcome`, answered below.
      yield* Effect.promise(() => ot.pump.settled())
      const outcome = ot.pump.outcome
      if (outcome !== undefined && outcome._tag === "Failure") {
        const error = Cause.squash(outcome.cause)
        const code = typeof error === "object" && error !== null && "reason" in error
          ? String(error.reason)
          : error instanceof SpillError
          ? "SpillFailed"
          : error instanceof AesError
          ? "AesFailed"
          : "EngineFailed"
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
        // Input indices into this party's set, in the common order (empty at a sender without the reveal); with a
        // spilled set, the output's ids are in `s.runs` instead.
        if (ctx.params.receivers.includes(session.self) && s.runs === undefined) {
          s.matched = Array.from(outcome.value.indices)
          s.cardinality = s.matched.length
        }
      }
      return { outbound, done: ot.done, ...(ot.pump.progress !== undefined && { progress: ot.pump.progress }) }
    })
  )
  return [pump]
}
