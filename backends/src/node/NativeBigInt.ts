/**
 * The big-integer kernels on OpenSSL's BN Montgomery arithmetic through the addon of ../native (bignum.c, which
 * resolves OpenSSL's public BN API from the `node` process itself): modPow in BN_mod_exp_mont_consttime with one
 * Montgomery context per modulus, the CRT halves in one call (BN_mod_exp_mont_consttime_x2), and fixed-base
 * tables kept in native memory in Montgomery form (`fixedBase`: the DJN randomness h_s^r in 128 Montgomery
 * products instead of 128 BigInt multiplications and `%`), and `multiExp` in one native Straus pass over
 * Montgomery products (a 4096-bit product in a few µs there, against tens of µs for a BigInt `*` and `%`).
 *
 * Where the CPU has AVX-512 IFMA, modPow, the CRT pair and the fixed-base tables run the addon's own IFMA
 * Montgomery arithmetic (../native/ifma.c) instead of OpenSSL's for the modulus sizes where it was measured faster
 * (above 1024 bits: OpenSSL 3.0 has IFMA code for 1024-bit moduli only); `make({ ifma: "off" })` keeps OpenSSL
 * for every size (the benches' same-run baseline, the tests' reference).
 *
 * The same answers as the TS kernel (core's kernel conformance suite); where the addon or OpenSSL's BN symbols
 * are missing, `make()` says why and the Node backends keep the Diffie–Hellman route (OpenSslKernels.ts).
 * Each `make()` has its own Montgomery contexts: the Node backends build one per thread (NodeBackends.ts).
 */
import type { BigIntKernels, FixedBasePower } from "@jointly/core/internal/compute/Kernels"
import * as TsKernels from "@jointly/core/internal/compute/TsKernels"
import { fromBytes, toBytes } from "./BigIntBytes.ts"
import * as NativeAddon from "./NativeAddon.ts"

declare const handle: unique symbol
type Handle = { readonly [handle]: "bn" }

interface Addon {
  /** `ifma`: run modPow through the IFMA kernel where the CPU has it and the size is covered. */
  bnMont: (modulus: Uint8Array, ifma: boolean) => Handle
  bnModPow: (mont: Handle, base: Uint8Array, exponent: Uint8Array, out: Uint8Array) => void
  bnModPowX2: (a: Handle, baseA: Uint8Array, expA: Uint8Array, outA: Uint8Array, b: Handle, baseB: Uint8Array, expB: Uint8Array, outB: Uint8Array) => void
  bnFixedBase: (mont: Handle, base: Uint8Array, windows: number, windowBits: number) => Handle
  bnFixedBasePow: (table: Handle, digits: Uint8Array, out: Uint8Array) => void
  /** Bytes per entry of a bnFixedBase table over this modulus (the IFMA kernel's limbs take more than the modulus). */
  bnEntryBytes: (mont: Handle) => number
  bnMultiExp: (mont: Handle, bases: Uint8Array, exponents: Uint8Array, exponentBytes: number, out: Uint8Array) => void
  bnMultiExpTable: (mont: Handle, bases: Uint8Array, windowBits: number) => Handle
  bnMultiExpWith: (table: Handle, exponents: Uint8Array, exponentBytes: number, out: Uint8Array) => void
  /** Optional (BN_mod_inverse where the process exports it): false when the value has no inverse. */
  bnModInverse?: (value: Uint8Array, modulus: Uint8Array, out: Uint8Array) => boolean
  bignumProblem?: string
  /** Whether this CPU runs the IFMA kernel (absent from addons built before it). */
  bnIfma?: boolean
}

const CONTEXTS = 32
/** Native memory one fixed-base table may take: the widest window (≤ 8 bits) that fits. */
const TABLE_BYTES = 24 * 2 ** 20

/** The widest window whose table of ⌈bits/w⌉ × 2^w entries of `entryBytes` fits TABLE_BYTES (at least 1 bit). */
export const windowBitsFor = (exponentBits: number, entryBytes: number): number => {
  for (let w = 8; w > 1; w--) if (Math.ceil(exponentBits / w) * 2 ** w * entryBytes <= TABLE_BYTES) return w
  return 1
}

/** Little-endian base-2^w digits of e (one byte each) for a table of `windows` windows. */
const digitsOf = (e: bigint, w: number, windows: number): Uint8Array => {
  const bytes = toBytes(e).reverse()
  if (w === 8) return bytes
  const digits = new Uint8Array(windows)
  const mask = (1 << w) - 1
  for (let i = 0, bit = 0; i < windows; i++, bit += w) {
    const at = bit >> 3
    const word = (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8)
    digits[i] = (word >> (bit & 7)) & mask
  }
  return digits
}

/**
 * Which modulus sizes the IFMA kernel takes: "auto" those where it beats OpenSSL (more than 1024 bits), "always"
 * every size it covers (tests: its arithmetic at small sizes too), "off" none.
 */
export type Ifma = "auto" | "always" | "off"

/**
 * Below this many modulus bits OpenSSL's own code is faster: at exactly 1024 bits (its IFMA path) the IFMA kernel
 * ran 0.8–0.9× OpenSSL's modPow, at 1025–1536 bits 1.8–2.4×, at 2048 2.4× (one run, load ≈ 10).
 */
const IFMA_MIN_BITS = 1025

/** Whether this process's addon runs the IFMA kernel on this CPU (false without the addon or without AVX-512 IFMA). */
export const ifmaAvailable = (): boolean => {
  const opened = NativeAddon.open()
  return opened.problem === undefined && (opened.exports as Partial<Addon>).bnIfma === true
}

export type Made = { readonly kernels: BigIntKernels; readonly problem?: undefined } | { readonly kernels?: undefined; readonly problem: string }

/** Native kernels with empty Montgomery-context caches, or why there are none. */
export const make = (options: { readonly ifma?: Ifma } = {}): Made => {
  const opened = NativeAddon.open()
  if (opened.problem !== undefined) return { problem: opened.problem }
  const addon = opened.exports as Partial<Addon>
  if (typeof addon.bnMont !== "function" || typeof addon.bnMultiExp !== "function" || typeof addon.bnMultiExpTable !== "function" || typeof addon.bnEntryBytes !== "function") return { problem: addon.bignumProblem ?? "the addon has no BN kernels (rebuild: npm run build -w backends)" }
  return { kernels: kernelsOver(addon as Addon, options.ifma ?? "auto") }
}

const kernelsOver = (addon: Addon, ifma: Ifma): BigIntKernels => {
  const ifmaFor = (modulus: bigint) => ifma === "always" || (ifma === "auto" && modulus.toString(2).length >= IFMA_MIN_BITS)
  // Montgomery contexts by modulus (a Map compares bigint keys by value), least recently used first.
  const contexts = new Map<bigint, { readonly mont: Handle; readonly bytes: number }>()
  const context = (modulus: bigint) => {
    let found = contexts.get(modulus)
    if (found !== undefined) {
      contexts.delete(modulus)
    } else {
      const bytes = toBytes(modulus)
      found = { mont: addon.bnMont(bytes, ifmaFor(modulus)), bytes: bytes.length }
      if (contexts.size >= CONTEXTS) contexts.delete(contexts.keys().next().value!)
    }
    contexts.set(modulus, found)
    return found
  }

  const reduce = (base: bigint, modulus: bigint): bigint => {
    const b = base % modulus
    return b < 0n ? b + modulus : b
  }

  const checkModulus = (modulus: bigint): void => {
    if (modulus <= 1n || (modulus & 1n) === 0n) throw new RangeError("modPow needs an odd modulus greater than 1")
  }

  const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
    if (exponent < 0n) throw new RangeError("modPow needs a non-negative exponent")
    checkModulus(modulus)
    const { mont, bytes } = context(modulus)
    const out = new Uint8Array(bytes)
    addon.bnModPow(mont, toBytes(reduce(base, modulus)), toBytes(exponent), out)
    return fromBytes(out)
  }

  const modPowPair: NonNullable<BigIntKernels["modPowPair"]> = ([baseA, expA, modA], [baseB, expB, modB]) => {
    if (expA < 0n || expB < 0n) throw new RangeError("modPow needs a non-negative exponent")
    checkModulus(modA)
    checkModulus(modB)
    const a = context(modA)
    const b = context(modB)
    const outA = new Uint8Array(a.bytes)
    const outB = new Uint8Array(b.bytes)
    addon.bnModPowX2(a.mont, toBytes(reduce(baseA, modA)), toBytes(expA), outA, b.mont, toBytes(reduce(baseB, modB)), toBytes(expB), outB)
    return [fromBytes(outA), fromBytes(outB)]
  }

  const fixedBase = (base: bigint, modulus: bigint, exponentBits: number): FixedBasePower => {
    if (!Number.isInteger(exponentBits) || exponentBits < 1) throw new RangeError("fixedBase needs a positive exponent size")
    checkModulus(modulus)
    const { mont, bytes } = context(modulus)
    const w = windowBitsFor(exponentBits, addon.bnEntryBytes(mont))
    const windows = Math.ceil(exponentBits / w)
    const table = addon.bnFixedBase(mont, toBytes(reduce(base, modulus)), windows, w)
    const covered = windows * w
    const limit = 1n << BigInt(covered)
    const run = (digits: Uint8Array) => {
      const out = new Uint8Array(bytes)
      addon.bnFixedBasePow(table, digits, out)
      return fromBytes(out)
    }
    // powRandom: one random byte per window, masked to w bits (uniform r of w·windows bits).
    const random = new Uint8Array(windows)
    const mask = (1 << w) - 1
    return {
      exponentBits: covered,
      pow: (exponent) => {
        if (exponent < 0n || exponent >= limit) throw new RangeError("fixed-base exponent outside the table's range")
        return run(exponent === 0n ? new Uint8Array(0) : digitsOf(exponent, w, windows))
      },
      powRandom: () => {
        crypto.getRandomValues(random)
        if (w !== 8) for (let i = 0; i < windows; i++) random[i]! &= mask
        const value = run(random)
        random.fill(0) // r would decrypt this ciphertext: not left in a buffer that outlives the call
        return value
      }
    }
  }

  /** The bases reduced and concatenated at the modulus width. */
  const packBases = (bases: ReadonlyArray<bigint>, modulus: bigint, bytes: number): Uint8Array => {
    const packed = new Uint8Array(bases.length * bytes)
    bases.forEach((b, i) => {
      const x = toBytes(reduce(b, modulus))
      packed.set(x, (i + 1) * bytes - x.length)
    })
    return packed
  }

  /** The exponents concatenated big-endian at the widest one's width (at least a byte). */
  const packExponents = (exponents: ReadonlyArray<bigint>): { readonly packed: Uint8Array; readonly exponentBytes: number } => {
    let widest = 0n
    for (const e of exponents) {
      if (e < 0n) throw new RangeError("multiExp: exponents must be non-negative")
      if (e > widest) widest = e
    }
    const exponentBytes = Math.max(1, toBytes(widest).length)
    const packed = new Uint8Array(exponents.length * exponentBytes)
    exponents.forEach((e, i) => {
      if (e > 0n) {
        const x = toBytes(e)
        packed.set(x, (i + 1) * exponentBytes - x.length)
      }
    })
    return { packed, exponentBytes }
  }

  // One call for the whole product: bases at the modulus width, exponents at the widest one's width.
  const multiExp: NonNullable<BigIntKernels["multiExp"]> = (bases, exponents, modulus) => {
    if (exponents.length !== bases.length) throw new RangeError(`multiExp: ${bases.length} bases but ${exponents.length} exponents`)
    const { packed, exponentBytes } = packExponents(exponents)
    checkModulus(modulus)
    const { mont, bytes } = context(modulus)
    const out = new Uint8Array(bytes)
    addon.bnMultiExp(mont, packBases(bases, modulus, bytes), packed, exponentBytes, out)
    return fromBytes(out)
  }

  // The tables are built once, so a wider window than bnMultiExp's per-call choice pays off over many products.
  const multiExpTable: NonNullable<BigIntKernels["multiExpTable"]> = (bases, modulus, exponentBits) => {
    checkModulus(modulus)
    const { mont, bytes } = context(modulus)
    const w = exponentBits <= 8 ? 2 : exponentBits <= 24 ? 4 : exponentBits <= 80 ? 5 : 6
    const table = addon.bnMultiExpTable(mont, packBases(bases, modulus, bytes), w)
    return (exponents) => {
      if (exponents.length !== bases.length) throw new RangeError(`multiExp: ${bases.length} bases but ${exponents.length} exponents`)
      const { packed, exponentBytes } = packExponents(exponents)
      const out = new Uint8Array(bytes)
      addon.bnMultiExpWith(table, packed, exponentBytes, out)
      return fromBytes(out)
    }
  }

  // OpenSSL's inverse where the addon has it: the BigInt extended Euclid took ~2 ms mod a 4096-bit N², once per
  // model and worker in SecureSVM's blinding and once per provider and round in its pads' linear form.
  const nativeInverse = addon.bnModInverse
  const modInverse: BigIntKernels["modInverse"] = nativeInverse === undefined ? TsKernels.modInverse : (a, modulus) => {
    if (modulus <= 1n) return TsKernels.modInverse(a, modulus)
    const m = toBytes(modulus)
    const out = new Uint8Array(m.length)
    if (!nativeInverse(toBytes(reduce(a, modulus)), m, out)) throw new RangeError("modInverse: argument is not invertible modulo the modulus")
    return fromBytes(out)
  }

  return {
    // "node-openssl" names the addon's kernels whichever arithmetic runs a size (OpenSSL's BN, or the IFMA kernel above
    // 1024 bits): it is the name users' `bigint` backend choice and reports carry, so the IFMA kernel did not rename it.
    name: ifma === "off" ? "node-openssl-bn" : "node-openssl",
    modPow,
    modPowBatch: TsKernels.batchOf(modPow),
    modInverse,
    modPowPair,
    fixedBase,
    multiExp,
    multiExpTable
  }
}
