/**
 * The Node composition of every kernel family (`@jointly/backends/node`), the one place a Node host — the
 * participant agent, each of its worker threads, the coordinator — gets its backends from (Backends.ts):
 *
 *   big integers  OpenSSL's BN_mod_exp (node/OpenSslKernels.ts, ~7× the TS kernel at Paillier sizes)
 *   primes        OpenSSL's generator on the libuv thread pool (node/OpenSslPrimes.ts)
 *   PRG           OpenSSL's ChaCha20 (node/OpenSslPrg.ts, ~10× @noble/ciphers)
 *   X25519        OpenSSL (node/OpenSslX25519.ts, ~20× @noble/curves)
 *   Ed25519       OpenSSL (node/OpenSslEd25519.ts, ~20× @noble/curves)
 *   groups        the native addon (node/NativeGroups.ts: OpenSSL's X25519, libsodium's ristretto255), per
 *                 group where it loads, else libsodium's WASM
 *   CKKS          node-seal's Node build (SealCkks.ts), loaded on first use
 *   AES           OpenSSL (node/OpenSslAes.ts, synchronous, AES-NI), for the OT-based PSI
 *   model runtime tfjs on tfjs-backend-wasm, binaries from the installed package (ModelRuntimes.ts), loaded on
 *                 first use
 *
 * A family whose fast path this Node's OpenSSL lacks keeps the portable implementation; `Backends.describe`
 * says what was chosen. `choice` swaps any family for its portable implementation (benchmarks' same-run
 * baselines); it is plain data, so a worker thread builds the same composition from it.
 */
import { Context, Effect, Layer } from "effect"
import * as Kernels from "@jointly/core/compute/Kernels.ts"
import * as Primes from "@jointly/core/compute/Primes.ts"
import { tsKernels } from "@jointly/core/compute/TsKernels.ts"
import * as Ed25519 from "@jointly/core/crypto/Ed25519.ts"
import * as KeyAgreement from "@jointly/core/crypto/KeyAgreement.ts"
import * as PrgKernel from "@jointly/core/crypto/PrgKernel.ts"
import { Ckks } from "@jointly/core/protocols/encrypted-linear/Ckks.ts"
import { ModelRuntime } from "@jointly/core/protocols/federated-learning/ModelRuntime.ts"
import * as Compute from "@jointly/core/protocols/joint-query/Compute.ts"
import * as Aes from "@jointly/core/protocols/joint-query/ot-psi/Aes.ts"
import { defaultWasmUrl, wasmKernelsFromBytes } from "@jointly/wasm"
import type * as Backends from "./Backends.ts"
import * as ModelRuntimes from "./ModelRuntimes.ts"
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
      Context.add(ModelRuntime, ModelRuntimes.lazy(() => import("./TfjsRuntime.ts").then((m) => m.make({ wasmPaths: wasmDir }))))
    )
  }))
