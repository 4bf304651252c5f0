/**
 * The Node composition of every kernel family (`@jointly/backends/node`), the one place a Node host — the
 * participant agent, each of its worker threads, the coordinator — gets its backends from (Backends.ts):
 *
 *   big integers  OpenSSL's BN Montgomery arithmetic through the native addon (node/NativeBigInt.ts: modPow,
 *                 CRT pairs, fixed-base tables in native memory), else its BN_mod_exp through Diffie–Hellman
 *                 contexts (node/OpenSslKernels.ts)
 *   primes        OpenSSL's generator on the libuv thread pool (node/OpenSslPrimes.ts)
 *   PRG           OpenSSL's AES-128-CTR and ChaCha20 (node/OpenSslPrg.ts, ~10× @noble/ciphers)
 *   X25519        OpenSSL (node/OpenSslX25519.ts, ~20× @noble/curves)
 *   Ed25519       OpenSSL (node/OpenSslEd25519.ts, ~20× @noble/curves)
 *   groups        the native addon (node/NativeGroups.ts: OpenSSL's X25519, libsodium's ristretto255), per
 *                 group where it loads, else libsodium's WASM
 *   CKKS, BFV     node-seal's Node build (SealCkks.ts, SealBfv.ts), loaded on first use
 *   AES           OpenSSL (node/OpenSslAes.ts, synchronous, AES-NI), for the OT-based PSI
 *   model runtime tfjs on tfjs-backend-wasm, binaries from the installed package (ModelRuntimes.ts), loaded on
 *                 first use
 *
 * A family whose fast path this Node's OpenSSL lacks keeps the portable implementation; `Backends.describe`
 * says what was chosen. `choice` swaps any family for its portable implementation (benchmarks' same-run
 * baselines); it is plain data, so a worker thread builds the same composition from it.
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
import { defaultWasmUrl, wasmKernelsFromBytes } from "@jointly/wasm"
import type * as Backends from "./Backends.ts"
import * as ModelRuntimes from "./ModelRuntimes.ts"
import * as SealBfv from "./SealBfv.ts"
import * as SealCkks from "./SealCkks.ts"
import * as NativeGroups from "./node/NativeGroups.ts"
import * as NodeFiles from "./node/NodeFiles.ts"
import * as OpenSslAes from "./node/OpenSslAes.ts"
import * as OpenSslEd25519 from "./node/OpenSslEd25519.ts"
import * as OpenSslKernels from "./node/OpenSslKernels.ts"
import * as OpenSslPrg from "./node/OpenSslPrg.ts"
import * as OpenSslPrimes from "./node/OpenSslPrimes.ts"
import * as OpenSslX25519 from "./node/OpenSslX25519.ts"

const bigintKernels = (choice: Backends.Choice["bigint"]): Effect.Effect<Kernels.BigIntKernels> => {
  switch (choice) {
    case "ts":
      return Effect.succeed(tsKernels)
    case "wasm":
      // A missing .wasm (no `npm run build -w wasm`) is a defect of the installation, reported as such.
      return Effect.promise(async () => wasmKernelsFromBytes(await NodeFiles.readWasmFile(defaultWasmUrl())))
    case "node-openssl-dh":
      return Effect.succeed(OpenSslKernels.makeDh())
    default:
      return Effect.succeed(OpenSslKernels.make())
  }
}

const groupKernels = (choice: Backends.Choice["groups"]): Compute.GroupKernelSet =>
  choice === "wasm" ? Compute.wasmKernels : { ...Compute.wasmKernels, ...NativeGroups.load().kernels }

/** node-seal's Node build, imported on the first CKKS call only. */
const loadSeal = () => import("node-seal/throws_wasm_node_es.js").then((m) => m.default())

/** The CKKS service alone (hosts and tests that need no other family): SEAL loads on its first call. */
export const ckks: Layer.Layer<Ckks> = SealCkks.layer(loadSeal)

/** The BFV service alone (tests of encrypted retrieval): SEAL loads on its first call. */
export const bfv: Layer.Layer<Bfv> = SealBfv.layer(loadSeal)

/** Every family, built once per `Layer` build (one per thread: caches live in the built services). */
export const layer = (choice: Backends.Choice = {}): Layer.Layer<Backends.Services> =>
  Layer.effectContext(Effect.gen(function*() {
    const bigint = yield* bigintKernels(choice.bigint)
    const primes: Primes.Primes = choice.primes === "portable" ? Primes.portable(bigint) : { name: "node-openssl", generate: OpenSslPrimes.generator }
    const prg = (choice.prg === "noble" ? undefined : OpenSslPrg.make()) ?? PrgKernel.noble
    const x25519 = (choice.x25519 === "noble" ? undefined : OpenSslX25519.make()) ?? KeyAgreement.noble
    const ed25519 = (choice.ed25519 === "noble" ? undefined : OpenSslEd25519.make()) ?? Ed25519.noble
    const wasmDir = NodeFiles.tfjsWasmDir()
    return Context.make(Kernels.BigIntKernels, bigint).pipe(
      Context.add(Primes.Primes, primes),
      Context.add(PrgKernel.PrgKernel, prg),
      Context.add(KeyAgreement.KeyAgreement, KeyAgreement.make(x25519)),
      Context.add(Ed25519.Ed25519, Ed25519.make(ed25519)),
      Context.add(Compute.Groups, groupKernels(choice.groups)),
      Context.add(Aes.Aes, choice.aes === "webcrypto" ? Aes.webCrypto() : OpenSslAes.aes),
      Context.add(Ckks, SealCkks.make(loadSeal)),
      Context.add(Bfv, SealBfv.make(loadSeal)),
      Context.add(ModelRuntime, ModelRuntimes.lazy(() => import("./TfjsRuntime.ts").then((m) => m.make({ wasmPaths: wasmDir }))))
    )
  }))
