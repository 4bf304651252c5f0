/**
 * The blinding ring of ECDH-PSI at one party (spec.ts): signed channel keys and set sizes (`keys`, `peers`), one
 * hop of some party's set per `blind` round — hash and blind its own chunk, or raise a peer's chunk to its key
 * and seal it to the next party — and the relay of completed (fully-blinded) chunks to the matchers.
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { BigIntKernels } from "../../../compute/Kernels.ts"
import { Primes } from "../../../compute/Primes.ts"
import * as FixedPoint from "../../../crypto/FixedPoint.ts"
import * as Keys from "../../../crypto/paillier/Keys.ts"
import * as Paillier from "../../../crypto/paillier/Paillier.ts"
import * as Serialization from "../../../crypto/paillier/Serialization.ts"
import * as Local from "../../../data/Local.ts"
import { isNumericType, LocalData } from "../../../data/Tabular.ts"
import * as TaskOutput from "../../../data/TaskOutput.ts"
import { sha256Digest } from "../../../wire/Canonical.ts"
import type { ParticipantSession, ReleaseReason } from "../../Protocol.ts"
import { handler, ParticipantFailure } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as Compute from "../Compute.ts"
import * as ElementSet from "../ElementSet.ts"
import * as Group from "../Group.ts"
import * as Ids from "../Ids.ts"
import * as IdSpill from "../IdSpill.ts"
import { Spill, SpillError } from "../Spill.ts"
import type { DatasetError } from "../../../data/DatasetError.ts"
import * as External from "./External.ts"
import * as OtPath from "./OtPath.ts"
import * as RingProgress from "./RingProgress.ts"
import * as Spec from "./spec.ts"
import * as Party from "./Party.ts"

/** Whether this task may run the OT engine (in buckets): the kinds, parties and params that allow it (spec.ts). */
const mayBucket = (ctx: Party.Context, session: ParticipantSession) =>
  ctx.params.protocol !== "ecdh" && ctx.params.group === undefined && session.participants.length === 2 && Spec.otModes.includes(ctx.mode)

/** Whether the ECDH ring may keep its sets on disk (External.ts): a PSI task's own ring, of a kind that can. */
const mayExternal = (ctx: Party.Context) => ctx.onDisk && Spec.externalModes.includes(ctx.mode)

/** Whether a large set of this task goes to disk: the OT engine's buckets, or the ECDH ring's external matching (spec.ts). */
const maySpill = (ctx: Party.Context, session: ParticipantSession) => mayBucket(ctx, session) || mayExternal(ctx)

export const handlers = (ctx: Party.Context) => {
  const keys = handler(Spec.keys, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.keys.name
      const existing = session.memory.get(Party.MEMORY) as Party.State | undefined
      if (existing !== undefined) return existing.reply
      if (!session.participants.includes(session.self)) return yield* Party.fail(session, stage, "NotAParty", `${session.self} is not a party`)
      // Ids stream from the source in bounded chunks (never the whole column at once), stopping past maxIds.
      const source = yield* Local.source(ctx.datasetName)
      if (!source.columns.some((c) => c.name === ctx.params.idColumn)) return yield* Party.fail(session, stage, "MissingColumn", `dataset ${source.name} has no column ${ctx.params.idColumn}`)
      const refused = (error: Ids.TooManyIds | DatasetError | SpillError) =>
        error._tag === "TooManyIds"
          ? Party.fail(session, stage, "TooManyIds", `dataset ${source.name} has more distinct ids than maxIds ${ctx.params.maxIds}`)
          : error._tag === "SpillError"
          ? Party.fail(session, stage, "SpillFailed", error.message)
          : Party.fail(session, stage, error.reason, error.message)
      // A set that may run the OT engine in buckets goes to disk when the host has a spill directory (spec.ts "Buckets").
      const spill = yield* Effect.serviceOption(Spill)
      const rows = spill._tag === "Some" && maySpill(ctx, session) ? (yield* Effect.catch(source.idCounts({ column: ctx.params.idColumn }), refused)).rows : 0
      let set: Ids.IdSet
      let spilled: IdSpill.Spilled | undefined
      if (spill._tag === "Some" && rows > Spec.bucketIdsOf(ctx.params)) {
        // The task's own directory, as an earlier attempt left it (spec.ts "Resume"): the set is spilled again (the
        // data may have changed since), what the engine recorded there is checked against it in `query.peers`.
        const { dir, found } = yield* Effect.catch(spill.value.resumable(`psi-${session.taskId}`), refused)
        spilled = yield* Effect.catch(
          Effect.andThen(found ? IdSpill.clear(dir) : Effect.void, IdSpill.spill(source, ctx.params.idColumn, ctx.params.maxIds, dir, IdSpill.seedOf(session.taskId))),
          (error) => Effect.andThen(dir.remove, refused(error))
        )
        set = { ids: [], rows: [], duplicates: spilled.duplicates, empty: spilled.empty }
      } else {
        set = yield* Effect.catch(Ids.fromSource(source, ctx.params.idColumn, ctx.params.maxIds), refused)
      }
      const count = spilled?.count ?? set.ids.length
      if (count === 0) return yield* Party.fail(session, stage, "EmptySet", `dataset ${source.name} has no ids in ${ctx.params.idColumn}`)
      const holder = ctx.mode === "sum" && session.self === ctx.holder
      let valuesDigest: Uint8Array | undefined
      if (holder) {
        const column = ctx.params.valueColumn!
        if (spilled !== undefined) {
          // A spilled set's values are streamed to its directory by row (never the whole column in memory) and checked
          // chunk by chunk as `query.blind` reads them.
          if (!isNumericType(source.columns.find((c) => c.name === column)?.type)) return yield* Party.fail(session, stage, "NotNumeric", `column ${column} of dataset ${source.name} is missing or not numeric`)
          valuesDigest = yield* Effect.catch(External.spillValues(source, column, spilled.dir), refused)
        } else {
          const data = yield* (yield* LocalData).dataset(ctx.datasetName)
          if (!data.columnNames.includes(column) || !data.isNumeric(column)) return yield* Party.fail(session, stage, "NotNumeric", `column ${column} of dataset ${data.name} is missing or not numeric`)
          const values = data.numeric(column)
          if (set.rows.some((row) => !Number.isFinite(values[row]!))) return yield* Party.fail(session, stage, "InvalidValue", `column ${column} has an empty or non-finite value`)
        }
      }
      const primes = (yield* Primes).generate
      const kernels = yield* BigIntKernels
      const fresh = Effect.gen(function*() {
        const keyPair = holder
          ? yield* Effect.catchTag(Keys.generate({ bits: Keys.DEFAULT_BITS, primes, kernels }), "PaillierKeyGenerationFailed", (error) => Party.fail(session, stage, "KeyGeneration", error.message))
          : undefined
        return { scalar: Group.groups[ctx.group].randomScalar(), ...(keyPair !== undefined && { keyPair }) }
      })
      // A set the ring may keep on disk resumes with the secrets an earlier attempt sealed (RingProgress.ts).
      const secrets = spilled !== undefined && mayExternal(ctx) && Spec.recordsRing(ctx.params) ? yield* RingProgress.secrets(session.self, session.taskId, fresh) : { ...(yield* fresh), sealed: false }
      const sum: Party.Sum = secrets.keyPair === undefined ? {} : { keyPair: secrets.keyPair }
      // Sealed for this task (whichever engine it runs): removed with the set's directory once the task is over.
      const services = yield* Effect.context<never>()
      const forget = secrets.sealed ? Effect.provideContext(RingProgress.forget(session.self, session.taskId), services) : Effect.void
      yield* Effect.promise(() => Group.ready())
      const extra = sum.keyPair ? Serialization.encodePublicKey(sum.keyPair.publicKey) : new Uint8Array(0)
      const { channel, advertisement } = yield* Channel.advertise(session, count, extra)
      const s: Party.State = {
        set, ...(spilled === undefined ? {} : { spilled, release: (reason: ReleaseReason) => void (reason === "ended" && Effect.runFork(Effect.andThen(spilled.dir.remove, forget))) }), scalar: secrets.scalar, sealed: secrets.sealed, ...(valuesDigest !== undefined && { valuesDigest }), channel, reply: advertisement, sum, seen: new Set(), prepared: new Map(),
        inbox: new Map(), outbox: new Map(), outboxShuffled: false, received: new Map()
      }
      // Counted locally only: the receiver's output file reports them; nothing about them leaves.
      session.memory.set("query/input-report", { duplicates: set.duplicates, empty: set.empty, distinct: count })
      session.memory.set(Party.MEMORY, s)
      return advertisement
    })
  )

  const peers = handler(Spec.peers, ({ advertisements }, session) =>
    Effect.gen(function*() {
      const stage = Spec.peers.name
      const s = yield* Party.state(session, stage)
      if (s.peers !== undefined) return yield* Party.fail(session, stage, "DuplicateChunk", "peer keys were already received")
      s.peers = yield* Channel.verify(session, stage, session.participants, advertisements, s.channel.publicKey)
      for (const [party, ad] of s.peers) {
        if (ad.count > ctx.params.maxIds) return yield* Party.fail(session, stage, "TooManyIds", `${party} announces ${ad.count} ids, above maxIds ${ctx.params.maxIds}`)
        if (ad.count === 0) return yield* Party.fail(session, stage, "EmptySet", `${party} announces an empty set`)
      }
      s.protocol = Spec.protocolOf(ctx.mode, ctx.params, session.participants.length, Math.max(...[...s.peers.values()].map((ad) => ad.count)))
      // The ECDH ring over a set larger than bucketIds, at a host with a spill directory: on disk (External.ts).
      const largest = Math.max(...[...s.peers.values()].map((ad) => ad.count))
      const spill = yield* Effect.serviceOption(Spill)
      if (s.protocol === "ecdh" && spill._tag === "Some" && mayExternal(ctx) && largest > Spec.bucketIdsOf(ctx.params) && s.sealed && s.spilled !== undefined) {
        // Every unit of the ring will be recorded; what an earlier attempt recorded is looked up now, and restored (or
        // the directory started afresh) in `query.resume`, once the coordinator has the smallest count.
        const spilled = s.spilled
        const perFile = Spec.bucketIdsOf(ctx.params)
        const key = `psi-ecdh-${session.taskId}`
        s.ring = yield* Effect.catch(
          Effect.gen(function*() {
            const { dir, found } = yield* spill.value.resumable(key)
            const previous = s.release
            s.release = (reason) => {
              previous?.(reason)
              if (reason === "ended") Effect.runFork(s.ring?.tracked.dir.remove ?? dir.remove)
            }
            const shape: RingProgress.Shape = {
              mode: ctx.mode,
              parties: session.participants,
              counts: session.participants.map((p) => Party.countOf(s as Party.Peered, p)),
              chunkSize: ctx.chunkSize,
              perFile,
              bits: External.bitsOf(largest, perFile),
              fingerprint: yield* RingProgress.fingerprint(spilled, s.valuesDigest === undefined ? [] : [s.valuesDigest])
            }
            const lines = found ? yield* RingProgress.lines(dir, shape) : []
            const last = yield* RingProgress.lastVerified(dir, lines)
            return { key, tracked: RingProgress.track(dir), shape, lines, kept: last?.units ?? 0, largest, units: 0 }
          }),
          (error) => Party.fail(session, stage, "SpillFailed", error.message)
        )
      } else if (s.protocol === "ecdh" && spill._tag === "Some" && mayExternal(ctx) && largest > Spec.bucketIdsOf(ctx.params)) {
        const perFile = Spec.bucketIdsOf(ctx.params)
        const spilled = s.spilled
        const external = yield* Effect.catch(
          Effect.gen(function*() {
            const dir = yield* spill.value.open(`psi-ecdh-${session.taskId}`)
            const previous = s.release
            s.release = (reason) => {
              previous?.(reason)
              Effect.runFork(dir.remove)
            }
            const own = spilled === undefined ? undefined : yield* External.order(spilled, dir, ctx.chunkSize, perFile)
            // Ordered: the id files are no longer read (the value holder's values still are).
            if (spilled !== undefined && s.valuesDigest === undefined) yield* spilled.dir.remove
            return External.make(dir, own, largest, perFile, ctx.group, s.valuesDigest === undefined ? undefined : spilled?.dir)
          }),
          (error) => Party.fail(session, stage, "SpillFailed", error.message)
        )
        s.external = external
      } else if (s.spilled !== undefined && s.protocol === "ecdh") {
        // A spilled set that runs the ECDH ring in memory after all (the sets are small, or the kind needs them whole).
        s.set = yield* Effect.catch(IdSpill.materialize(s.spilled, Ids.permutation), (error) => Party.fail(session, stage, "SpillFailed", error.message))
        yield* s.spilled.dir.remove
      }
      if (s.protocol === "ot") {
        // validate() refused an explicit "ot" the task cannot run; a default "ot" is only chosen where it can.
        if (s.spilled === undefined) return { ok: true as const }
        s.resumable = yield* Effect.catch(OtPath.resumable(ctx, session, s as Party.Peered), (error) => Party.fail(session, stage, "SpillFailed", error.message))
        return { ok: true as const, ...(s.resumable.length > 0 && { resumable: s.resumable.length }) }
      }
      // The ring on disk that resumes hashes its first chunk once it knows which (`query.resume`).
      if (!ctx.channelOnly && s.ring === undefined) yield* Party.prepare(ctx, session, s, 0)
      if (ctx.mode === "sum" && session.self !== ctx.holder) {
        const extra = s.peers.get(ctx.holder)!.extra
        s.sum.publicKey = yield* Effect.try({
          try: () => Serialization.decodePublicKey(extra),
          catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidPublicKey", detail: String(error) })
        })
      }
      return { ok: true as const, ...(s.ring !== undefined && { resumable: s.ring.kept }) }
    })
  )

  const resume = handler(Spec.resume, ({ units }, session) =>
    Effect.gen(function*() {
      const stage = Spec.resume.name
      const s = yield* Party.onRing(session, stage)
      const ring = s.ring
      if (ring === undefined || s.spilled === undefined) return yield* Party.fail(session, stage, "UnexpectedStage", "this party does not record the ring")
      if (s.external !== undefined) return yield* Party.fail(session, stage, "DuplicateChunk", "the ring was already resumed")
      if (units > ring.kept) return yield* Party.fail(session, stage, "ResumeMismatch", `asked to resume after unit ${units}, but this party kept ${ring.kept}`)
      const spill = yield* Effect.serviceOption(Spill)
      if (spill._tag === "None") return yield* Party.fail(session, stage, "SpillFailed", "this host has no spill directory")
      const spilled = s.spilled
      const r = Party.ring(session)
      const values = s.valuesDigest === undefined ? undefined : spilled.dir
      ring.units = units
      s.external = yield* Effect.catch(
        Effect.gen(function*() {
          const line = units === 0 ? undefined : ring.lines.findLast((l) => l.units === units)
          if (line !== undefined && (yield* RingProgress.verify(ring.tracked.dir, line))) {
            const own = yield* External.reopen(ring.tracked.dir, spilled.count, ctx.chunkSize)
            const store = External.make(ring.tracked.dir, own, ring.largest, ring.shape.perFile, ctx.group, values)
            yield* RingProgress.restore(ring.tracked, line, External.ringFiles(store, r.n, Party.countOf(s, r.next)))
            yield* External.clearAfterRing(store)
            External.restoreExtras(store, line.extras)
            // The chunks of the relayed set whose last hop is in a kept unit (hiding kinds relay after the ring).
            for (let i = 0; i < Math.min(units, Ids.chunks(Party.countOf(s, r.next), ctx.chunkSize)); i++) store.relayChunks.add(i)
            return store
          }
          if (units > 0) return yield* new SpillError({ detail: `the record of unit ${units} no longer matches the files` })
          // Nothing kept by every party: a fresh directory, the own set ordered anew.
          yield* ring.tracked.dir.remove
          const { dir } = yield* spill.value.resumable(ring.key)
          ring.tracked = RingProgress.track(dir)
          const own = yield* External.order(spilled, ring.tracked.dir, ctx.chunkSize, ring.shape.perFile)
          return External.make(ring.tracked.dir, own, ring.largest, ring.shape.perFile, ctx.group, values)
        }),
        (error) => Party.fail(session, stage, "SpillFailed", error.message)
      )
      if (values === undefined) yield* spilled.dir.remove
      if (!ctx.channelOnly) yield* Party.prepare(ctx, session, s, units)
      return { ok: true as const }
    })
  )

  const checkpoint = handler(Spec.checkpoint, ({ units }, session) =>
    Effect.gen(function*() {
      const stage = Spec.checkpoint.name
      const s = yield* Party.onRing(session, stage)
      const { ring, external } = s
      if (ring === undefined || external === undefined) return yield* Party.fail(session, stage, "UnexpectedStage", "this party does not record the ring")
      // A unit after the last one recorded, possibly skipping some (records are sparse: spec.ts `checkpointDue`), and
      // only once this party did its part of every unit it covers: a record never claims more. Checked before anything
      // is written, so a refused record changes nothing.
      if (units <= ring.units) return yield* Party.fail(session, stage, "OutOfOrder", `unit ${units} is not after unit ${ring.units}, the last recorded`)
      for (let unit = ring.units + 1; unit <= units; unit++) {
        const missing = unitKeys(session, s, unit - 1).filter((key) => !s.seen.has(key))
        if (missing.length > 0) return yield* Party.fail(session, stage, "UnitNotDone", `unit ${unit} is not done here: ${missing.join(", ")} never came`)
      }
      yield* Effect.catch(
        Effect.andThen(external.writer.flush, RingProgress.checkpoint(ring.tracked, ring.shape, units, External.extrasOf(external))),
        (error) => Party.fail(session, stage, "SpillFailed", error.message)
      )
      ring.units = units
      return { ok: true as const }
    })
  )

  /** What this party receives in unit `index`: its hops of every set's chunk, and the chunks relayed to it as they go. */
  const unitKeys = (session: ParticipantSession, s: Party.Peered, index: number): Array<string> => {
    const r = Party.ring(session)
    const has = (source: string) => index < Ids.chunks(Party.countOf(s, source), ctx.chunkSize)
    const keys: Array<string> = []
    for (let hop = 0; hop < r.n; hop++) if (has(r.sourceAt(hop))) keys.push(`blind/${r.sourceAt(hop)}/${hop}/${index}`)
    if (!ctx.hiding && Party.matchers(ctx, session).includes(session.self)) {
      for (const source of r.parties) if (r.lastHopOf(source) !== session.self && has(source)) keys.push(`deliver/${source}/${index}`)
    }
    return keys
  }

  /** The ring's stages wait for `query.resume` where the parties record the ring. */
  const resumed = (session: ParticipantSession, s: Party.Peered, stage: string) =>
    s.ring !== undefined && s.external === undefined ? Party.fail(session, stage, "MissingState", "the ring was not resumed yet (query.resume)") : Effect.void

  const blindHandler = handler(Spec.blind, ({ source, hop, index, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.blind.name
      const s = yield* Party.onRing(session, stage)
      yield* resumed(session, s, stage)
      const r = Party.ring(session)
      if (hop >= r.n || r.sourceAt(hop) !== source) return yield* Party.fail(session, stage, "UnexpectedChunk", `hop ${hop} of ${source} is not this party's`)
      const expected = Ids.chunkLength(Party.countOf(s, source), ctx.chunkSize, index)
      if (expected === 0) return yield* Party.fail(session, stage, "CountMismatch", `${source} announced ${Party.countOf(s, source)} elements: there is no chunk ${index}`)
      yield* Party.once(session, s, stage, `blind/${source}/${hop}/${index}`)
      const compute = yield* Compute.QueryCompute
      let points: Uint8Array
      let extra: Uint8Array = new Uint8Array(0)
      if (hop === 0) {
        yield* Party.prepare(ctx, session, s, index)
        yield* Party.prepare(ctx, session, s, index + 1)
        const prepared = s.prepared.get(index)!
        // Never rejects (Party.prepare keeps the Exit); its typed failure is this request's.
        points = yield* Effect.flatten(Effect.promise(() => prepared)).pipe(
          Effect.catch((error) => Party.fail(session, stage, error instanceof SpillError ? "SpillFailed" : "ComputeFailed", error.message))
        )
        s.prepared.delete(index)
        if (s.sum.keyPair !== undefined) {
          const column = ctx.params.valueColumn!
          const pk = s.sum.keyPair.publicKey
          const codec = Paillier.fixedPointCodec(pk, ctx.params.scaleBits ?? 16)
          const own = s.external?.own
          const spillFailed = (error: SpillError) => Party.fail(session, stage, "SpillFailed", error.message)
          const rows = own === undefined
            ? s.set.rows.slice(index * ctx.chunkSize, index * ctx.chunkSize + expected)
            : (yield* Effect.catch(External.readChunk(own, index), spillFailed)).rows
          // A spilled set's values are read from disk for this chunk's rows only (External.spillValues); a set in
          // memory takes them from the column in memory.
          const valuesDir = s.external?.values
          const values = valuesDir !== undefined
            ? yield* Effect.catch(External.valuesOf(valuesDir, rows), spillFailed)
            : yield* Effect.map((yield* LocalData).dataset(ctx.datasetName), (data) => {
              const column = data.numeric(ctx.params.valueColumn!)
              return Float64Array.from(rows, (row) => column[row]!)
            })
          // A spilled set is checked here, chunk by chunk, by the rule `keys` applies to a set read into memory.
          if (s.spilled !== undefined && values.some((v) => !Number.isFinite(v))) return yield* Party.fail(session, stage, "InvalidValue", `column ${column} has an empty or non-finite value`)
          extra = yield* Effect.try({
            try: () => Serialization.encodeCiphertexts(pk, Array.from(values, (value) => Paillier.encryptReal(pk, codec, value))),
            catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidValue", detail: String(error) })
          })
        }
      } else {
        if (payload === undefined) return yield* Party.fail(session, stage, "MissingPayload", `hop ${hop} needs the previous party's chunk`)
        const opened = yield* Channel.open(session, stage, s.channel.secretKey, r.prev, s.peers.get(r.prev)!.channelPublicKey, `blind|${source}|${hop}|${index}`, payload)
        const parts = Party.unpack(opened)
        if (parts === undefined) return yield* Party.fail(session, stage, "MalformedPayload", "chunk header does not match its length")
        if (parts.points.length !== expected * Group.POINT_BYTES) {
          return yield* Party.fail(session, stage, "CountMismatch", `chunk ${index} of ${source} holds ${parts.points.length / Group.POINT_BYTES} elements, ${expected} announced`)
        }
        points = yield* Effect.mapError(compute.blind(ctx.group, parts.points, s.scalar), (e) =>
          new ParticipantFailure({ participant: session.self, stage, code: "InvalidPoint", detail: `chunk ${index} of ${source}: ${e.message}` }))
        extra = parts.extra
      }
      if (hop < r.n - 1) {
        const sealed = yield* Channel.seal(session, stage, s.channel.secretKey, r.next, s.peers.get(r.next)!.channelPublicKey, `blind|${source}|${hop + 1}|${index}`, Party.pack(points, extra))
        return { payload: sealed }
      }
      // Last hop: `points` is a chunk of the fully-blinded F_source.
      const targets = Party.matchers(ctx, session)
      const { external } = s
      if (targets.includes(session.self)) {
        if (external !== undefined) {
          yield* Effect.catch(
            Effect.andThen(External.keep(external, r.parties.indexOf(source), index * ctx.chunkSize, points), extra.length === 0 ? Effect.void : External.keepExtra(external, index, extra)),
            (error) => Party.fail(session, stage, "SpillFailed", error.message)
          )
        } else {
          let chunks = s.inbox.get(source)
          if (chunks === undefined) s.inbox.set(source, (chunks = new Map()))
          chunks.set(index, { points, extra })
        }
      }
      if (targets.some((t) => t !== session.self)) {
        if (external !== undefined && ctx.hiding) {
          yield* Effect.catch(External.toRelay(external, index, points, Party.countOf(s, source)), (error) => Party.fail(session, stage, "SpillFailed", error.message))
        } else s.outbox.set(index, points)
      }
      return {}
    })
  )


  const relay = handler(Spec.relay, ({ index }, session) =>
    Effect.gen(function*() {
      const stage = Spec.relay.name
      const s = yield* Party.onRing(session, stage)
      yield* resumed(session, s, stage)
      const r = Party.ring(session)
      const source = r.next
      const count = Party.countOf(s, source)
      const chunks = Ids.chunks(count, ctx.chunkSize)
      if (index >= chunks) return yield* Party.fail(session, stage, "UnexpectedChunk", `no chunk ${index} of ${source}`)
      // Hiding modes shuffle the whole set first, so they wait for all of it; the others relay each chunk as soon
      // as its last hop is done (coordinator.ts interleaves those relays with the blinding).
      const needed = ctx.hiding ? Array.from({ length: chunks }, (_, i) => i) : [index]
      const { external } = s
      const onDisk = external !== undefined && ctx.hiding
      const missing = needed.filter((i) => !(onDisk ? external.relayChunks.has(i) : s.outbox.has(i)))
      if (missing.length > 0) return yield* Party.fail(session, stage, "CountMismatch", `fully-blinded chunks ${missing.join(", ")} of ${source} never arrived`)
      yield* Party.once(session, s, stage, `relay/${index}`)
      let points: Uint8Array
      if (onDisk) {
        points = yield* Effect.catch(External.relayChunk(external, index, count, ctx.chunkSize), (error) => Party.fail(session, stage, "SpillFailed", error.message))
      } else {
        if (ctx.hiding && !s.outboxShuffled) Party.shuffleOutbox(ctx, s, count)
        points = s.outbox.get(index)!
        if (!ctx.hiding) s.outbox.delete(index) // relayed once (`once` above): no need to hold it
      }
      const deliveries = []
      for (const recipient of Party.matchers(ctx, session).filter((t) => t !== session.self)) {
        deliveries.push({ recipient, payload: yield* Channel.seal(session, stage, s.channel.secretKey, recipient, s.peers.get(recipient)!.channelPublicKey, `deliver|${source}|${index}`, points) })
      }
      return { deliveries }
    })
  )

  const deliver = handler(Spec.deliver, ({ deliveries }, session) =>
    Effect.gen(function*() {
      const stage = Spec.deliver.name
      const s = yield* Party.onRing(session, stage)
      yield* resumed(session, s, stage)
      const r = Party.ring(session)
      if (!Party.matchers(ctx, session).includes(session.self)) return yield* Party.fail(session, stage, "UnexpectedChunk", "this party receives no fully-blinded sets")
      yield* Effect.promise(() => Group.ready())
      for (const { sender, source, index, payload } of deliveries) {
        if (!r.parties.includes(source) || r.lastHopOf(source) !== sender || sender === session.self) {
          return yield* Party.fail(session, stage, "UnexpectedChunk", `${sender} does not complete the set of ${source}`)
        }
        const expected = Ids.chunkLength(Party.countOf(s, source), ctx.chunkSize, index)
        if (expected === 0) return yield* Party.fail(session, stage, "CountMismatch", `${source} announced ${Party.countOf(s, source)} elements: there is no chunk ${index}`)
        yield* Party.once(session, s, stage, `deliver/${source}/${index}`)
        const points = yield* Channel.open(session, stage, s.channel.secretKey, sender, s.peers.get(sender)!.channelPublicKey, `deliver|${source}|${index}`, payload)
        if (points.length !== expected * Group.POINT_BYTES) {
          return yield* Party.fail(session, stage, "CountMismatch", `chunk ${index} of ${source} holds ${points.length / Group.POINT_BYTES} elements, ${expected} announced`)
        }
        const groups = yield* Compute.Groups
        yield* Effect.try({ try: () => groups[ctx.group].validate(points), catch: (e) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidPoint", detail: `chunk ${index} of ${source}: ${String(e)}` }) })
        if (s.external !== undefined) {
          yield* Effect.catch(External.keep(s.external, r.parties.indexOf(source), index * ctx.chunkSize, points), (error) => Party.fail(session, stage, "SpillFailed", error.message))
          continue
        }
        let chunks = s.inbox.get(source)
        if (chunks === undefined) s.inbox.set(source, (chunks = new Map()))
        chunks.set(index, { points, extra: new Uint8Array(0) })
      }
      return { ok: true as const }
    })
  )


  return [keys, peers, resume, checkpoint, blindHandler, relay, deliver]
}
