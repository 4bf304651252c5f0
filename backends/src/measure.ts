/**
 * Quick ratio check, not a test and not the official benchmark (that is `npm run bench -- paillier`):
 *
 *   node --import tsx backends/src/measure.ts
 *
 * Prints ops/s of modPow on a Paillier-shaped modulus (N² for an N of two random primes) with an exponent of
 * N's size, the r^N mod N² of encryption, for naive bigint square-and-multiply, the TS kernel, this WASM kernel
 * and the Node OpenSSL kernel; then modInverse at the same size. Rates are per CPU second of this process.
 */
import { generatePrimeSync } from "node:crypto"
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import { randomBits as random } from "@jointly/core/internal/compute/Primes"
import { tsKernels } from "@jointly/core/internal/compute/TsKernels"
import { defaultWasmUrl, loadWasmKernels } from "@jointly/wasm"
import { naiveModPow } from "@jointly/wasm/internal/Reference"
import { readWasmFile } from "./node/NodeFiles.ts"
import * as OpenSslKernels from "./node/OpenSslKernels.ts"

/** Process CPU seconds: on a shared machine wall time mostly measures the neighbours. */
const cpuSeconds = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** Runs `op` for at least `seconds` of CPU time after `warmup` calls (WASM tiers up to TurboFan after a few). */
const opsPerSecond = (op: (i: number) => unknown, seconds = 1.5, warmup = 3): number => {
  for (let i = 0; i < warmup; i++) op(i)
  const start = cpuSeconds()
  let n = 0
  while (cpuSeconds() - start < seconds) op(n++)
  return n / (cpuSeconds() - start)
}

const wasm = await loadWasmKernels(await readWasmFile(defaultWasmUrl()))
const nodeKernels = OpenSslKernels.make()
const naive: Pick<BigIntKernels, "name" | "modPow"> = { name: "naive bigint", modPow: naiveModPow }
const line = (label: string, value: number, unit: string, baseline?: number) =>
  console.log(
    `${label.padEnd(46)} ${value.toFixed(value < 10 ? 2 : 1).padStart(9)} ${unit}` +
      (baseline === undefined ? "" : `   ×${(value / baseline).toFixed(2)} vs naive`)
  )

for (const nBits of [2048, 1024]) {
  const p = generatePrimeSync(nBits / 2, { bigint: true }) as bigint
  const q = generatePrimeSync(nBits / 2, { bigint: true }) as bigint
  const n = p * q
  const n2 = n * n
  const bases = Array.from({ length: 8 }, () => random(2 * nBits - 1))
  console.log(`\nmodPow, ${2 * nBits}-bit modulus N², ${nBits}-bit exponent N (Paillier r^N mod N²)`)
  let baseline = 0
  for (const k of [naive, tsKernels, wasm, nodeKernels]) {
    const value = opsPerSecond((i) => k.modPow(bases[i % bases.length]!, n, n2))
    if (k === naive) baseline = value
    line(`  modPow ${k.name}`, value, "ops/s", baseline)
  }
  for (const k of [wasm, nodeKernels]) {
    const shared = opsPerSecond(() => k.modPowBatch(bases, n, n2), 1.5, 1) * bases.length
    line(`  modPowBatch ${k.name}, shared exponent`, shared, "ops/s", baseline)
    // Distinct exponents per element, as in threshold decryption shares or g^m with varying m.
    const perElement = opsPerSecond(() => k.modPowBatch(bases, bases.map(() => random(nBits)), n2), 1.5, 1) * bases.length
    line(`  modPowBatch ${k.name}, per-element exponents`, perElement, "ops/s", baseline)
  }
  const inv = opsPerSecond((i) => tsKernels.modInverse(bases[i % bases.length]!, n2), 1, 10)
  line(`  modInverse (TS extended Euclid), ${2 * nBits}-bit`, 1000 / inv, "ms/op")
}
