/**
 * How fixed-point gradients and hessians share Paillier plaintexts (Packing.ts slots, signed, borrows allowed):
 *
 * - one row: x_i = g_i + 2^W·h_i, two slots of W bits in one ciphertext [[x_i]] (FATE's "GH packing"), so
 *   a feature holder's homomorphic sums cost one ciphertext multiplication per row and feature, not two;
 * - one histogram cell (the left-cumulative sums of a bin): G + 2^W·H, the same two slots;
 * - one returned ciphertext: `cellsPerCiphertext` cells, Σ_j 2^(2W·j)·cell_j (SecureBoost+'s "cipher
 *   compressing"), so the label holder decrypts ⌊(bits(N) − 2)/2W⌋ cells per decryption.
 *
 * Headroom: a slot holds a sum over at most `rows` training rows of values below 2^valueBits in magnitude, so
 * W = valueBits + ⌈log2 rows⌉ + 1 (Packing.layout checks every slot and the whole against N/2). The label
 * holder also checks valueBits + ⌈log2 rows⌉ ≤ 52, so every sum it decrypts, and every sum of the plaintext
 * reference, is an exact float64 integer (Split.ts relies on it for identical trees).
 */
import type { PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import { fail } from "./Errors.ts"

export interface Layout {
  readonly valueBits: number
  readonly slotBits: number
  readonly cellsPerCiphertext: number
  readonly packing: Packing.Layout
}

const bitLength = (x: number): number => (x === 0 ? 0 : Math.floor(Math.log2(x)) + 1)
const log2Ceil = (x: number): number => (x <= 1 ? 0 : Math.ceil(Math.log2(x)))

/** Bits v with |x| < 2^v for every fixed-point g and h of a tree. */
export const valueBitsOf = (gq: ArrayLike<number>, hq: ArrayLike<number>, rows: ArrayLike<number>): number => {
  let max = 0
  for (let i = 0; i < rows.length; i++) max = Math.max(max, Math.abs(gq[rows[i]!]!), Math.abs(hq[rows[i]!]!))
  return Math.max(1, bitLength(max))
}

export const layoutFor = (pk: PublicKey, valueBits: number, rows: number): Layout => {
  if (valueBits + log2Ceil(rows) > 52) {
    fail("Headroom", 0, `sums of ${rows} values below 2^${valueBits} are not exact in float64: lower scaleBits (or scale the regression label)`)
  }
  const packing = Packing.layout(pk, { valueBits, maxAddends: Math.max(1, rows) })
  const cellsPerCiphertext = Math.floor(packing.slots / 2)
  if (cellsPerCiphertext < 1) fail("Headroom", 0, `a cell of two ${packing.slotBits}-bit slots does not fit one plaintext`)
  return { valueBits, slotBits: packing.slotBits, cellsPerCiphertext, packing }
}

/** The layout a feature holder rebuilds from the label holder's announcement (same checks). */
export const layoutFromSlotBits = (pk: PublicKey, slotBits: number, party: number): Layout => {
  const capacity = Packing.capacity(pk, slotBits)
  if (!Number.isInteger(slotBits) || slotBits < 2 || capacity < 2) fail("InvalidMessage", party, `slot width ${slotBits} does not fit a ${pk.bits}-bit key`)
  const packing: Packing.Layout = { valueBits: slotBits - 1, maxAddends: 1n, slotBits, slots: capacity }
  return { valueBits: slotBits - 1, slotBits, cellsPerCiphertext: Math.floor(capacity / 2), packing }
}

/** Signed plaintext of one row: g + 2^W·h. */
export const rowPlaintext = (l: Layout, g: number, h: number): bigint => Packing.pack(l.packing, [BigInt(g), BigInt(h)])

/** Cells of one decrypted ciphertext holding `cells` cells: [G_0, H_0, G_1, H_1, …] as exact numbers. */
export const unpackCells = (l: Layout, plaintext: bigint, cells: number): Array<number> =>
  Packing.unpack(l.packing, plaintext, 2 * cells).map(Number)

/** How many ciphertexts carry `cells` cells. */
export const ciphertextsFor = (l: Layout, cells: number): number => Math.ceil(cells / l.cellsPerCiphertext)
