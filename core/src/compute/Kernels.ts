/**
 * Compute kernels: the hot big-integer operations, named and typed once here and implemented by backends
 * (pure TS in core, WebAssembly in `@jointly/wasm`, optionally a Node-native fast path behind the same names).
 * Every backend must pass the one conformance suite in `core/src/testing/kernel-conformance.ts`.
 *
 * Kernels are synchronous and free of Node-only APIs so that they run unchanged inside a browser Web Worker;
 * batch variants exist so that one call crosses the worker boundary per batch, not per element.
 */
export interface BigIntKernels {
  /** Backend name reported in benchmarks, e.g. "ts", "wasm", "node-native". */
  readonly name: string
  /** base^exponent mod modulus, exponent ≥ 0, modulus odd and > 1. */
  readonly modPow: (base: bigint, exponent: bigint, modulus: bigint) => bigint
  /** Element-wise modPow over one modulus; `exponents` may be a single shared exponent. */
  readonly modPowBatch: (bases: ReadonlyArray<bigint>, exponents: ReadonlyArray<bigint> | bigint, modulus: bigint) => Array<bigint>
  /** Inverse of a modulo m; throws RangeError when gcd(a, m) ≠ 1. */
  readonly modInverse: (a: bigint, modulus: bigint) => bigint
}

/** `modPowBatch` for a backend that has only a single modPow: element-wise, with the length check every backend shares. */
export const batchOf = (modPow: BigIntKernels["modPow"]): BigIntKernels["modPowBatch"] => (bases, exponents, modulus) => {
  if (typeof exponents !== "bigint" && exponents.length !== bases.length) {
    throw new RangeError(`modPowBatch: ${bases.length} bases but ${exponents.length} exponents`)
  }
  return bases.map((b, i) => modPow(b, typeof exponents === "bigint" ? exponents : exponents[i]!, modulus))
}
