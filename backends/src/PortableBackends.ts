/**
 * The portable composition of every kernel family (`@jointly/backends/portable`): WASM and JS only, no Node
 * built-in anywhere on its import graph (`npm run check:portable`), so the same composition serves a browser
 * page, a Web Worker and — for the conformance tests — Node:
 *
 *   big integers  the AssemblyScript Montgomery kernel (`@jointly/wasm`), fetched from `bigintWasm`; the TS
 *                 kernel when it cannot load or `choice.bigint` is "ts"
 *   primes        the portable generator over those kernels
 *   PRG, X25519, Ed25519   @noble/ciphers, @noble/curves
 *   groups        libsodium's WASM build
 *   AES           WebCrypto (the OT-based PSI's portable service)
 *   CKKS, BFV     node-seal's Web Worker build (runs in pages and workers), loaded on first use
 *   model runtime tfjs on tfjs-backend-wasm, binaries from `tfjsWasmPaths`, loaded on first use
 *
 * Where the WASM files are is the embedder's to say (its bundler's asset URLs); the defaults are the files'
 * places beside the packages, which bundlers that understand `new URL(…, import.meta.url)` rewrite.
 */
import { Context, Effect, Layer } from "effect"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import * as Primes from "@jointly/core/internal/compute/Primes"
import { tsKernels } from "@jointly/core/internal/compute/TsKernels"
import * as Ed25519 from "@jointly/core/internal/crypto/Ed25519"
import * as KeyAgreement from "@jointly/core/internal/crypto/KeyAgreement"
import * as PrgKernel from "@jointly/core/internal/crypto/PrgKernel"
import { Ckks } from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Aes from "@jointly/core/internal/protocols/joint-query/ot-psi/Aes"
import { Bfv } from "@jointly/core/internal/protocols/similarity/Bfv"
import { loadWasmKernels, type WasmSource } from "@jointly/wasm"
import type * as Backends from "./Backends.ts"
import * as ModelRuntimes from "./ModelRuntimes.ts"
import * as SealBfv from "./SealBfv.ts"
import * as SealCkks from "./SealCkks.ts"

export interface Options {
  readonly choice?: Backends.PortableChoice
  /** The compiled big-integer kernel: bytes, a module, or a URL to fetch (`@jointly/wasm`'s file by default). */
  readonly bigintWasm?: WasmSource
  /** URL prefix of tfjs-backend-wasm's `.wasm` files (tfjs' default, beside the script, when absent). */
  readonly tfjsWasmPaths?: string
}

const bigintKernels = (options: Options): Effect.Effect<Kernels.BigIntKernels> =>
  options.choice?.bigint === "ts"
    ? Effect.succeed(tsKernels)
    // A kernel that cannot be fetched leaves the exact TS kernel in place: slower, never wrong.
    : Effect.promise(() => loadWasmKernels(options.bigintWasm).catch(() => tsKernels))

/** node-seal's Web Worker build, imported on the first CKKS or BFV call only. */
const loadSeal = () => import("node-seal/throws_wasm_worker_es.js").then((m) => m.default())

export const layer = (options: Options = {}): Layer.Layer<Backends.Services> =>
  Layer.effectContext(Effect.gen(function*() {
    const bigint = yield* bigintKernels(options)
    const runtime: { wasmPaths?: string } = options.tfjsWasmPaths === undefined ? {} : { wasmPaths: options.tfjsWasmPaths }
    return Context.make(Kernels.BigIntKernels, bigint).pipe(
      Context.add(Primes.Primes, Primes.portable(bigint)),
      // noble on every synchronous path; the masks' AES-128-CTR through WebCrypto (native AES, asynchronous only).
      Context.add(PrgKernel.PrgKernel, PrgKernel.webCrypto(globalThis.crypto.subtle)),
      Context.add(KeyAgreement.KeyAgreement, KeyAgreement.make(KeyAgreement.noble)),
      Context.add(Ed25519.Ed25519, Ed25519.make(Ed25519.noble)),
      Context.add(Compute.Groups, Compute.wasmKernels),
      Context.add(Aes.Aes, Aes.webCrypto()),
      Context.add(Ckks, SealCkks.make(loadSeal)),
      Context.add(Bfv, SealBfv.make(loadSeal)),
      Context.add(ModelRuntime, ModelRuntimes.lazy(() => import("./TfjsRuntime.ts").then((m) => m.make(runtime))))
    )
  }))
