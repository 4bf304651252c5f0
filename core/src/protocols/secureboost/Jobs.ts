/**
 * The feature holders' homomorphic work as worker-pool jobs (DESIGN.md §6: bytes in, bytes out; inputs are
 * JobCodec objects, ciphertexts fixed-width residues, Residues.ts). Registered by
 * participant/src/worker/jobs.ts through `makeSecureBoostJobs(kernels)`; protocol code reaches them through
 * Compute.ts, inline when the host has no pool.
 *
 *   secureboost.histogram   rows → per (node, feature, bin) products of the rows' ciphertexts, and per node the
 *                           product of all its rows. A row's ciphertext multiplies into the bin it falls in for
 *                           every feature except into the feature's mode bin (derived later as
 *                           total / Π other bins), so rows in a feature's most populated bin cost nothing for
 *                           that feature: one ciphertext multiplication per (row, feature) otherwise, plus one per
 *                           row for the node total. Split by rows: each job's partial products are combined by
 *                           the pack job, so every ciphertext crosses the thread boundary once per level.
 *   secureboost.pack-cells  per (node, feature): combine the row chunks' partial products, derive the mode bin
 *                           (one inversion per job by Montgomery's batch trick), take left-cumulative products
 *                           (cell b = Σ_{bin ≤ b}, b < bins − 1), pack `cellsPerCiphertext` cells per
 *                           ciphertext by Horner (acc ← acc^(2^(2W))·cell) and re-randomise each packed
 *                           ciphertext: a product of the label holder's own ciphertexts carries the product of
 *                           their randomness, which the key holder can recover and match against the rows'
 *                           (a single-row bin would name its row).
 *   secureboost.select-bits reduced-leakage mode: [[Σ_j 2^j·ind_j·b_j]] over chunks of bits(N) − 2 rows from the
 *                           label holder's encrypted node indicators [[ind_j]] and this party's split decisions
 *                           b_j (acc ← acc²·(b_j ? [[ind_j]] : 1)), re-randomised: the label holder learns the
 *                           decisions of the node's rows only, this party learns nothing of the node.
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import * as JobCodec from "../../compute/JobCodec.ts"
import { batchInverse, tsKernels } from "../../compute/TsKernels.ts"
import { keyCache } from "../../crypto/paillier/Jobs.ts"
import type { KeySizePolicy, PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import * as Residues from "./Residues.ts"

export const JobNames = {
  histogram: "secureboost.histogram",
  packCells: "secureboost.pack-cells",
  selectBits: "secureboost.select-bits"
} as const

export type Job = (input: Uint8Array) => Uint8Array

export interface HistogramInput {
  readonly publicKey: Uint8Array
  /** Computed nodes of this level (K) and this party's features (F). */
  readonly nodes: number
  readonly binCounts: ReadonlyArray<number>
  readonly modes: ReadonlyArray<number>
  /** m residues. */
  readonly ciphertexts: Uint8Array
  /** Node slot (< K) of each entry, u16 little-endian. */
  readonly nodeOf: Uint8Array
  /** Row-major bin codes, m × F. */
  readonly codes: Uint8Array
}

export interface PackGroup {
  readonly bins: number
  readonly mode: number
  /** Chunks × bins residues (a mode-bin entry is ignored) and chunks residues of the node total. */
  readonly partials: Uint8Array
  readonly totals: Uint8Array
  /** The group's cells [from, to) go out (a group may straddle two jobs). */
  readonly from: number
  readonly to: number
}

export interface PackInput {
  readonly publicKey: Uint8Array
  readonly slotBits: number
  readonly cellsPerCiphertext: number
  readonly chunks: number
  readonly groups: ReadonlyArray<PackGroup>
}

export interface SelectInput {
  readonly publicKey: Uint8Array
  readonly indicators: Uint8Array
  /** One byte per entry, 0 or 1. */
  readonly bits: Uint8Array
}

const record = (value: JobCodec.JobValue, job: string): Record<string, JobCodec.JobValue> => {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array || value instanceof Float64Array) {
    throw new TypeError(`${job}: expected an object`)
  }
  return value as Record<string, JobCodec.JobValue>
}
const object = (input: Uint8Array, job: string) => record(JobCodec.decode(input), job)
const bytes = (o: Record<string, JobCodec.JobValue>, key: string, job: string): Uint8Array => {
  const v = o[key]
  if (!(v instanceof Uint8Array)) throw new TypeError(`${job}: ${key} must be bytes`)
  return v
}
const int = (o: Record<string, JobCodec.JobValue>, key: string, job: string): number => {
  const v = o[key]
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new TypeError(`${job}: ${key} must be a non-negative integer`)
  return v
}
const ints = (o: Record<string, JobCodec.JobValue>, key: string, job: string): Array<number> => {
  const v = o[key]
  if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isSafeInteger(x) || x < 0)) throw new TypeError(`${job}: ${key} must be a list of integers`)
  return v as Array<number>
}

export const makeSecureBoostJobs = (kernels: BigIntKernels = tsKernels, policy: KeySizePolicy = {}): Record<string, Job> => {
  const keys = keyCache<PublicKey>((b) => Serialization.decodePublicKey(b, { ...policy, kernels }))
  /** The decoded input, its key (held to the key-size policy), N² and the residue width. */
  const open = (input: Uint8Array, job: string) => {
    const o = object(input, job)
    const pk = keys(bytes(o, "publicKey", job))
    return { o, pk, n2: pk.n2, width: Residues.widthOf(pk.bits) }
  }
  /** Re-randomises packed ciphertexts (fresh h_s^r each) and writes them as residues. */
  const rerandomized = (pk: PublicKey, packed: ReadonlyArray<bigint>, width: number): Uint8Array => {
    const randomness = Randomness.automatic(pk, kernels)
    return Residues.writeAll(packed.map((c) => (c * randomness()) % pk.n2), width)
  }

  const histogram: Job = (input) => {
    const job = JobNames.histogram
    const { o, n2, width } = open(input, job)
    const nodes = int(o, "nodes", job)
    const binCounts = ints(o, "binCounts", job)
    const modes = ints(o, "modes", job)
    const cts = bytes(o, "ciphertexts", job)
    const nodeOf = bytes(o, "nodeOf", job)
    const codes = bytes(o, "codes", job)
    const F = binCounts.length
    const m = cts.length / width
    if (!Number.isInteger(m) || nodeOf.length !== 2 * m || codes.length !== m * F || modes.length !== F || modes.some((b, f) => b >= binCounts[f]!)) {
      throw new RangeError(`${job}: inconsistent lengths`)
    }
    // Accumulator layout per node: [total, then each feature's bins].
    const offsets: Array<number> = []
    let stride = 1
    for (const b of binCounts) {
      offsets.push(stride)
      stride += b
    }
    const acc: Array<bigint> = new Array(nodes * stride).fill(1n)
    for (let e = 0; e < m; e++) {
      const c = Residues.read(cts, width, e, n2)
      const node = nodeOf[2 * e]! | (nodeOf[2 * e + 1]! << 8)
      if (node >= nodes) throw new RangeError(`${job}: node slot ${node} ≥ ${nodes}`)
      const base = node * stride
      acc[base] = (acc[base]! * c) % n2
      const row = e * F
      for (let f = 0; f < F; f++) {
        const b = codes[row + f]!
        if (b === modes[f]) continue
        if (b >= binCounts[f]!) throw new RangeError(`${job}: bin ${b} of feature ${f} ≥ ${binCounts[f]}`)
        const k = base + offsets[f]! + b
        acc[k] = (acc[k]! * c) % n2
      }
    }
    return Residues.writeAll(acc, width)
  }

  const packCells: Job = (input) => {
    const job = JobNames.packCells
    const { o, pk, n2, width } = open(input, job)
    const slotBits = int(o, "slotBits", job)
    const perCiphertext = int(o, "cellsPerCiphertext", job)
    const chunks = int(o, "chunks", job)
    const groups = o.groups
    if (!Array.isArray(groups) || perCiphertext < 1 || chunks < 1 || 2 * slotBits * perCiphertext > pk.bits - 2) throw new RangeError(`${job}: bad layout`)
    const parsed = groups.map((g) => {
      const group = record(g, job)
      const bins = int(group, "bins", job)
      const mode = int(group, "mode", job)
      const from = int(group, "from", job)
      const to = int(group, "to", job)
      const partials = bytes(group, "partials", job)
      const totals = bytes(group, "totals", job)
      if (mode >= bins || to > bins - 1 || from > to || partials.length !== chunks * bins * width || totals.length !== chunks * width) throw new RangeError(`${job}: inconsistent group`)
      // Combine the row chunks: every bin but the mode, and the node total.
      const combined: Array<bigint> = new Array(bins).fill(1n)
      let total = 1n
      let others = 1n
      for (let c = 0; c < chunks; c++) {
        total = (total * Residues.read(totals, width, c, n2)) % n2
        for (let b = 0; b < bins; b++) {
          if (b === mode) continue
          const x = Residues.read(partials, width, c * bins + b, n2)
          combined[b] = (combined[b]! * x) % n2
          others = (others * x) % n2
        }
      }
      return { bins, mode, from, to, combined, total, others }
    })
    const inverses = batchInverse(parsed.map((g) => g.others), n2, kernels)
    const cells: Array<bigint> = []
    parsed.forEach((g, i) => {
      g.combined[g.mode] = (g.total * inverses[i]!) % n2
      let cumulative = 1n
      for (let b = 0; b < g.to; b++) {
        cumulative = (cumulative * g.combined[b]!) % n2
        if (b >= g.from) cells.push(cumulative)
      }
    })
    const shift = 1n << BigInt(2 * slotBits)
    const packed: Array<bigint> = []
    for (let start = 0; start < cells.length; start += perCiphertext) {
      const end = Math.min(cells.length, start + perCiphertext)
      let acc = cells[end - 1]!
      for (let j = end - 2; j >= start; j--) acc = (kernels.modPow(acc, shift, n2) * cells[j]!) % n2
      packed.push(acc)
    }
    return rerandomized(pk, packed, width)
  }

  const selectBits: Job = (input) => {
    const job = JobNames.selectBits
    const { o, pk, n2, width } = open(input, job)
    const indicators = bytes(o, "indicators", job)
    const bits = bytes(o, "bits", job)
    const m = indicators.length / width
    if (!Number.isInteger(m) || bits.length !== m) throw new RangeError(`${job}: inconsistent lengths`)
    const perCiphertext = pk.bits - 2
    const packed: Array<bigint> = []
    for (let start = 0; start < m; start += perCiphertext) {
      let acc = 1n
      for (let j = Math.min(m, start + perCiphertext) - 1; j >= start; j--) {
        acc = (acc * acc) % n2
        if (bits[j] === 1) acc = (acc * Residues.read(indicators, width, j, n2)) % n2
      }
      packed.push(acc)
    }
    return rerandomized(pk, packed, width)
  }

  return { [JobNames.histogram]: histogram, [JobNames.packCells]: packCells, [JobNames.selectBits]: selectBits }
}

export const histogramInput = (i: HistogramInput): Uint8Array => JobCodec.encode({ ...i, binCounts: [...i.binCounts], modes: [...i.modes] })
export const packInput = (i: PackInput): Uint8Array => JobCodec.encode({ ...i, groups: i.groups.map((g) => ({ ...g })) })
export const selectInput = (i: SelectInput): Uint8Array => JobCodec.encode({ ...i })
