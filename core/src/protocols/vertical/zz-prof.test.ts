import { Effect, Layer } from "effect"
import { it } from "vitest"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { LocalData, type TabularData } from "../../data/Tabular.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import * as Coordinator from "./coordinator.ts"
import * as Participant from "./participant.ts"
import type * as Spec from "./spec.ts"
const tab = (name: string): TabularData => {
  const [h, ...ls] = readFileSync(fileURLToPath(new URL(`../../../../examples/query/${name}`, import.meta.url)), "utf8").trim().split("\n")
  const cols = h!.split(","); const rows = ls.map((l) => l.split(","))
  return { name, rowCount: rows.length, columnNames: cols, isNumeric: (c) => c !== "id", numeric: (c) => Float64Array.from(rows.map((r) => Number(r[cols.indexOf(c)]))), strings: (c) => rows.map((r) => r[cols.indexOf(c)]!) }
}
it("prof", async () => {
  const ws = [0,1,2].map(() => InMemoryHost.randomWallet()); const ad = ws.map((w) => w.address)
  const datas = ["a","b","c"].map((p) => tab(`bcw_vertical_party_${p}_psi.csv`))
  const params = { idColumn: "id", labelHolder: ad[0], label: { column: "label", positive: 1 }, features: datas.map((d, i) => ({ party: ad[i], columns: d.columnNames.filter((c) => c !== "id" && c !== "label") })), maxIds: 10000, keyBits: Number(process.env.BITS ?? 1024), unsafeAllowTestKeySizes: true, updates: Number(process.env.UPD ?? 100) } as unknown as Spec.TrainParams
  const host = InMemoryHost.make(datas.map((d, i) => ({ wallet: ws[i], handlers: Participant.handlers("x", { kind: "train", model: (process.env.MODEL ?? "svm") as "svm", params }, ad), provide: (e: any) => Effect.provide(e, Layer.succeed(LocalData, { dataset: () => Effect.succeed(d) })) as any })))
  const t0 = performance.now()
  let last = t0; const times = new Map<string, number>()
  const orig = host.session()
  const session = { ...orig, round: (st: any, req: any, o: any) => Effect.tap(Effect.suspend(() => { last = performance.now(); return orig.round(st, req, o) }), () => Effect.sync(() => times.set(st.name, (times.get(st.name) ?? 0) + performance.now() - last))) }
  const r = await Effect.runPromise(Coordinator.runTraining(session as any, (process.env.MODEL ?? "svm") as "svm", params, { timeoutMs: 600000 }))
  console.log("total", performance.now() - t0, JSON.stringify((r as any).test), JSON.stringify((r as any).counters))
  console.log([...times].map(([k, v]) => `${k} ${v.toFixed(0)}`).join("\n"))
}, 600000)
