/**
 * Picks the fastest `BigIntKernels` backend the platform offers, once per thread (DESIGN.md §6):
 *   - Node: `node-openssl` (NodeKernels.ts, ~7× the TS kernel at 2048-bit Paillier sizes);
 *   - elsewhere: the WebAssembly kernel when the caller passes its loader (`@jointly/wasm` depends on core, so
 *     core cannot import it), else the pure-TS kernel.
 * NodeKernels.ts is imported dynamically through a variable specifier, so browser bundles never pull node:crypto.
 *
 * Protocols read the choice from the `Kernels` service (`kernelsOr` falls back to what they were built with);
 * hosts provide it with `layer(...)`, worker job tables call `select(...)` once at load.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { BigIntKernels } from "./Kernels.ts"
import { tsKernels } from "./TsKernels.ts"

export interface SelectOptions {
  /** Browser-safe fallback, e.g. `() => import("@jointly/wasm").then((m) => m.loadWasmKernels())`. */
  readonly wasm?: () => Promise<BigIntKernels>
  /** Tests and benchmarks: force one backend by name. */
  readonly prefer?: "node-openssl" | "wasm" | "ts"
}

const isNode = (): boolean => typeof process !== "undefined" && typeof process.versions?.node === "string"

const loadNode = async (): Promise<BigIntKernels> => {
  const specifier = "./NodeKernels.ts"
  const module = (await import(/* @vite-ignore */ specifier)) as typeof import("./NodeKernels.ts")
  return module.nodeKernels
}

/** The fastest backend that loads here; a backend that fails to load falls through to the next one. */
export const select = async (options: SelectOptions = {}): Promise<BigIntKernels> => {
  const candidates: Array<() => Promise<BigIntKernels>> = []
  if (options.prefer === "ts") return tsKernels
  if (options.prefer !== "wasm" && isNode()) candidates.push(loadNode)
  if (options.wasm !== undefined) candidates.push(options.wasm)
  for (const load of candidates) {
    try {
      return await load()
    } catch {
      // e.g. a missing .wasm file: the next backend still gives exact answers.
    }
  }
  return tsKernels
}

/** The backend a host selected for the protocols it runs. */
export class Kernels extends Context.Service<Kernels, BigIntKernels>()("jointly/BigIntKernels") {}

/** Selects once when the layer is built. */
export const layer = (options: SelectOptions = {}): Layer.Layer<Kernels> => Layer.effect(Kernels, Effect.promise(() => select(options)))

/** The host's backend if it provides one, else `fallback`. */
export const kernelsOr = (fallback: BigIntKernels): Effect.Effect<BigIntKernels> =>
  Effect.map(Effect.serviceOption(Kernels), Option.getOrElse(() => fallback))
