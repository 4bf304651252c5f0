import { readFileSync } from "node:fs"
import { loadWasmKernels } from "./index.ts"
const rnd = (bits: number) => { const a = new Uint32Array(Math.ceil(bits / 32)); crypto.getRandomValues(a); let x = 0n; for (const w of a) x = (x << 32n) | BigInt(w); return x & ((1n << BigInt(bits)) - 1n) }
const ref = (b: bigint, e: bigint, m: bigint) => { let r = 1n; b %= m; while (e > 0n) { if (e & 1n) r = r * b % m; b = b * b % m; e >>= 1n } return r }
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
const m = rnd(4096) | 1n | (1n << 4095n); const e = rnd(2048) | (1n << 2047n); const b = rnd(4000)
const ks = { one: await loadWasmKernels(readFileSync("/tmp/one.wasm")), two: await loadWasmKernels(readFileSync("/tmp/two.wasm")) }
for (const k of Object.values(ks)) { for (let i = 0; i < 3; i++) k.modPow(b + BigInt(i), e, m); if (k.modPow(b, e, m) !== ref(b, e, m)) console.log("WRONG") }
const tot: Record<string, number> = { one: 0, two: 0 }
for (let round = 0; round < 4; round++) for (const [name, k] of Object.entries(ks)) {
  const t0 = cpu(); let n = 0; while (cpu() - t0 < 1.5) { k.modPow(b + BigInt(n), e, m); n++ }
  tot[name]! += n / (cpu() - t0)
}
console.log(Object.entries(tot).map(([k, v]) => `${k} ${(v / 4).toFixed(2)}`).join("  "))
