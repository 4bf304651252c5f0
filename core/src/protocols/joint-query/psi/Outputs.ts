/**
 * Matching and outputs of ECDH-PSI at one party (spec.ts): each matcher intersects the fully-blinded sets
 * (`finish`), then the variant's last exchange — the encrypted intersection-sum (`sum`), the union's remainder
 * (`transfer`, `take`) — and each receiver writes its output locally and reports only its digest (`output`).
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as FixedPoint from "../../../crypto/FixedPoint.ts"
import * as Keys from "../../../crypto/paillier/Keys.ts"
import * as Paillier from "../../../crypto/paillier/Paillier.ts"
import * as Serialization from "../../../crypto/paillier/Serialization.ts"
import * as Local from "../../../data/Local.ts"
import * as StreamedOutput from "../../../data/StreamedOutput.ts"
import type { ParticipantSession } from "../../Protocol.ts"
import { handler, ParticipantFailure } from "../../Protocol.ts"
import * as Channel from "../Channel.ts"
import * as Compute from "../Compute.ts"
import * as ElementSet from "../ElementSet.ts"
import * as Group from "../Group.ts"
import * as Ids from "../Ids.ts"
import * as RowRuns from "../RowRuns.ts"
import type { SpillError } from "../Spill.ts"
import * as External from "./External.ts"
import * as Spec from "./spec.ts"
import * as Party from "./Party.ts"

/** Union, B: its ids outside the intersection (`matched` positions), to transfer; returns their number. */
const remainderOf = (s: Party.State, matched: ReadonlyArray<number>) => {
  const inside = new Set(matched)
  s.remainder = s.set.ids.filter((_, i) => !inside.has(i))
  return s.remainder.length
}

export const handlers = (ctx: Party.Context) => {
  /**
   * Matching on disk (External.ts): partition by partition, then, for a spilled own set, the output's ids as runs
   * sorted by row (what the output stage merges, as for the OT engine's buckets); an own set in memory keeps `matched`.
   */
  const finishExternal = (external: External.Store, session: ParticipantSession, s: Party.Peered) =>
    Effect.gen(function*() {
      const parties = session.participants
      const me = parties.indexOf(session.self)
      const others = parties.map((_, i) => i).filter((i) => i !== me)
      if (ctx.mode === "sum") {
        // The holder's set against this party's: the ciphertexts of its matching elements, read back chunk by chunk.
        const holder = parties.indexOf(ctx.holder)
        const count = Party.countOf(s, ctx.holder)
        const flags = yield* External.match(external, holder, count, [me])
        const pk = s.sum.publicKey!
        let total: Paillier.Ciphertext | undefined
        let matches = 0
        for (let index = 0; index < Ids.chunks(count, ctx.chunkSize); index++) {
          const bytes = yield* External.extra(external, index)
          const ciphertexts = yield* Effect.try({
            try: () => Serialization.decodeCiphertexts(pk, bytes),
            catch: (error) => new ParticipantFailure({ participant: session.self, stage: Spec.finish.name, code: "InvalidCiphertext", detail: String(error) })
          })
          const expected = Ids.chunkLength(count, ctx.chunkSize, index)
          if (ciphertexts.length !== expected) return yield* Party.fail(session, Spec.finish.name, "CountMismatch", `${ciphertexts.length} ciphertexts for ${expected} elements in chunk ${index}`)
          ciphertexts.forEach((c, j) => {
            if (flags[index * ctx.chunkSize + j] !== 1) return
            matches++
            total = total === undefined ? c : Paillier.add(total, c)
          })
        }
        s.cardinality = matches
        s.sum.encryptedSum = Paillier.rerandomize(total ?? Paillier.encrypt(pk, 0n))
        return {}
      }
      if (ctx.mode === "aligned") {
        const { positions, digest } = yield* External.aligned(external, me, Party.sizeOf(s), others, Group.domain("psi-alignment", session.taskId))
        s.cardinality = positions.length
        const hex = "0x" + bytesToHex(digest)
        if (external.own === undefined) s.aligned = { positions: Array.from(positions), digest: hex }
        else if (ctx.params.receivers.includes(session.self)) {
          const { ids, rows } = yield* External.inOrder(external.own, positions, Spec.bucketIdsOf(ctx.params))
          s.aligned = { positions, digest: hex, lists: [{ name: "ids", pull: ids }, { name: "rows", pull: rows }] }
        }
        return {}
      }
      const flags = yield* External.match(external, me, Party.sizeOf(s), others)
      // Positions as a list only for an own set in memory (≤ bucketIds); otherwise the flags are what is read.
      const matched = external.own === undefined ? External.flagged(flags) : undefined
      s.cardinality = matched?.length ?? flags.reduce((sum, flag) => sum + flag, 0)
      if (ctx.hiding) return {}
      if (ctx.mode === "union" && session.self !== ctx.params.receivers[0]) {
        if (matched !== undefined) return { remainder: remainderOf(s, matched) }
        s.remainderOnDisk = yield* External.remainder(external.own!, flags)
        return { remainder: s.remainderOnDisk.count }
      }
      if (matched !== undefined) s.matched = matched
      else if (ctx.params.receivers.includes(session.self) && ctx.mode !== "union") {
        // A union's receiver lists all its ids (the output stage reads them once the other party's have come).
        s.runs = yield* External.runsOf(external.own!, flags, ctx.mode === "difference" ? 0 : 1, Spec.bucketIdsOf(ctx.params))
      }
      return {}
    }).pipe(Effect.catchTag("SpillError", (error) => Party.fail(session, Spec.finish.name, "SpillFailed", error.message)))

  const finish = handler(Spec.finish, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.finish.name
      const s = yield* Party.onRing(session, stage)
      if (!Party.matchers(ctx, session).includes(session.self)) return {}
      if (s.cardinality !== undefined) return yield* Party.fail(session, stage, "DuplicateChunk", "already finished")
      if (s.external !== undefined) return yield* finishExternal(s.external, session, s)
      const own = yield* Party.assembled(ctx, session, s, stage, session.self)
      const others: Array<(i: number) => boolean> = []
      for (const party of session.participants) {
        if (party === session.self) continue
        const { points } = yield* Party.assembled(ctx, session, s, stage, party)
        others.push(ElementSet.of(points).within(own.points))
      }
      const matched: Array<number> = []
      for (let i = 0; i < Group.count(own.points); i++) {
        if (others.every((has) => has(i))) matched.push(i)
      }
      s.cardinality = matched.length
      if (ctx.mode === "sum") {
        // Google's intersection-sum: add the ctx.holder's ciphertexts of the elements in F_holder ∩ F_self.
        const theirs = yield* Party.assembled(ctx, session, s, stage, ctx.holder)
        const pk = s.sum.publicKey!
        const ciphertexts = yield* Effect.try({
          try: () => theirs.extras.flatMap((bytes) => Serialization.decodeCiphertexts(pk, bytes)),
          catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidCiphertext", detail: String(error) })
        })
        if (ciphertexts.length !== Group.count(theirs.points)) return yield* Party.fail(session, stage, "CountMismatch", `${ciphertexts.length} ciphertexts for ${Group.count(theirs.points)} elements`)
        const mine = ElementSet.of(own.points).within(theirs.points)
        const picked = ciphertexts.filter((_, i) => mine(i))
        const total = picked.length === 0 ? Paillier.encrypt(pk, 0n) : Paillier.sum(picked)
        s.sum.encryptedSum = Paillier.rerandomize(total)
        return {}
      }
      if (ctx.hiding) return {}
      s.matched = matched
      if (ctx.mode === "aligned") {
        const positions = [...matched].sort((a, b) => ElementSet.compare(own.points, a, b))
        const ordered = concatBytes(...positions.map((i) => own.points.subarray(i * Group.POINT_BYTES, (i + 1) * Group.POINT_BYTES)))
        s.aligned = { positions, digest: "0x" + bytesToHex(sha256(concatBytes(Group.domain("psi-alignment", session.taskId), ordered))) }
      }
      if (ctx.mode === "union" && session.self !== ctx.params.receivers[0]) return { remainder: remainderOf(s, matched) }
      return {}
    })
  )

  const sumHandler = handler(Spec.sum, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.sum.name
      const s = yield* Party.withPeers(session, stage)
      if (s.sum.encryptedSum === undefined) return yield* Party.fail(session, stage, "MissingState", "no encrypted sum: finish first")
      yield* Party.once(session, s, stage, "sum")
      const count = new Uint8Array(4)
      new DataView(count.buffer).setUint32(0, s.cardinality!)
      const plaintext = concatBytes(count, Serialization.encodeCiphertext(s.sum.encryptedSum))
      return { payload: yield* Channel.seal(session, stage, s.channel.secretKey, ctx.holder, s.peers.get(ctx.holder)!.channelPublicKey, "sum", plaintext) }
    })
  )

  const transfer = handler(Spec.transfer, ({ index }, session) =>
    Effect.gen(function*() {
      const stage = Spec.transfer.name
      const s = yield* Party.withPeers(session, stage)
      if (s.remainder === undefined && s.remainderOnDisk === undefined) return yield* Party.fail(session, stage, "MissingState", "nothing to transfer: finish first")
      yield* Party.once(session, s, stage, `transfer/${index}`)
      const receiver = ctx.params.receivers[0]!
      const onDisk = s.remainderOnDisk
      let ids: ReadonlyArray<string> = []
      if (onDisk === undefined) ids = s.remainder!.slice(index * ctx.chunkSize, (index + 1) * ctx.chunkSize)
      else if (index + 1 < onDisk.offsets.length) {
        ids = (yield* Effect.catch(External.readChunk(onDisk, index), (error) => Party.fail(session, stage, "SpillFailed", error.message))).ids
      }
      const plaintext = new TextEncoder().encode(JSON.stringify(ids))
      return { payload: yield* Channel.seal(session, stage, s.channel.secretKey, receiver, s.peers.get(receiver)!.channelPublicKey, `transfer|${index}`, plaintext) }
    })
  )

  const take = handler(Spec.take, ({ index, payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.take.name
      const s = yield* Party.withPeers(session, stage)
      const sender = session.participants.find((p) => p !== session.self)!
      yield* Party.once(session, s, stage, `take/${index}`)
      const opened = yield* Channel.open(session, stage, s.channel.secretKey, sender, s.peers.get(sender)!.channelPublicKey, `transfer|${index}`, payload)
      const ids = yield* Effect.try({
        try: () => {
          const parsed: unknown = JSON.parse(new TextDecoder().decode(opened))
          if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) throw new Error("not a list of ids")
          return parsed as Array<string>
        },
        catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "MalformedPayload", detail: String(error) })
      })
      if (s.external !== undefined) {
        // On the external ring the parts go to disk as they come; the coordinator sends them in order.
        if (index !== s.external.received.length) return yield* Party.fail(session, stage, "CountMismatch", `union part ${s.external.received.length} never arrived`)
        yield* Effect.catch(External.keepReceived(s.external, ids), (error) => Party.fail(session, stage, "SpillFailed", error.message))
        return { ok: true as const }
      }
      s.received.set(index, ids)
      return { ok: true as const }
    })
  )

  const outputHandler = handler(Spec.output, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.output.name
      const s = yield* Party.withPeers(session, stage)
      if (!ctx.params.receivers.includes(session.self)) return yield* Party.fail(session, stage, "NotAReceiver", "this party receives no output")
      yield* Party.once(session, s, stage, "output")
      // The source, not the table: the output names the dataset, and a 10M-row table must not be materialised for that.
      const source = yield* Local.source(ctx.datasetName)
      const base = { taskId: session.taskId, kind: Spec.kinds[ctx.mode], dataset: source.name, idColumn: ctx.params.idColumn, setSize: Party.sizeOf(s), duplicates: s.set.duplicates, emptyIds: s.set.empty }
      const byRow = (positions: ReadonlyArray<number>) => [...positions].sort((a, b) => s.set.rows[a]! - s.set.rows[b]!)
      // The ids and rows of own positions, in that order (the set is in memory).
      const listed = (positions: ReadonlyArray<number>) => [
        StreamedOutput.fromArray("ids", positions.map((i) => s.set.ids[i]!)),
        StreamedOutput.fromArray("rows", positions.map((i) => s.set.rows[i]!))
      ]
      let header: Record<string, unknown> = base
      let lists: ReadonlyArray<StreamedOutput.List<SpillError>> = []
      let cardinality: number | undefined
      let alignment: string | undefined
      switch (ctx.mode) {
        case "intersection":
        case "difference": {
          // A spilled set's output comes from its runs on disk, merged into row order; an in-memory one's from `matched`.
          if (s.runs !== undefined) {
            const merged = RowRuns.merge(s.runs)
            lists = [{ name: "ids", pull: merged.ids }, { name: "rows", pull: merged.rows }]
            cardinality = s.runs.count
          } else {
            const inside = new Set(s.matched ?? [])
            const positions = byRow(ctx.mode === "intersection" ? s.matched ?? [] : s.set.ids.map((_, i) => i).filter((i) => !inside.has(i)))
            lists = listed(positions)
            cardinality = positions.length
          }
          if (ctx.mode === "intersection") header = { ...base, cardinality }
          break
        }
        case "cardinality":
          header = { ...base, cardinality: s.cardinality }
          cardinality = s.cardinality
          break
        case "aligned": {
          const positions = s.aligned?.positions ?? []
          alignment = s.aligned?.digest
          header = { ...base, cardinality: positions.length, alignment }
          lists = s.aligned?.lists ?? listed(Array.from(positions))
          cardinality = positions.length
          break
        }
        case "union": {
          if (s.external !== undefined) {
            const external = s.external
            const own = external.own
            const inconsistent = Party.fail(session, stage, "InconsistentPayload", "the other party sent an id of the intersection")
            const spillFailed = (error: SpillError) => Party.fail(session, stage, "SpillFailed", error.message)
            let ownIds: StreamedOutput.List<SpillError>
            if (own === undefined) {
              const mine = new Set(s.set.ids)
              const received = External.receivedIds(external)
              for (let ids = yield* Effect.catch(received, spillFailed); ids !== undefined; ids = yield* Effect.catch(received, spillFailed)) {
                if (ids.some((id) => mine.has(id))) return yield* inconsistent
              }
              ownIds = StreamedOutput.fromArray("ids", byRow(s.set.ids.map((_, i) => i)).map((i) => s.set.ids[i]!))
            } else {
              if (!(yield* Effect.catch(External.disjoint(external, own), spillFailed))) return yield* inconsistent
              s.runs = yield* Effect.catch(External.runsOf(own, new Uint8Array(own.count), 0, Spec.bucketIdsOf(ctx.params)), spillFailed)
              ownIds = { name: "ids", pull: RowRuns.merge(s.runs).ids }
            }
            cardinality = Party.sizeOf(s) + External.receivedCount(external)
            header = { ...base, cardinality }
            const theirs = External.receivedIds(external)
            let first = true
            lists = [{
              name: "ids",
              pull: Effect.gen(function*() {
                if (first) {
                  const batch = yield* ownIds.pull
                  if (batch !== undefined) return batch
                  first = false
                }
                return yield* theirs
              })
            }]
            break
          }
          const received: Array<string> = []
          for (let i = 0; i < s.received.size; i++) {
            const part = s.received.get(i)
            if (part === undefined) return yield* Party.fail(session, stage, "CountMismatch", `union part ${i} never arrived`)
            received.push(...part)
          }
          const own = byRow(s.set.ids.map((_, i) => i)).map((i) => s.set.ids[i]!)
          const mine = new Set(own)
          if (received.some((id) => mine.has(id))) return yield* Party.fail(session, stage, "InconsistentPayload", "the other party sent an id of the intersection")
          const ids = [...own, ...received]
          header = { ...base, cardinality: ids.length }
          lists = [StreamedOutput.fromArray("ids", ids)]
          cardinality = ids.length
          break
        }
        case "sum": {
          if (payload === undefined || s.sum.keyPair === undefined) return yield* Party.fail(session, stage, "MissingPayload", "the encrypted sum did not arrive")
          const sender = session.participants.find((p) => p !== session.self)!
          const opened = yield* Channel.open(session, stage, s.channel.secretKey, sender, s.peers.get(sender)!.channelPublicKey, "sum", payload)
          const { keyPair } = s.sum
          const decoded = yield* Effect.try({
            try: () => {
              const count = new DataView(opened.buffer, opened.byteOffset, 4).getUint32(0)
              const c = Serialization.decodeCiphertext(keyPair.publicKey, opened.subarray(4))
              const codec = Paillier.fixedPointCodec(keyPair.publicKey, ctx.params.scaleBits ?? 16)
              return { count, sum: FixedPoint.decode(codec, Paillier.decrypt(keyPair.privateKey, c)) }
            },
            catch: (error) => new ParticipantFailure({ participant: session.self, stage, code: "InvalidCiphertext", detail: String(error) })
          })
          header = { ...base, valueColumn: ctx.params.valueColumn, cardinality: decoded.count, sum: decoded.sum }
          cardinality = decoded.count
          break
        }
      }
      const written = StreamedOutput.deliver(session, header, lists).pipe(
        Effect.catchTag("SpillError", (error) => Party.fail(session, stage, "SpillFailed", error.message))
      )
      // The runs (or the external ring's files) were the spill directory's last use.
      const done = s.runs?.dir ?? s.external?.dir
      const { digest, location } = yield* (done === undefined ? written : Effect.ensuring(written, done.remove))
      return { cardinality, digest, location, alignment }
    })
  )


  return [finish, sumHandler, transfer, take, outputHandler]
}
