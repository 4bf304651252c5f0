/**
 * Deterministic expansion of a 32-byte seed into a vector of ring elements mod 2^bits (the masks of secure
 * aggregation, PROTOCOLS.md §5.4 Mode A "PRF(seed_ik, round)").
 *
 * Construction, per PRG name (a task's choice, signed into secure aggregation's parameters):
 *
 *   "chacha20"    key = HKDF-SHA256(seed, info = "jointly/prg/v1\0" ‖ label, 32 bytes); the ChaCha20 (RFC 8439)
 *                 keystream under that key, nonce zero, block counter from 0.
 *   "aes128-ctr"  key = HKDF-SHA256(seed, info = "jointly/prg/aes128-ctr/v1\0" ‖ label, 16 bytes); the AES-128-CTR
 *                 keystream (SP 800-38A) under that key from the all-zero 128-bit counter block, incremented as
 *                 one big-endian 128-bit integer per 16-byte block (block i of the stream is AES_k(i)).
 *
 * Each derived key is used for exactly one stream, so the fixed zero nonce / initial counter never repeats under a
 * key; the distinct HKDF info labels keep the two PRGs' keys independent even for the same seed and label (domain
 * separation). A 1M-element 64-bit mask is 2^19 AES blocks, far below the 2^64-block birthday bound of a 128-bit
 * block cipher (the PRF/PRP switching loss is ≈ q²/2^129).
 *
 * Element i is read from ⌈bits/32⌉ consecutive little-endian 32-bit words with the unused high bits
 * of the last word cleared: 2^bits divides 2^(32·words), so every residue is equally likely (no bias, no
 * rejection sampling), and expansion is a single keystream pass with no per-element allocation.
 *
 * The keystream comes from a `PrgKernel` (the caller's, from the host's `PrgKernel` service; pure JS when none
 * is passed): every kernel yields the same bytes, so masks never depend on where they were expanded.
 *
 * Limb layout (shared with the ring arithmetic of secure aggregation): element i occupies
 * `limbs[i·L … i·L+L)`, least significant 32-bit limb first, L = `limbsPerElement(bits)`.
 */
import { swap32IfBE } from "@noble/ciphers/utils.js"
import { hkdf } from "@noble/hashes/hkdf.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Schema } from "effect"
import * as PrgKernel from "./PrgKernel.ts"

/** The PRGs a task may choose; a new one is a new name (never a change of an existing name's bytes). */
export const NAMES = ["chacha20", "aes128-ctr"] as const satisfies ReadonlyArray<PrgKernel.Cipher>
export type Name = typeof NAMES[number]
export const NameSchema = Schema.Literals(NAMES)
/** New tasks' PRG: AES-128-CTR runs ≈ 1.8× ChaCha20 where the CPU has AES instructions (README, design notes). */
export const DEFAULT_NAME: Name = "aes128-ctr"
/** The PRG of parameters that name none (secure aggregation before PRGs were selectable). */
export const LEGACY_NAME: Name = "chacha20"

/** `name` as a PRG name, or undefined for one this build does not know. */
export const parseName = (name: string): Name | undefined => (NAMES as ReadonlyArray<string>).includes(name) ? name as Name : undefined

export const SEED_BYTES = 32
/** Largest ring the PRG serves; wider rings would only cost time without a use in Jointly. */
export const MAX_BITS = 1024

const IV: Readonly<Record<Name, Uint8Array>> = { "chacha20": new Uint8Array(12), "aes128-ctr": new Uint8Array(16) }
const INFO_PREFIX: Readonly<Record<Name, Uint8Array>> = {
  "chacha20": utf8ToBytes("jointly/prg/v1\u0000"),
  "aes128-ctr": utf8ToBytes("jointly/prg/aes128-ctr/v1\u0000")
}

/** 32-bit limbs per ring element. @throws RangeError for bits outside [1, MAX_BITS]. */
export const limbsPerElement = (bits: number): number => {
  if (!Number.isInteger(bits) || bits < 1 || bits > MAX_BITS) {
    throw new RangeError(`bits must be an integer in [1, ${MAX_BITS}], got ${bits}`)
  }
  return Math.ceil(bits / 32)
}

/** Mask of the valid bits in an element's most significant limb. */
export const topLimbMask = (bits: number): number => (bits % 32 === 0 ? 0xffffffff : (2 ** (bits % 32) - 1))

/** The cipher key of the expansion of `seed` under `label` with PRG `prg` (module doc); the IV is all zero. */
export const streamKey = (seed: Uint8Array, label: string, prg: Name = LEGACY_NAME): Uint8Array => {
  if (seed.length !== SEED_BYTES) throw new RangeError(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`)
  return hkdf(sha256, seed, undefined, concatBytes(INFO_PREFIX[prg], utf8ToBytes(label)), PrgKernel.KEY_BYTES[prg])
}

/**
 * Expands `seed` under `label` into `length` elements mod 2^bits, as limbs (layout in the module doc).
 * Pass `output` (length·L limbs) to reuse a buffer across expansions; `kernel` defaults to the pure-JS one, `prg`
 * to ChaCha20 (the PRG of every use that predates the choice: masked sums, the SecAgg+ graph).
 */
export const expandLimbs = (
  seed: Uint8Array,
  label: string,
  length: number,
  bits: number,
  output?: Uint32Array,
  kernel: PrgKernel.PrgKernel = PrgKernel.noble,
  prg: Name = LEGACY_NAME
): Uint32Array => {
  if (seed.length !== SEED_BYTES) throw new RangeError(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`)
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`)
  const limbs = limbsPerElement(bits)
  const words = length * limbs
  if (output !== undefined && output.length !== words) {
    throw new RangeError(`output must hold ${words} limbs, got ${output.length}`)
  }
  const out = output ?? new Uint32Array(words)
  if (words === 0) return out
  kernel.keystream(prg, streamKey(seed, label, prg), IV[prg], new Uint8Array(out.buffer, out.byteOffset, out.byteLength))
  swap32IfBE(out)
  const mask = topLimbMask(bits)
  if (mask !== 0xffffffff) {
    for (let i = limbs - 1; i < words; i += limbs) out[i] = out[i]! & mask
  }
  return out
}

/**
 * The expansion of `seed` under `label` as a stream of limbs: each call yields the next `count` limbs (a multiple
 * of `limbsPerElement(bits)` so elements never straddle calls, and of 16 except in the last call), equal to the
 * matching slice of `expandLimbs`. The array is valid until the next call.
 */
export const streamLimbs = (
  seed: Uint8Array,
  label: string,
  bits: number,
  kernel: PrgKernel.PrgKernel = PrgKernel.noble,
  prg: Name = LEGACY_NAME
): (count: number) => Uint32Array => {
  if (seed.length !== SEED_BYTES) throw new RangeError(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`)
  const limbs = limbsPerElement(bits)
  const mask = topLimbMask(bits)
  const next = kernel.stream(prg, streamKey(seed, label, prg), IV[prg])
  return (count) => {
    if (count % limbs !== 0) throw new RangeError(`${count} limbs is not a whole number of ${limbs}-limb elements`)
    const bytes = next(count * 4)
    const out = new Uint32Array(bytes.buffer, bytes.byteOffset, count)
    swap32IfBE(out)
    if (mask !== 0xffffffff) {
      for (let i = limbs - 1; i < count; i += limbs) out[i] = out[i]! & mask
    }
    return out
  }
}

/** Expands into bigints in [0, 2^bits); convenient for small vectors (tests, statistics). */
export const expand = (seed: Uint8Array, label: string, length: number, bits: number, prg: Name = LEGACY_NAME): Array<bigint> => {
  const limbs = limbsPerElement(bits)
  const raw = expandLimbs(seed, label, length, bits, undefined, PrgKernel.noble, prg)
  const result = new Array<bigint>(length)
  for (let i = 0; i < length; i++) {
    let value = 0n
    for (let j = limbs - 1; j >= 0; j--) value = (value << 32n) | BigInt(raw[i * limbs + j]!)
    result[i] = value
  }
  return result
}
