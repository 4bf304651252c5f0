/**
 * The operations `npm run bench -- browser` times on both sides (browser.ts): the same code over the kernel
 * services a composition provides — Node's fastest (`@jointly/backends/node`) on Node, the portable one
 * (`@jointly/backends/portable`) in a Chromium Web Worker. Portable: it is bundled into the bench's worker.
 */
import { Context, Effect } from "effect"
import type * as Backends from "@jointly/backends/internal/Backends"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import * as Keys from "@jointly/core/internal/crypto/paillier/Keys"
import * as Paillier from "@jointly/core/internal/crypto/paillier/Paillier"
import * as Randomness from "@jointly/core/internal/crypto/paillier/Randomness"
import { Ckks } from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import { ModelRuntime } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Compute from "@jointly/core/internal/protocols/joint-query/Compute"
import * as Group from "@jointly/core/internal/protocols/joint-query/Group"
import { topology } from "./BenchModel.ts"
import { opsPerSecond } from "./Report.ts"

export interface OpsInput {
  /** A 2048-bit Paillier key's factors, hex (dealt once on Node so both sides use the same key). */
  readonly p: string
  readonly q: string
  /** Ids per hash-and-blind call. */
  readonly ids: number
  /** Values per CKKS vector. */
  readonly ckksValues: number
  /** Rows of the tfjs training step (one epoch, batch 32, the 64 → 512 → 128 → 10 model). */
  readonly trainRows: number
}

export interface OpRate {
  readonly metric: string
  readonly unit: string
  readonly params: Record<string, number | string>
  readonly value: number
}



/** Times every operation with the services of `context`; `progress` hears which one runs. */
export const measure = async (context: Context.Context<Backends.Services>, input: OpsInput, progress: (line: string) => void = () => {}): Promise<Array<OpRate>> => {
  const out: Array<OpRate> = []
  const kernels = Context.get(context, Kernels.BigIntKernels)
  const { publicKey: pk, privateKey: sk } = Keys.fromPrimes(BigInt(`0x${input.p}`), BigInt(`0x${input.q}`), { kernels })
  const randomness = Randomness.automatic(pk, kernels)
  const m = 0x1234_5678_9abc_def0n
  progress("paillier-2048 encrypt")
  out.push({ metric: "paillier2048_encrypt", unit: "ops/s", params: { bits: 2048 }, value: await opsPerSecond(() => Paillier.encrypt(pk, m, randomness), { runs: 3, minRunMs: 400 }) })
  const c = Paillier.encrypt(pk, m, randomness)
  progress("paillier-2048 decrypt")
  out.push({ metric: "paillier2048_decrypt", unit: "ops/s", params: { bits: 2048 }, value: await opsPerSecond(() => Paillier.decrypt(sk, c, kernels), { runs: 3, minRunMs: 400 }) })

  const x25519 = Context.get(context, Compute.Groups).x25519
  // libsodium's WASM module loads asynchronously (Node's native kernels are ready at once).
  await x25519.ready()
  const ids = Group.encodeIds(Array.from({ length: input.ids }, (_, i) => `patient-${i}`))
  const domain = new TextEncoder().encode("jointly/bench/browser")
  const scalar = crypto.getRandomValues(new Uint8Array(32))
  progress("x25519 PSI hash+blind")
  const calls = await opsPerSecond(() => x25519.hashBlind(domain, ids, scalar), { runs: 3, minRunMs: 400 })
  out.push({ metric: "psi_x25519_hash_blind", unit: "ids/s", params: { ids: input.ids }, value: calls * input.ids })

  const ckks = Context.get(context, Ckks)
  const keys = await Effect.runPromise(ckks.generateKeys())
  const values = Float64Array.from({ length: input.ckksValues }, (_, i) => Math.sin(i))
  progress("CKKS encrypt")
  out.push({ metric: "ckks_encrypt_vector", unit: "vectors/s", params: { values: input.ckksValues }, value: await opsPerSecond(() => Effect.runPromise(ckks.encryptVector(keys, values)), { runs: 3, minRunMs: 400 }) })

  const runtime = Context.get(context, ModelRuntime)
  const weights = await Effect.runPromise(runtime.initialize(topology, 1))
  const rows = input.trainRows
  const data = {
    key: "bench",
    rows,
    width: 64,
    features: Float32Array.from({ length: rows * 64 }, (_, i) => ((i * 7919) % 17) / 16),
    labels: Float32Array.from({ length: rows }, (_, i) => i % 10)
  }
  const config = { optimizer: "adam", learningRate: 0.01, epochs: 1, batchSize: 32, loss: "categoricalCrossentropy", proximalMu: 0, seed: 1 } as const
  progress("tfjs training step")
  out.push({ metric: "tfjs_train_epoch", unit: "epochs/s", params: { rows, parameters: 100_234 }, value: await opsPerSecond(() => Effect.runPromise(runtime.train({ topology, weights, config, data })), { warmup: 1, runs: 3, minRunMs: 200 }) })
  return out
}
