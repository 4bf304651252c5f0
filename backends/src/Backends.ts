/**
 * What both platform compositions share (NodeBackends.ts, PortableBackends.ts): the serialisable choice of a
 * backend per kernel family, the services a composition provides, and the names of what it chose.
 *
 * Every kernel family is a service named in core: `Kernels.BigIntKernels`, `Primes.Primes`,
 * `PrgKernel.PrgKernel`, `KeyAgreement.KeyAgreement` (X25519), `Ed25519.Ed25519`, joint-query's
 * `Compute.Groups` (x25519 / ristretto255), the OT-based PSI's `Aes`, `Ckks`, `Bfv` and `ModelRuntime`. The first six are
 * `Context.Reference`s whose default is core's portable reference implementation (pure JS, or libsodium's WASM
 * for the groups), so a host that composes nothing still computes exactly, only slower; the last four are
 * required services (`Services`): AES as its protocol declares it, CKKS, BFV and the model runtime because core
 * has no implementation of them. A host composes its platform's backends once, in one place, and provides the built
 * context to everything it runs (`build`): the services keep caches (OpenSSL contexts, imported keys, SEAL
 * contexts) that must outlive a single stage.
 *
 * A `Choice` crosses thread boundaries as plain data: a worker thread builds the same composition from it once at
 * start. Library code never reads the environment to choose; a CLI or bench may, and passes a `Choice` down.
 */
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import type { Context } from "effect"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import * as Primes from "@jointly/core/internal/compute/Primes"
import * as Ed25519 from "@jointly/core/internal/crypto/Ed25519"
import * as KeyAgreement from "@jointly/core/internal/crypto/KeyAgreement"
import * as PrgKernel from "@jointly/core/internal/crypto/PrgKernel"
import type { Ckks } from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import * as Aes from "@jointly/core/internal/protocols/joint-query/ot-psi/Aes"
import type { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import type { Bfv } from "@jointly/core/internal/protocols/similarity/Bfv"

/**
 * One backend per family; an absent field takes the platform's fastest. The Node composition honours every
 * value (a portable one included, e.g. the WASM groups as a benchmark's same-run baseline); the portable
 * composition accepts only portable values (`PortableChoice`).
 */
export const Choice = Schema.Struct({
  bigint: Schema.optional(Schema.Literals(["node-openssl", "node-openssl-dh", "wasm", "ts"])),
  primes: Schema.optional(Schema.Literals(["node-openssl", "portable"])),
  prg: Schema.optional(Schema.Literals(["node-openssl", "noble"])),
  x25519: Schema.optional(Schema.Literals(["node-openssl", "noble"])),
  ed25519: Schema.optional(Schema.Literals(["node-openssl", "noble"])),
  groups: Schema.optional(Schema.Literals(["native", "wasm"])),
  aes: Schema.optional(Schema.Literals(["node-openssl", "webcrypto"]))
})
export type Choice = typeof Choice.Type

/** The portable values of `Choice`: what a browser or Web Worker can run. */
export interface PortableChoice {
  readonly bigint?: "wasm" | "ts"
}

/** Services a composition provides that have no default in core. */
export type Services = Ckks | Bfv | ModelRuntime | Aes.Aes

/** The implementation of each family in the current context, as benchmarks report them. */
export interface Names {
  readonly bigint: string
  readonly primes: string
  readonly prg: string
  readonly x25519: string
  readonly ed25519: string
  readonly x25519Group: string
  readonly ristretto255Group: string
  readonly aes: string
}

export const describe: Effect.Effect<Names, never, Aes.Aes> = Effect.gen(function*() {
  const groups = yield* Compute.Groups
  return {
    bigint: (yield* Kernels.BigIntKernels).name,
    primes: (yield* Primes.Primes).name,
    prg: (yield* PrgKernel.PrgKernel).name,
    x25519: (yield* KeyAgreement.KeyAgreement).x25519.name,
    ed25519: (yield* Ed25519.Ed25519).backend.name,
    x25519Group: groups.x25519.name,
    ristretto255Group: groups.ristretto255.name,
    aes: (yield* Aes.Aes).name
  }
})

/** A composition built once: its context, to provide everywhere, and `close` to release what it holds. */
export interface Built<R> {
  readonly context: Context.Context<R>
  /** The same context as a Layer that costs nothing to provide again. */
  readonly layer: Layer.Layer<R>
  readonly close: () => Promise<void>
}

export const build = async <R, E>(layer: Layer.Layer<R, E>): Promise<Built<R>> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    return { context, layer: Layer.succeedContext(context), close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  }
}
