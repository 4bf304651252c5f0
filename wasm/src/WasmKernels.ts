/**
 * The "wasm" backend of `BigIntKernels`: big-integer Montgomery exponentiation compiled from
 * `wasm/assembly/bigint.ts`. This file only lays operands out in the module's linear memory and converts bigints;
 * it uses no Node-only API, so it runs unchanged in a browser Web Worker.
 */
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
// Extended Euclid on native bigint: ~1.7 ms at 4096 bits (backends/src/measure.ts), once per key, so it stays in TS.
import { modInverse } from "@jointly/core/internal/compute/TsKernels"
import { readLimbs, writeHexLimbs, writeLimbs } from "./Limbs.ts"
import { batchExponent, checkExponent, checkModulus, reduce, trivialPow } from "./Operands.ts"

/** The exports of the compiled kernel (see wasm/assembly/bigint.ts for the contract of each). */
interface KernelExports {
  readonly memory: WebAssembly.Memory
  readonly heapBase: () => number
  readonly prepareModulus: (nR: number, r2R: number, n32: number, r2_32: number, k32: number, k: number, w: number) => void
  readonly modPow: (
    out32: number, base32: number, exp: number, expBits: number, nR: number, r2R: number, k32: number, k: number,
    w: number, window: number, scratch: number
  ) => void
  readonly scratchBytes: (k: number, window: number) => number
}

const MAX_WINDOW = 6

/** Sliding-window width by exponent size (the thresholds OpenSSL uses in BN_window_bits_for_exponent_size). */
const windowFor = (expBits: number): number =>
  expBits > 671 ? 6 : expBits > 239 ? 5 : expBits > 79 ? 4 : expBits > 23 ? 3 : 1

/**
 * Limb width w and count k of the radix form (see the header of wasm/assembly/bigint.ts): the widest w ≤ 28 for
 * which 2k + 4 products of w-bit limbs fit in a 64-bit accumulator, with k a multiple of 4 (one SIMD step).
 */
const radixFor = (modulusBits: number): { readonly w: number; readonly k: number } => {
  for (let w = 28; w >= 16; w--) {
    const k = 4 * Math.ceil(modulusBits / w / 4)
    if (2 * k + 4 <= 2 ** (64 - 2 * w)) return { w, k }
  }
  throw new RangeError(`modulus of ${modulusBits} bits is too large for the WASM kernel`)
}

const PAGE = 65536

/**
 * Byte offsets of the operands of one modulus, placed from heapBase at 16-byte alignment: modulus and R² mod n
 * in radix form (k limbs each), the same and base/out in u32 form (k32 limbs each), scratch, and the exponent
 * last so it can have any length.
 */
interface ModulusLayout {
  readonly modulus: bigint
  readonly k32: number
  readonly k: number
  readonly w: number
  readonly nR: number
  readonly r2R: number
  readonly n32: number
  readonly r2_32: number
  readonly out32: number
  readonly base32: number
  readonly scratch: number
  readonly exp: number
}

/** Builds the kernels over an instantiated module. One instance serves one thread; calls are synchronous. */
export const wasmKernelsFromInstance = (instance: WebAssembly.Instance): BigIntKernels => {
  const wasm = instance.exports as unknown as KernelExports
  const memory = wasm.memory
  const heapBase = Math.ceil(wasm.heapBase() / 16) * 16
  let limbs = new Uint32Array(memory.buffer)
  let layout: ModulusLayout | undefined

  const ensureBytes = (end: number): void => {
    if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE))
    // A grown memory detaches the old buffer, so re-view whenever the buffer changed.
    if (limbs.buffer !== memory.buffer) limbs = new Uint32Array(memory.buffer)
  }

  /** Lays out `modulus` and R² mod n once; consecutive calls on the same modulus (the Paillier case) reuse them. */
  const prepare = (modulus: bigint): ModulusLayout => {
    if (layout !== undefined && layout.modulus === modulus) return layout
    const hex = modulus.toString(16)
    const k32 = Math.ceil(hex.length / 8)
    const { w, k } = radixFor(hex.length * 4 - (Math.clz32(parseInt(hex[0]!, 16)) - 28))
    const radixBytes = 4 * k
    const u32Bytes = 16 * Math.ceil(k32 / 4)
    const nR = heapBase
    const r2R = nR + radixBytes
    const n32 = r2R + radixBytes
    const r2_32 = n32 + u32Bytes
    const out32 = r2_32 + u32Bytes
    const base32 = out32 + u32Bytes
    const scratch = base32 + u32Bytes
    const exp = scratch + wasm.scratchBytes(k, MAX_WINDOW)
    ensureBytes(exp)
    writeHexLimbs(limbs, n32 / 4, k32, hex)
    writeLimbs(limbs, r2_32 / 4, k32, (1n << BigInt(2 * w * k)) % modulus)
    wasm.prepareModulus(nR, r2R, n32, r2_32, k32, k, w)
    layout = { modulus, k32, k, w, nR, r2R, n32, r2_32, out32, base32, scratch, exp }
    return layout
  }

  /** Writes an exponent ≥ 1 and returns its bit length. */
  const writeExponent = (l: ModulusLayout, exponent: bigint): number => {
    const hex = exponent.toString(16)
    const count = Math.ceil(hex.length / 8)
    ensureBytes(l.exp + 4 * count)
    const used = writeHexLimbs(limbs, l.exp / 4, count, hex)
    return (used - 1) * 32 + (32 - Math.clz32(limbs[l.exp / 4 + used - 1]!))
  }

  /** base in [2, m), the exponent already written with `expBits` bits. */
  const powPrepared = (l: ModulusLayout, base: bigint, expBits: number): bigint => {
    writeLimbs(limbs, l.base32 / 4, l.k32, base)
    wasm.modPow(l.out32, l.base32, l.exp, expBits, l.nR, l.r2R, l.k32, l.k, l.w, windowFor(expBits), l.scratch)
    return readLimbs(limbs, l.out32 / 4, l.k32)
  }

  const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
    checkModulus(modulus)
    checkExponent(exponent)
    const b = reduce(base, modulus)
    const trivial = trivialPow(b, exponent, modulus)
    if (trivial !== undefined) return trivial
    const l = prepare(modulus)
    return powPrepared(l, b, writeExponent(l, exponent))
  }

  const modPowBatch = (
    bases: ReadonlyArray<bigint>,
    exponents: ReadonlyArray<bigint> | bigint,
    modulus: bigint
  ): Array<bigint> => {
    checkModulus(modulus)
    const exponentAt = batchExponent(exponents, bases.length)
    const results = new Array<bigint>(bases.length)
    if (bases.length === 0) return results
    const l = prepare(modulus)
    const shared = typeof exponents === "bigint"
    const sharedBits = shared && exponents > 0n ? writeExponent(l, exponents) : 0
    for (let i = 0; i < bases.length; i++) {
      const b = reduce(bases[i]!, modulus)
      const e = exponentAt(i)
      const trivial = trivialPow(b, e, modulus)
      results[i] = trivial !== undefined ? trivial : powPrepared(l, b, shared ? sharedBits : writeExponent(l, e))
    }
    return results
  }

  return { name: "wasm", modPow, modPowBatch, modInverse }
}

/** Instantiates the compiled module synchronously (a `WebAssembly.Module` can be posted to workers and reused). */
export const wasmKernelsFromModule = (module: WebAssembly.Module): BigIntKernels =>
  wasmKernelsFromInstance(new WebAssembly.Instance(module, imports))

/** Compiles and instantiates the kernel from the bytes of `jointly-bigint.wasm`. */
export const wasmKernelsFromBytes = async (bytes: BufferSource): Promise<BigIntKernels> =>
  wasmKernelsFromModule(await WebAssembly.compile(bytes))

// The module is built with --noAssert and imports nothing; `env.abort` is provided in case a debug build does.
const imports: WebAssembly.Imports = {
  env: {
    abort: () => {
      throw new Error("jointly-bigint.wasm aborted")
    }
  }
}
