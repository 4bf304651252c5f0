/**
 * Compute kernels: the hot big-integer operations, named and typed once here and implemented by backends
 * (pure TS in core, WebAssembly in `@jointly/wasm`, OpenSSL under Node in `@jointly/backends`). Every backend
 * must pass the one conformance suite in `core/src/testing/kernel-conformance.ts`.
 *
 * Kernels are synchronous so that they run unchanged inside a worker; batch variants exist so that one call
 * crosses the worker boundary per batch, not per element.
 *
 * `BigIntKernels` is also the service through which protocols reach the host's backend (`yield*
 * Kernels.BigIntKernels`). It is a `Context.Reference`: a host that composes no backend (an in-memory test)
 * gets the pure-TS reference kernel, exact and only slower; participant and coordinator hosts provide the
 * composition of their platform (`@jointly/backends/node`, `@jointly/backends/portable`), built once.
 */
import { Context } from "effect"
import { tsKernels } from "./TsKernels.ts"

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

/** The host's big-integer backend; the TS reference kernel where the host composed none. */
export const BigIntKernels = Context.Reference<BigIntKernels>("jointly/BigIntKernels", { defaultValue: () => tsKernels })
