/**
 * Resuming the ECDH ring on disk (spec.ts "External", "Resume"): what a party records as the ring goes, so an
 * attempt that follows a crash continues after the last unit every party completed instead of blinding everything
 * again. A unit is one chunk index of the blinding loop — every party's hops of chunk `index` of every set, and in
 * the kinds that relay as they go, that chunk's relay — recorded by the coordinator's `query.checkpoint`.
 *
 *   - The ring's directory is the task's resumable one. Every file the ring appends to is `track`ed: its length and
 *     a running SHA-256 of its content. A checkpoint appends one line to the progress file (`PROGRESS`): the unit
 *     count, the length of every tracked file, one digest over all their contents, and where the value holder's
 *     ciphertexts of each chunk are; the line carries its own SHA-256, so a line cut short by a crash is seen and
 *     skipped (the record before it is resumed from). Records are sparse (spec.ts `checkpointDue`): every k units or T
 *     seconds and after the last unit, so a crash redoes the units since the last record.
 *   - Resuming verifies the files against the chosen line (`verify`: each read back up to its recorded length and
 *     hashed; a file shorter or different — torn, altered — voids the line) and cuts every ring file back to that
 *     length (`restore`), so what a crashed unit half wrote is gone.
 *   - The secrets the kept files depend on — the party's blinding exponent and, at the value holder, its Paillier
 *     key — are sealed at rest by the participant's store (vertical/PartialModels.ts `putPart`, the keystore's
 *     AES-GCM key) and read back by the next attempt (`secrets`), never kept in the spill directory.
 *   - A line is used only under the same shape: the same parties, kind, chunking and partitioning, the same counts
 *     and the same own set (`fingerprint`: a digest of its spilled id files, which are a function of the data). Any
 *     difference, or a party that kept less, and the coordinator resumes from the smallest count every party kept;
 *     0 starts the ring from a fresh directory.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect, Option, Schema } from "effect"
import * as Keys from "../../../crypto/paillier/Keys.ts"
import * as Serialization from "../../../crypto/paillier/Serialization.ts"
import * as PartialModels from "../../vertical/PartialModels.ts"
import * as IdSpill from "../IdSpill.ts"
import type { SpillDir, SpillError } from "../Spill.ts"

/** The progress file of the ring's directory (its files below IdSpill.FILES are otherwise unused). */
export const PROGRESS = 0
const FORMAT = "jointly/psi-ecdh-progress/v1"
const SECRETS = "jointly/psi-ecdh-secrets" satisfies PartialModels.PartFormat
/** Bytes read at once while a file is verified. */
const READ_BYTES = 8 * 1024 * 1024

type Hash = ReturnType<typeof sha256.create>

/** A ring directory whose appends and writes are followed: each file's length and a running digest of its content. */
export interface Tracked {
  readonly dir: SpillDir
  readonly files: Map<number, { length: number; hash: Hash }>
}

export const track = (inner: SpillDir): Tracked => {
  const files = new Map<number, { length: number; hash: Hash }>()
  const dir: SpillDir = {
    ...inner,
    append: (file, bytes) =>
      Effect.andThen(inner.append(file, bytes), Effect.sync(() => {
        const entry = files.get(file) ?? files.set(file, { length: 0, hash: sha256.create() }).get(file)!
        entry.length += bytes.length
        entry.hash.update(bytes)
      })),
    write: (file, bytes) => Effect.andThen(inner.write(file, bytes), Effect.sync(() => void files.set(file, { length: bytes.length, hash: sha256.create().update(bytes) })))
  }
  return { dir, files }
}

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** What a record is valid for: a record made under another shape is never resumed from. */
export const Shape = Schema.Struct({
  mode: Schema.String,
  parties: Schema.Array(Schema.String),
  counts: Schema.Array(Count),
  chunkSize: Count,
  perFile: Count,
  bits: Count,
  /** The own set's spilled id files (and the holder's values), hashed: the data the kept files were made from. */
  fingerprint: Schema.String
})
export type Shape = typeof Shape.Type

export const Line = Schema.Struct({
  format: Schema.Literal(FORMAT),
  shape: Shape,
  units: Count,
  /** [file, length] of every tracked file with content. */
  files: Schema.Array(Schema.Tuple([Count, Count])),
  /** SHA-256 over every listed file's number, length and content digest, in file order. */
  digest: Schema.String,
  /** intersection-sum, a matcher: [chunk, offset, length] of the holder's ciphertexts in the extras file. */
  extras: Schema.Array(Schema.Tuple([Count, Count, Count]))
})
export type Line = typeof Line.Type

const sameShape = (a: Shape, b: Shape) => JSON.stringify(a) === JSON.stringify(b)

const combined = (entries: ReadonlyArray<readonly [number, number, Uint8Array]>) => {
  const hash = sha256.create()
  for (const [file, length, digest] of [...entries].sort((x, y) => x[0] - y[0])) hash.update(utf8ToBytes(`${file}:${length}:`)).update(digest)
  return bytesToHex(hash.digest())
}

/** Appends the checkpoint of `units` done: the tracked files as they are now (the caller flushed its buffers). */
export const checkpoint = (tracked: Tracked, shape: Shape, units: number, extras: Line["extras"]): Effect.Effect<void, SpillError> =>
  Effect.suspend(() => {
    const entries = [...tracked.files].filter(([file, e]) => file !== PROGRESS && e.length > 0).map(([file, e]) => [file, e.length, e.hash.clone().digest()] as const)
    const line: Line = { format: FORMAT, shape, units, files: entries.map(([file, length]) => [file, length] as const), digest: combined(entries), extras }
    const json = JSON.stringify(line)
    // The line's own digest first: a line cut short by a crash (or altered) does not match it and is skipped.
    return tracked.dir.append(PROGRESS, utf8ToBytes(`${bytesToHex(sha256(utf8ToBytes(json)))} ${json}\n`))
  })

/** The intact lines of the progress file recorded under `shape`, in order (a torn or foreign line is skipped). */
export const lines = (dir: SpillDir, shape: Shape): Effect.Effect<Array<Line>, SpillError> =>
  Effect.map(dir.read(PROGRESS), (bytes) => {
    const out: Array<Line> = []
    for (const text of new TextDecoder().decode(bytes).split("\n")) {
      const space = text.indexOf(" ")
      if (space < 0) continue
      const json = text.slice(space + 1)
      if (bytesToHex(sha256(utf8ToBytes(json))) !== text.slice(0, space)) continue
      let parsed: unknown
      try {
        parsed = JSON.parse(json)
      } catch {
        continue
      }
      const decoded = Schema.decodeUnknownExit(Line)(parsed)
      if (decoded._tag === "Success" && sameShape(decoded.value.shape, shape)) out.push(decoded.value)
    }
    return out
  })

/** Whether every file `line` lists holds, up to its recorded length, the content it recorded. */
export const verify = (dir: SpillDir, line: Line): Effect.Effect<boolean, SpillError> =>
  Effect.gen(function*() {
    const entries: Array<readonly [number, number, Uint8Array]> = []
    for (const [file, length] of line.files) {
      const hash = sha256.create()
      for (let at = 0; at < length; at += READ_BYTES) {
        const piece = yield* dir.readRange(file, at, Math.min(READ_BYTES, length - at))
        if (piece.length !== Math.min(READ_BYTES, length - at)) return false
        hash.update(piece)
      }
      entries.push([file, length, hash.digest()])
    }
    return combined(entries) === line.digest
  })

/** The last line of `candidates` whose files verify (none: nothing to resume from). */
export const lastVerified = (dir: SpillDir, candidates: ReadonlyArray<Line>): Effect.Effect<Line | undefined, SpillError> =>
  Effect.gen(function*() {
    for (let i = candidates.length - 1; i >= 0; i--) if (yield* verify(dir, candidates[i]!)) return candidates[i]
    return undefined
  })

/**
 * Cuts the ring's files back to `line` — each of `ringFiles` to its recorded length, or empty when it lists none —
 * and starts tracking them there (their content read back for the running digests). `line` was verified.
 */
export const restore = (tracked: Tracked, line: Line, ringFiles: ReadonlyArray<number>): Effect.Effect<void, SpillError> =>
  Effect.gen(function*() {
    const lengths = new Map(line.files.map(([file, length]) => [file, length] as const))
    for (const file of new Set([...ringFiles, ...lengths.keys()])) {
      const length = lengths.get(file) ?? 0
      // Only a file the crashed unit wrote past its record is rewritten (its recorded prefix kept); small, as a
      // unit adds a chunk's share to a partition file.
      const longer = (yield* tracked.dir.readRange(file, length, 1)).length > 0
      const hash = sha256.create()
      const pieces: Array<Uint8Array> = []
      for (let at = 0; at < length; at += READ_BYTES) {
        const piece = yield* tracked.dir.readRange(file, at, Math.min(READ_BYTES, length - at))
        hash.update(piece)
        if (longer) pieces.push(piece)
      }
      if (longer) yield* tracked.dir.write(file, concatBytes(...pieces))
      tracked.files.set(file, { length, hash })
    }
  })

/** A digest of the own set's spilled id files (and any more bytes the set's use depends on, `more`). */
export const fingerprint = (spilled: IdSpill.Spilled, more: ReadonlyArray<Uint8Array> = []): Effect.Effect<string, SpillError> =>
  Effect.gen(function*() {
    const hash = sha256.create()
    for (let file = 0; file < IdSpill.FILES; file++) {
      const bytes = yield* spilled.dir.read(file)
      hash.update(utf8ToBytes(`${file}:${bytes.length}:`)).update(bytes)
    }
    for (const bytes of more) hash.update(bytes)
    return bytesToHex(hash.digest())
  })

/** The secrets a resumed ring needs: this party's exponent and, at the value holder, its Paillier key. */
const Secrets = Schema.Struct({ scalar: Schema.Uint8ArrayFromBase64, paillier: Schema.optional(Schema.Uint8ArrayFromBase64) })

export interface Sealed {
  readonly scalar: Uint8Array
  readonly keyPair?: Keys.KeyPair
}

/**
 * This party's secrets for task `taskId`: those an earlier attempt sealed, or `fresh()` sealed now. Without a sealing
 * store (a host without a keystore), `fresh()` unsealed and `sealed: false`: that party does not resume.
 */
export const secrets = <E>(
  owner: string,
  taskId: string,
  fresh: Effect.Effect<Sealed, E>,
  policy: Keys.KeySizePolicy = {}
): Effect.Effect<Sealed & { readonly sealed: boolean }, E> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(PartialModels.PartialModels)
    if (Option.isNone(store)) return { ...(yield* fresh), sealed: false }
    const kept = yield* Effect.option(PartialModels.getPart(owner, SECRETS, taskId, Secrets))
    if (Option.isSome(kept)) {
      const { scalar, paillier } = kept.value
      if (paillier === undefined) return { scalar, sealed: true }
      const privateKey = yield* Effect.option(Effect.try(() => Serialization.decodePrivateKey(paillier, policy)))
      if (Option.isSome(privateKey)) return { scalar, keyPair: { publicKey: privateKey.value.publicKey, privateKey: privateKey.value }, sealed: true }
    }
    const made = yield* fresh
    const put = PartialModels.putPart(owner, SECRETS, taskId, Secrets, {
      scalar: made.scalar,
      ...(made.keyPair !== undefined && { paillier: Serialization.encodePrivateKey(made.keyPair.privateKey) })
    })
    const sealed = Option.isSome(yield* Effect.option(put))
    return { ...made, sealed }
  })

/** Removes the sealed secrets of `taskId` (the task is over); a host without a store has none. */
export const forget = (owner: string, taskId: string): Effect.Effect<void> =>
  Effect.ignore(Effect.flatMap(Effect.serviceOption(PartialModels.PartialModels), (store) => Option.isSome(store) ? store.value.removePart(owner, SECRETS, taskId) : Effect.void))
