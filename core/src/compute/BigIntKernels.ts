/**
 * The contract every big-integer backend implements (pure TS in core, WebAssembly in `@jointly/wasm`, OpenSSL under
 * Node in `@jointly/backends`). A leaf module: the reference kernel (TsKernels.ts) implements it without importing
 * the service (Kernels.ts), which defaults to that kernel — so the two do not import each other.
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
