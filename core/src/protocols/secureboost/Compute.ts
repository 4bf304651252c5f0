/**
 * Where the Paillier work of SecureBoost runs: the host's worker pool (the JobRunner service) when it has one
 * and the key has a production size (pool jobs refuse test sizes), else the same job functions inline. The
 * label holder encrypts and decrypts through the Paillier jobs (paillier.encrypt-batch / decrypt-batch); the
 * feature holders build histograms and select bits through Jobs.ts. Main threads only slice bytes.
 *
 * Ciphertext lists on the wire use Paillier's serialized list (header, key fingerprint, count, residues), so a
 * message names its key; inside a party they travel as bare residues (Residues.ts).
 */
import { Effect } from "effect"
import { type JobRunnerService, paillierRunner } from "../../compute/JobRunner.ts"
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { frames, header, Kind, Reader, u32 } from "../../crypto/paillier/Bytes.ts"
import * as PaillierJobs from "../../crypto/paillier/Jobs.ts"
import type { KeySizePolicy, PrivateKey, PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import { guard, SecureBoostError } from "./Errors.ts"
import * as Jobs from "./Jobs.ts"
import * as Residues from "./Residues.ts"

export interface Engine {
  readonly pk: PublicKey
  readonly publicKey: Uint8Array
  readonly width: number
  readonly kernels: BigIntKernels
  readonly runner: JobRunnerService
  /** The party whose work this is (for errors). */
  readonly party: number
}

const runner = paillierRunner((k, policy) => ({ ...PaillierJobs.makePaillierJobs(k, policy), ...Jobs.makeSecureBoostJobs(k, policy) }))

export const engine = (pk: PublicKey, policy: KeySizePolicy, party: number): Effect.Effect<Engine> =>
  Effect.map(runner(policy), ({ kernels, runner }) =>
    ({ pk, publicKey: Serialization.encodePublicKey(pk), width: Residues.widthOf(pk.bits), kernels, runner, party }))

const run = (e: Engine, job: string, inputs: ReadonlyArray<Uint8Array>) =>
  Effect.mapError(e.runner.runAll(job, inputs), (error) => new SecureBoostError({ reason: "ComputeFailed", party: e.party, detail: error.message }))

const attempt = <A>(e: Engine, reason: SecureBoostError["reason"], f: () => A) => guard(e.party, reason, f)

/** Splits [0, n) into at most `parts` contiguous ranges of at least `min` (the last may be shorter). */
export const ranges = (n: number, parts: number, min = 1): Array<readonly [number, number]> => {
  const count = Math.max(1, Math.min(parts, Math.ceil(n / Math.max(1, min))))
  const size = Math.ceil(n / count)
  const out: Array<readonly [number, number]> = []
  for (let s = 0; s < n; s += size) out.push([s, Math.min(n, s + size)])
  return out
}

// ---- ciphertext lists on the wire ------------------------------------------------------------------------

const fingerprintBytes = (pk: PublicKey): Uint8Array => {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = parseInt(pk.fingerprint.slice(2 * i, 2 * i + 2), 16)
  return out
}

/** Bare residues → Paillier's serialized ciphertext list. */
export const toList = (pk: PublicKey, raw: Uint8Array): Uint8Array =>
  Residues.concat([header(Kind.CiphertextList), fingerprintBytes(pk), u32(raw.length / Residues.widthOf(pk.bits)), raw])

/** Paillier's serialized ciphertext list → bare residues, checking header, key, count and length (not values). */
export const fromList = (pk: PublicKey, list: Uint8Array, expected: number | undefined, what: string, party: number): Effect.Effect<Uint8Array, SecureBoostError> =>
  Effect.try({
    try: () => {
      const r = new Reader(list, what).expectHeader(Kind.CiphertextList)
      const fp = r.take(32)
      const mine = fingerprintBytes(pk)
      if (!fp.every((b, i) => b === mine[i])) throw new Error(`${what}: ciphertexts under another key`)
      const count = r.u32()
      const width = Residues.widthOf(pk.bits)
      if (r.remaining() !== count * width) throw new Error(`${what}: ${r.remaining()} bytes for ${count} ciphertexts`)
      if (expected !== undefined && count !== expected) throw new Error(`${what}: ${count} ciphertexts, expected ${expected}`)
      return list.subarray(list.length - count * width)
    },
    catch: (error) => new SecureBoostError({ reason: "InvalidMessage", party, detail: error instanceof Error ? error.message : String(error) })
  })

// ---- label holder -----------------------------------------------------------------------------------------

/** Encrypts signed plaintexts (|x| < N/2) across the pool; bare residues in order. */
export const encrypt = (e: Engine, plaintexts: ReadonlyArray<bigint>): Effect.Effect<Uint8Array, SecureBoostError> =>
  Effect.gen(function*() {
    if (plaintexts.length === 0) return new Uint8Array(0)
    const residues = yield* attempt(e, "Headroom", () => plaintexts.map((x) => Paillier.toResidue(e.pk, x)))
    const inputs = ranges(residues.length, e.runner.size, 64).map(([s, t]) => PaillierJobs.encryptBatchInput(e.pk, residues.slice(s, t)))
    const outs = yield* run(e, PaillierJobs.JobNames.encryptBatch, inputs)
    return yield* attempt(e, "ComputeFailed", () => Residues.concat(outs.map((o) => {
      const r = new Reader(o, "encrypted batch").expectHeader(Kind.CiphertextList)
      r.take(32)
      const count = r.u32()
      return o.subarray(o.length - count * e.width)
    })))
  })

/**
 * Decrypts a serialized list to signed plaintexts across the pool. The Paillier job validates every ciphertext
 * (range and invertibility), since these come from another party.
 */
export const decrypt = (e: Engine, sk: PrivateKey, raw: Uint8Array): Effect.Effect<Array<bigint>, SecureBoostError> =>
  Effect.gen(function*() {
    const count = raw.length / e.width
    if (count === 0) return []
    const skBytes = Serialization.encodePrivateKey(sk)
    const inputs = ranges(count, e.runner.size, 8).map(([s, t]) => frames([skBytes, toList(e.pk, raw.subarray(s * e.width, t * e.width))]))
    const outs = yield* run(e, PaillierJobs.JobNames.decryptBatch, inputs)
    return yield* attempt(e, "ComputeFailed", () => outs.flatMap((o) => Serialization.decodePlaintexts(e.pk, o).map((m) => Paillier.toSigned(e.pk, m))))
  })

// ---- feature holders ----------------------------------------------------------------------------------------

export interface LevelEntries {
  /** m bare residues, their node slot (< nodes) and their row-major codes (m × F). */
  readonly ciphertexts: Uint8Array
  readonly nodeOf: Uint16Array
  readonly codes: Uint8Array
  readonly nodes: number
  readonly binCounts: ReadonlyArray<number>
  readonly modes: ReadonlyArray<number>
  readonly slotBits: number
  readonly cellsPerCiphertext: number
}

/**
 * One level's packed cumulative histograms, in canonical order (node, feature, cell): histogram jobs over row
 * chunks, then pack jobs over ranges of whole packed ciphertexts, so the output does not depend on the pool
 * size.
 */
export const histograms = (e: Engine, l: LevelEntries): Effect.Effect<Uint8Array, SecureBoostError> =>
  Effect.gen(function*() {
    const F = l.binCounts.length
    const m = l.ciphertexts.length / e.width
    const nodeBytes = new Uint8Array(l.nodeOf.buffer, l.nodeOf.byteOffset, l.nodeOf.byteLength)
    const chunks = ranges(m, e.runner.size, 256)
    const partials = yield* run(e, Jobs.JobNames.histogram, chunks.map(([s, t]) =>
      Jobs.histogramInput({
        publicKey: e.publicKey,
        nodes: l.nodes,
        binCounts: l.binCounts,
        modes: l.modes,
        ciphertexts: l.ciphertexts.subarray(s * e.width, t * e.width),
        nodeOf: nodeBytes.subarray(2 * s, 2 * t),
        codes: l.codes.subarray(s * F, t * F)
      })))
    const stride = 1 + l.binCounts.reduce((a, b) => a + b, 0)
    const slice = (out: Uint8Array, at: number, count: number) => out.subarray(at * e.width, (at + count) * e.width)
    // Groups in canonical order with their cells' global positions.
    const groups: Array<{ node: number; f: number; offset: number; start: number; cells: number }> = []
    let cells = 0
    for (let node = 0; node < l.nodes; node++) {
      let offset = 1
      for (let f = 0; f < F; f++) {
        const bins = l.binCounts[f]!
        groups.push({ node, f, offset, start: cells, cells: bins - 1 })
        cells += bins - 1
        offset += bins
      }
    }
    if (cells === 0) return new Uint8Array(0)
    const ciphertexts = Math.ceil(cells / l.cellsPerCiphertext)
    const jobs = ranges(ciphertexts, e.runner.size, 4).map(([s, t]) => [s * l.cellsPerCiphertext, Math.min(cells, t * l.cellsPerCiphertext)] as const)
    const inputs = jobs.map(([from, to]) =>
      Jobs.packInput({
        publicKey: e.publicKey,
        slotBits: l.slotBits,
        cellsPerCiphertext: l.cellsPerCiphertext,
        chunks: chunks.length,
        groups: groups.filter((g) => g.cells > 0 && g.start < to && g.start + g.cells > from).map((g) => ({
          bins: l.binCounts[g.f]!,
          mode: l.modes[g.f]!,
          partials: Residues.concat(partials.map((p) => slice(p, g.node * stride + g.offset, l.binCounts[g.f]!))),
          totals: Residues.concat(partials.map((p) => slice(p, g.node * stride, 1))),
          from: Math.max(0, from - g.start),
          to: Math.min(g.cells, to - g.start)
        }))
      }))
    return Residues.concat(yield* run(e, Jobs.JobNames.packCells, inputs))
  })

/** Reduced-leakage split reply: packed [[Σ 2^j·ind_j·b_j]] over chunks of bits(N) − 2 rows. */
export const selectBits = (e: Engine, indicators: Uint8Array, bits: Uint8Array): Effect.Effect<Uint8Array, SecureBoostError> =>
  Effect.gen(function*() {
    const per = e.pk.bits - 2
    const chunks = ranges(Math.ceil(bits.length / per), e.runner.size).map(([s, t]) => [s * per, Math.min(bits.length, t * per)] as const)
    const outs = yield* run(e, Jobs.JobNames.selectBits, chunks.map(([s, t]) =>
      Jobs.selectInput({ publicKey: e.publicKey, indicators: indicators.subarray(s * e.width, t * e.width), bits: bits.subarray(s, t) })))
    return Residues.concat(outs)
  })
