/**
 * Compute kernels: the hot big-integer operations, typed once (BigIntKernels.ts) and implemented by backends
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
import type { BigIntKernels as Contract, FixedBasePower as FixedBasePowerContract } from "./BigIntKernels.ts"
import { tsKernels } from "./TsKernels.ts"

/** The kernels' contract (`BigIntKernels.ts`, a leaf module the backends implement without importing this one). */
export type BigIntKernels = Contract

/** A backend's fixed-base table (`BigIntKernels.fixedBase`). */
export type FixedBasePower = FixedBasePowerContract

/** The host's big-integer backend; the TS reference kernel where the host composed none. */
export const BigIntKernels = Context.Reference<BigIntKernels>("jointly/BigIntKernels", { defaultValue: () => tsKernels })
