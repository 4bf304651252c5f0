/**
 * The contract every big-integer backend implements (pure TS in core, WebAssembly in `@jointly/wasm`, OpenSSL under
 * Node in `@jointly/backends`). A leaf module: the reference kernel (TsKernels.ts) implements it without importing
 * the service (Kernels.ts), which defaults to that kernel — so the two do not import each other.
 */
/** A base prepared for repeated exponentiation (a backend's fixed-base table, e.g. the DJN randomness base h_s). */
export interface FixedBasePower {
  /** Largest exponent size, in bits, the table covers (exponents below 2^exponentBits). */
  readonly exponentBits: number
  /** base^exponent mod modulus; RangeError outside [0, 2^exponentBits). */
  readonly pow: (exponent: bigint) => bigint
  /** base^r for a fresh uniform r of `exponentBits` bits drawn from the platform's CSPRNG. */
  readonly powRandom: () => bigint
}

export interface BigIntKernels {
  /** Backend name reported in benchmarks, e.g. "ts", "wasm", "node-native". */
  readonly name: string
  /** base^exponent mod modulus, exponent ≥ 0, modulus odd and > 1. */
  readonly modPow: (base: bigint, exponent: bigint, modulus: bigint) => bigint
  /** Element-wise modPow over one modulus; `exponents` may be a single shared exponent. */
  readonly modPowBatch: (bases: ReadonlyArray<bigint>, exponents: ReadonlyArray<bigint> | bigint, modulus: bigint) => Array<bigint>
  /** Inverse of a modulo m; throws RangeError when gcd(a, m) ≠ 1. */
  readonly modInverse: (a: bigint, modulus: bigint) => bigint
  /**
   * Optional: a fixed-base table for `base` mod `modulus` (odd) and exponents of at least `exponentBits` bits
   * (the table may cover a few more: its `exponentBits`), held by the backend. Absent, callers build core's
   * portable table (crypto/paillier/FixedBase.ts).
   */
  readonly fixedBase?: (base: bigint, modulus: bigint, exponentBits: number) => FixedBasePower
  /**
   * Optional: two independent modPows in one call (CRT decryption's halves), which a backend may interleave.
   * Absent, callers make two modPow calls. Same contract as modPow for each half.
   */
  readonly modPowPair?: (
    a: readonly [base: bigint, exponent: bigint, modulus: bigint],
    b: readonly [base: bigint, exponent: bigint, modulus: bigint]
  ) => readonly [bigint, bigint]
  /**
   * Optional: Π bases_i^(exponents_i) mod modulus (exponents ≥ 0, one per base, modulus odd and > 1; no bases
   * gives 1), in one call that shares the squarings between the bases (the packed blinding, gradient sums and
   * batch-proof combinations of the threshold-Paillier protocols). Absent, callers use `TsKernels.multiExp`.
   */
  readonly multiExp?: (bases: ReadonlyArray<bigint>, exponents: ReadonlyArray<bigint>, modulus: bigint) => bigint
  /**
   * Optional: `multiExp` over the same bases many times (SecureSVM's margins: the ~20 ciphertexts of one model in
   * every row, a short exponent each). The bases' window tables are built once, sized for exponents of about
   * `exponentBits` (any size is still answered); the returned function takes one exponent per base (≥ 0).
   * Absent, callers use `multiExp` per product.
   */
  readonly multiExpTable?: (bases: ReadonlyArray<bigint>, modulus: bigint, exponentBits: number) => (exponents: ReadonlyArray<bigint>) => bigint
}
