/**
 * `npm run bench -- paillier`: our Paillier engine against paillier-bigint, measured in the same run
 * (DESIGN.md §10), at N = 2048 and 3072 bits, one core. Kernels: "ts" (pure BigInt), "node-openssl" (OpenSSL's
 * BN through the native addon), "node-openssl-dh" (the same OpenSSL through Diffie–Hellman contexts, the
 * fallback and the kernel before the addon had BN) and "wasm" (when it loads), each as the Node backends compose
 * it (`@jointly/backends/node`); kernel ratios use the TS kernel as the baseline. Where the CPU has AVX-512 IFMA,
 * "node-openssl" runs modPow and the CRT pair on the addon's IFMA kernel above 1024 bits, and "node-openssl-bn" (the
 * same addon with the IFMA kernel off: OpenSSL's BN alone) is its same-run baseline (`ifma_vs_openssl_bn_*` lines). Online encryption draws fresh
 * randomness per ciphertext from the portable fixed-base table and from each kernel's own table.
 *
 * Messages are 64-bit (typical fixed-point values), which keeps paillier-bigint's g^m cheap: the comparison
 * is its r^N against our (1+mN)·h_s^r. Threshold keys at 3072 bits are dealt from ordinary primes (a 1536-bit
 * safe prime takes ~40 s here); partial decryption costs the same, and the metric says so in its params.
 */
import * as PaillierBigint from "paillier-bigint"
import { Context } from "effect"
import * as Backends from "@jointly/backends/internal/Backends"
import * as NodeBackends from "@jointly/backends/node"
import * as NativeBigInt from "@jointly/backends/internal/node/NativeBigInt"
import * as Kernels from "@jointly/core/internal/compute/Kernels"
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import * as Primes from "@jointly/core/internal/compute/Primes"
import { randomBits } from "@jointly/core/internal/compute/Primes"
import { tsKernels } from "@jointly/core/internal/compute/TsKernels"
import * as Keys from "@jointly/core/internal/crypto/paillier/Keys"
import * as Paillier from "@jointly/core/internal/crypto/paillier/Paillier"
import * as Randomness from "@jointly/core/internal/crypto/paillier/Randomness"
import * as Dealer from "@jointly/core/internal/crypto/threshold-paillier/Dealer"
import * as Threshold from "@jointly/core/internal/crypto/threshold-paillier/ThresholdPaillier"
import { emit, opsPerSecond, progress, type Result } from "./Report.ts"

const SUITE = "paillier"
const BASELINE = "paillier-bigint"

/** The big-integer kernels and prime generator of a Node composition. */
const composed = async (choice: Backends.Choice) => {
  const { context } = await Backends.build(NodeBackends.layer(choice))
  return { kernels: Context.get(context, Kernels.BigIntKernels), primes: Context.get(context, Primes.Primes).generate }
}
type Composed = Awaited<ReturnType<typeof composed>>

const loadWasm = async (): Promise<BigIntKernels | undefined> => {
  try {
    return (await composed({ bigint: "wasm" })).kernels
  } catch (e) {
    progress(`wasm kernels unavailable (${e instanceof Error ? e.message : String(e)}); skipping wasm metrics`)
    return undefined
  }
}

const line = (metric: string, params: Result["params"], value: number, baseline?: { name: string; value: number }) =>
  emit({ suite: SUITE, metric, params, value, ...(baseline ? { baseline: baseline.name, baseline_value: baseline.value } : {}) })

/** Precomputed-randomness encryption: refill the pool untimed, then time `batch` encryptions; median of runs. */
const precomputedEncryptOps = (pk: Keys.PublicKey, messages: ReadonlyArray<bigint>, runs: number): number => {
  const rates: Array<number> = []
  const pool = new Randomness.RandomnessPool(pk, Randomness.fixedBase(pk))
  for (let r = 0; r < runs; r++) {
    pool.fill(messages.length - pool.size)
    const source = pool.asSource()
    const start = performance.now()
    for (const m of messages) Paillier.encrypt(pk, m, source)
    rates.push((messages.length * 1000) / (performance.now() - start))
  }
  return rates.sort((a, b) => a - b)[rates.length >> 1]!
}

const cycle = <A>(xs: ReadonlyArray<A>) => {
  let i = 0
  return () => xs[i++ % xs.length]!
}

const benchSize = async (bits: number, kernels: ReadonlyArray<BigIntKernels>, node: Composed): Promise<void> => {
  const slow = bits > 2048
  const base = { bits, workers: 1 }

  progress(`${bits}: key generation`)
  const oursKeygen = await opsPerSecond(() => Keys.generateKeyPair({ bits, primes: node.primes, kernels: node.kernels }), {
    warmup: 1,
    runs: slow ? 3 : 5,
    minRunMs: 0
  })
  const theirKeygen = await opsPerSecond(() => PaillierBigint.generateRandomKeys(bits, true), { warmup: 0, runs: slow ? 1 : 3, minRunMs: 0 })
  line("keygen_ops_per_s", { ...base, primes: "node-openssl" }, oursKeygen, { name: BASELINE, value: theirKeygen })

  const { publicKey: pk, privateKey: sk } = await Keys.generateKeyPair({ bits, primes: node.primes, kernels: node.kernels })
  const theirPk = new PaillierBigint.PublicKey(pk.n, pk.n + 1n)
  const theirSk = new PaillierBigint.PrivateKey(sk.lambda, sk.mu, theirPk, sk.p, sk.q)
  const messages = Array.from({ length: 64 }, () => randomBits(64))
  const nextMessage = cycle(messages)

  progress(`${bits}: encryption`)
  const theirEncrypt = await opsPerSecond(() => theirPk.encrypt(nextMessage()), { warmup: 1, runs: slow ? 3 : 5 })
  const tableStart = performance.now()
  Randomness.tableFor(pk)
  line("fixed_base_table_build_ms", base, performance.now() - tableStart)
  const online = Randomness.fixedBase(pk)
  const oursEncrypt = await opsPerSecond(() => Paillier.encrypt(pk, nextMessage(), online), { warmup: 20, runs: 5 })
  line("encrypt_ops_per_s", { ...base, mode: "online-fixed-base", table: "portable" }, oursEncrypt, { name: BASELINE, value: theirEncrypt })
  for (const k of kernels) {
    if (k.fixedBase === undefined) continue
    const started = performance.now()
    const source = Randomness.fixedBase(pk, k)
    line("fixed_base_table_build_ms", { ...base, kernel: k.name }, performance.now() - started)
    const value = await opsPerSecond(() => Paillier.encrypt(pk, nextMessage(), source), { warmup: 20, runs: 5 })
    line("encrypt_ops_per_s", { ...base, mode: "online-fixed-base", table: k.name }, value, { name: "portable-table", value: oursEncrypt })
  }
  line("encrypt_ops_per_s", { ...base, mode: "precomputed-randomness" }, precomputedEncryptOps(pk, Array.from({ length: 256 }, nextMessage), 5), {
    name: BASELINE,
    value: theirEncrypt
  })
  for (const k of kernels) {
    const direct = Randomness.direct(pk, k)
    const value = await opsPerSecond(() => Paillier.encrypt(pk, nextMessage(), direct), { warmup: 2, runs: 3 })
    line("encrypt_ops_per_s", { ...base, mode: "no-table", kernel: k.name }, value, { name: BASELINE, value: theirEncrypt })
  }

  const cs = messages.slice(0, 16).map((m) => Paillier.encrypt(pk, m, online))
  const nextC = cycle(cs)

  progress(`${bits}: decryption`)
  const theirDecrypt = await opsPerSecond(() => theirSk.decrypt(nextC().value), { warmup: 2, runs: slow ? 3 : 5 })
  const decryptByKernel = new Map<string, number>()
  for (const k of kernels) {
    const value = await opsPerSecond(() => Paillier.decrypt(sk, nextC(), k), { warmup: 2, runs: slow ? 3 : 5 })
    decryptByKernel.set(k.name, value)
    line("decrypt_ops_per_s", { ...base, kernel: k.name, crt: true }, value, { name: BASELINE, value: theirDecrypt })
  }

  progress(`${bits}: homomorphic operations`)
  const [c1, c2] = [cs[0]!, cs[1]!]
  const theirAdd = await opsPerSecond(() => theirPk.addition(c1.value, c2.value), { runs: 5, minRunMs: 200 })
  const oursAdd = await opsPerSecond(() => Paillier.add(c1, c2), { runs: 5, minRunMs: 200 })
  line("add_ops_per_s", base, oursAdd, { name: BASELINE, value: theirAdd })
  const scalar = randomBits(64)
  const theirMul = await opsPerSecond(() => theirPk.multiply(nextC().value, scalar), { runs: 5, minRunMs: 200 })
  for (const k of kernels) {
    const value = await opsPerSecond(() => Paillier.multiplyScalar(nextC(), scalar, k), { runs: 5, minRunMs: 200 })
    line("scalar_multiply_ops_per_s", { ...base, kernel: k.name, scalar_bits: 64 }, value, { name: BASELINE, value: theirMul })
  }

  progress(`${bits}: threshold key (n = 3, t = 2) and partial decryption`)
  let dealt: ReturnType<typeof Dealer.dealFromSafePrimes>
  let primes: string
  if (!slow) {
    const started = performance.now()
    const ceremony = await Dealer.runDealerCeremony({
      bits,
      threshold: 2,
      parties: ["a", "b", "c"],
      encryptTo: (_, bytes) => bytes.slice(),
      primes: node.primes,
      kernels: node.kernels
    })
    line("threshold_dealer_ceremony_ops_per_s", { ...base, parties: 3, threshold: 2, primes: "safe" }, 1000 / (performance.now() - started))
    const tpk = ceremony.publicKey
    dealt = { publicKey: tpk, shares: ceremony.encryptedShares.map((s) => Dealer.acceptShare(tpk, s.ciphertext, s.index, node.kernels)) }
    primes = "safe"
  } else {
    const [p, q] = await Promise.all([node.primes(bits / 2, { safe: false }), node.primes(bits / 2, { safe: false })])
    dealt = Dealer.dealFromSafePrimes(p, q, 2, 3, { kernels: node.kernels })
    primes = "non-safe (timing only)"
  }
  const tpk = dealt.publicKey
  const tcs = messages.slice(0, 8).map((m) => Paillier.encrypt(tpk.publicKey, m))
  const nextT = cycle(tcs)
  const share = dealt.shares[0]!
  const tBase = { ...base, parties: 3, threshold: 2, primes }
  const partialByKernel = new Map<string, number>()
  const shareByKernel = new Map<string, number>()
  for (const k of kernels) {
    const params = { ...tBase, kernel: k.name }
    const value = await opsPerSecond(() => Threshold.partialDecrypt(share, nextT(), k), { warmup: 1, runs: slow ? 3 : 5 })
    partialByKernel.set(k.name, value)
    const ts = partialByKernel.get("ts")
    line("partial_decrypt_with_proof_ops_per_s", params, value, k.name === "ts" || ts === undefined ? undefined : { name: "ts-kernel", value: ts })
    const exponent = 2n * tpk.delta * share.share
    const shareOnly = await opsPerSecond(() => k.modPow(nextT().value, exponent, tpk.publicKey.n2), { warmup: 1, runs: slow ? 3 : 5 })
    shareByKernel.set(k.name, shareOnly)
    line("partial_decrypt_share_only_ops_per_s", params, shareOnly)
  }
  // Batched proofs (one per party and round over a random linear combination, ThresholdPaillier.ts): the
  // per-ciphertext cost of a round of 8, against the share alone.
  for (const k of kernels) {
    if (k.name === "ts" || k.name === "wasm") continue
    const params = { ...tBase, kernel: k.name, batch: tcs.length }
    const proved = tcs.length * (await opsPerSecond(() => Threshold.partialDecryptBatchProved(share, tcs, k), { warmup: 1, runs: 3, minRunMs: 0 }))
    line("partial_decrypt_batch_proved_ops_per_s", params, proved, { name: "per-ciphertext proofs", value: partialByKernel.get(k.name)! })
    const batch = Threshold.partialDecryptBatchProved(share, tcs, k)
    const verified = tcs.length * (await opsPerSecond(() => Threshold.verifyPartialDecryptionBatch(tpk, tcs, batch, k), { warmup: 1, runs: 3, minRunMs: 0 }))
    line("verify_partial_decryption_batch_ops_per_s", params, verified)
  }
  const verifyKernel = kernels.find((k) => k.name === "node-openssl") ?? tsKernels
  const c = tcs[0]!
  const partials = dealt.shares.slice(0, 2).map((s) => Threshold.partialDecrypt(s, c, verifyKernel))
  line(
    "verify_partial_decryption_ops_per_s",
    { ...tBase, kernel: verifyKernel.name },
    await opsPerSecond(() => Threshold.verifyPartialDecryption(tpk, c, partials[0]!, verifyKernel), { warmup: 1, runs: 3 })
  )
  line(
    "combine_ops_per_s",
    { ...tBase, kernel: verifyKernel.name, verified: true },
    await opsPerSecond(() => Threshold.combine(tpk, c, partials, { kernels: verifyKernel }), { warmup: 1, runs: 3 })
  )

  const viaDh = decryptByKernel.get("node-openssl-dh")
  if (viaDh !== undefined && decryptByKernel.has("node-openssl")) {
    line("decrypt_native_vs_dh", base, decryptByKernel.get("node-openssl")!, { name: "node-openssl-dh", value: viaDh })
  }

  // The IFMA kernel against OpenSSL's BN in the same addon, same run: CRT decryption (two 2048-bit-modulus
  // exponentiations at 2048 bits) and a threshold share (one exponentiation mod N², no CRT).
  if (decryptByKernel.has("node-openssl-bn") && NativeBigInt.ifmaAvailable()) {
    const ifmaParams = { ...base, kernel: "node-openssl", ifma: true }
    const against = (metric: string, byKernel: ReadonlyMap<string, number>) =>
      line(metric, ifmaParams, byKernel.get("node-openssl")!, { name: "node-openssl-bn", value: byKernel.get("node-openssl-bn")! })
    against("ifma_vs_openssl_bn_decrypt_ops_per_s", decryptByKernel)
    against("ifma_vs_openssl_bn_partial_decrypt_share_only_ops_per_s", shareByKernel)
    against("ifma_vs_openssl_bn_partial_decrypt_with_proof_ops_per_s", partialByKernel)
  }

  // Kernel ratios against the TS kernel, on the two exponentiation shapes Paillier spends its time in.
  const ts = decryptByKernel.get("ts")
  for (const k of kernels) {
    if (k.name === "ts" || ts === undefined) continue
    line("kernel_decrypt_ratio", { ...base, kernel: k.name }, decryptByKernel.get(k.name)!, { name: "ts-kernel", value: ts })
  }
  const shapes: ReadonlyArray<readonly [string, bigint, bigint]> = [
    ["c^(p-1) mod p^2", sk.p - 1n, sk.p2],
    ["r^N mod N^2", pk.n, pk.n2]
  ]
  for (const [shape, exponent, modulus] of shapes) {
    const rate = (k: BigIntKernels) => opsPerSecond(() => k.modPow(nextC().value, exponent, modulus), { warmup: 2, runs: 3, minRunMs: 250 })
    const tsRate = await rate(tsKernels)
    line("modpow_ops_per_s", { ...base, kernel: "ts", shape }, tsRate)
    for (const k of kernels) {
      if (k.name === "ts") continue
      line("modpow_ops_per_s", { ...base, kernel: k.name, shape }, await rate(k), { name: "ts-kernel", value: tsRate })
    }
  }
}

export const run = async (): Promise<void> => {
  const node = await composed({})
  const dh = await composed({ bigint: "node-openssl-dh" })
  const wasm = await loadWasm()
  // OpenSSL's BN alone (the IFMA kernel off), where the composition's kernels could run IFMA: their baseline.
  const bn = node.kernels.name === "node-openssl" && NativeBigInt.ifmaAvailable() ? NativeBigInt.make({ ifma: "off" }).kernels : undefined
  const kernels = [tsKernels, node.kernels, ...(bn ? [bn] : []), ...(dh.kernels.name !== node.kernels.name ? [dh.kernels] : []), ...(wasm ? [wasm] : [])]
  for (const bits of [2048, 3072]) await benchSize(bits, kernels, node)
}
