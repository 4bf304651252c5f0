/**
 * Private arithmetic end to end in memory over real 2048-bit Paillier keys: every role through InMemoryHost
 * (each message through its Schema and JSON), per id (after a real aligned PSI between the holders) and over
 * totals, with 2 and 3 parties. Each result is checked against the plaintext computation on the raw rows:
 * exactly for integer values (decimal strings and reduced fractions), within the bound stated in spec.ts for
 * fixed-point values.
 */
import { Effect, Layer, Result as Decoded } from "effect"
import type { Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import * as Keys from "../../crypto/paillier/Keys.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import type { TabularData } from "../../data/Tabular.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import type { TaskSpec } from "../../task/TaskSpec.ts"
import * as InMemoryHost from "../../testing/InMemoryHost.ts"
import * as Channel from "../joint-query/Channel.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import * as Protocols from "../Protocols.ts"
import type { Value } from "./Arithmetic.ts"
import * as Coordinator from "./coordinator.ts"
import * as Spec from "./spec.ts"

type Rows = Record<string, ReadonlyArray<number | string>>

const table = (name: string, rows: Rows): TabularData => {
  const columnNames = Object.keys(rows)
  return {
    name,
    rowCount: rows[columnNames[0]!]!.length,
    columnNames,
    isNumeric: (column) => typeof rows[column]![0] === "number",
    numeric: (column) => Float64Array.from(rows[column]! as ReadonlyArray<number>),
    strings: (column) => rows[column]!.map(String)
  }
}

/** Seeded PRNG (mulberry32): test data only. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Customers of a bank (income) and a retailer (spend): overlapping ids, shuffled, integer and decimal columns. */
const customers = (seed: number) => {
  const random = prng(seed)
  const bank: Array<{ id: string; income: number; score: number }> = []
  const shop: Array<{ id: string; spend: number; visits: number }> = []
  for (let i = 0; i < 40; i++) {
    // Not hex-like: the blind-coordinator check looks for ids as substrings of the transcript, whose digests and
    // signatures are hex, where an id like "c1017" turns up by chance (16^-5 per position, thousands of them).
    const id = `cust_${1000 + i}`
    if (i < 32) bank.push({ id, income: Math.round((random() * 9000 + 1000) * 100) / 100, score: Math.floor(random() * 2000) - 600 })
    if (i >= 8) shop.push({ id, spend: Math.round((random() * 4000 - 200) * 1000) / 1000, visits: Math.floor(random() * 50) })
  }
  // One zero divisor on an aligned id, and a negative.
  shop.find((r) => r.id === "cust_1010")!.visits = 0
  bank.find((r) => r.id === "cust_1011")!.score = -7
  bank.sort(() => random() - 0.5)
  shop.sort(() => random() - 0.5)
  return {
    bank: { id: bank.map((r) => r.id), income: bank.map((r) => r.income), score: bank.map((r) => r.score) } as Rows,
    shop: { id: shop.map((r) => r.id), spend: shop.map((r) => r.spend), visits: shop.map((r) => r.visits) } as Rows,
    regulator: { note: ["none"] } as Rows
  }
}

const wallets = { bank: InMemoryHost.randomWallet(), shop: InMemoryHost.randomWallet(), regulator: InMemoryHost.randomWallet() }
type Name = keyof typeof wallets
const address = (name: Name) => wallets[name].address

const specOf = (names: ReadonlyArray<Name>, params: unknown): TaskSpec =>
  ({ kind: Spec.kind, initiator: address("regulator"), nonce: "n", parties: names.map((n) => ({ participant: address(n), dataset: n })), params }) as unknown as TaskSpec

/** Every spec here is a joint-arithmetic one: its params decoded by that kind's declaration. */
const decode = (spec: TaskSpec): Protocols.Task<Spec.Params> => {
  const decoded = Protocols.decodeTask(spec)
  if (Decoded.isFailure(decoded)) throw decoded.failure
  return decoded.success
}

interface Run {
  readonly host: InMemoryHost.InMemoryHost
  readonly result: Spec.Result
  readonly output: { readonly result?: Value; readonly results?: ReadonlyArray<Value & { readonly id: string }> }
}

const run = async (names: ReadonlyArray<Name>, params: unknown, data: Record<Name, Rows>, overrides: Partial<Record<Name, (handlers: ReadonlyArray<InMemoryHost.AnyStageHandler>) => ReadonlyArray<InMemoryHost.AnyStageHandler>>> = {}): Promise<Run> => {
  const task = decode(specOf(names, params))
  const host = InMemoryHost.make(
    names.map((name) => {
      const layer = Layer.succeed(LocalData, {
        dataset: (dataset: string) =>
          dataset === name ? Effect.succeed(table(name, data[name])) : Effect.fail(new ParticipantFailure({ participant: name, stage: "dataset", code: "UnknownDataset", detail: dataset }))
      })
      const party = task.spec.parties.find((p) => p.participant === address(name))!
      const handlers = task.protocol.participant(task.params, { ...task, party })
      return {
        wallet: wallets[name] as Wallet,
        handlers: overrides[name]?.(handlers) ?? handlers,
        provide: <A>(effect: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(effect, layer) as Effect.Effect<A, ParticipantFailure>
      }
    }),
    { stages: task.protocol.stages.map((s) => s.stage.name) }
  )
  const result = await Effect.runPromise(host.run((session) => Coordinator.run(session, task.params, { timeoutMs: 60_000 })))
  const recipient = task.params.recipient
  const output = host.memory(recipient).get(TaskOutput.MEMORY_KEY) as Run["output"]
  return { host, result, output }
}

const byId = (rows: Rows, column: string) => new Map(rows.id!.map((id, i) => [String(id), rows[column]![i] as number] as const))

/** Exact fraction a/b of two integers, reduced, sign on the numerator. */
const fraction = (a: bigint, b: bigint) => {
  const gcd = (x: bigint, y: bigint): bigint => (y === 0n ? (x < 0n ? -x : x) : gcd(y, x % y))
  const g = gcd(a, b)
  const s = b < 0n ? -1n : 1n
  return `${(s * a) / g}/${(s * b) / (g < 0n ? -g : g)}`
}

/** spec.ts error bounds, e = 2^−(s+1) per encoded operand (`rows` of them in a total). */
const bound = (operation: Spec.Operation, x: number, y: number, e: number) => {
  switch (operation) {
    case "add":
    case "subtract":
      return 2 * e
    case "multiply":
      return e * (Math.abs(x) + Math.abs(y)) + e * e
    case "divide":
      return (e * (1 + Math.abs(x / y))) / (Math.abs(y) - e)
  }
}
const exactOf = (operation: Spec.Operation, x: number, y: number) =>
  operation === "add" ? x + y : operation === "subtract" ? x - y : operation === "multiply" ? x * y : x / y

/** The coordinator saw no value and no id: every payload it relayed is sealed. */
const expectBlindCoordinator = (host: InMemoryHost.InMemoryHost, data: Record<Name, Rows>) => {
  const seen = host.transcript.map((t) => t.json).join("\n")
  for (const id of (data.bank.id as ReadonlyArray<string>).slice(0, 10)) expect(seen).not.toContain(id)
  for (const v of (data.shop.spend as ReadonlyArray<number>).slice(0, 10)) expect(seen).not.toContain(String(v))
}

describe("statistics.arithmetic over real Paillier (2048-bit)", () => {
  const data = customers(7)
  const income = byId(data.bank, "income")
  const score = byId(data.bank, "score")
  const spend = byId(data.shop, "spend")
  const visits = byId(data.shop, "visits")
  const shared = [...income.keys()].filter((id) => spend.has(id))

  it("per id, 2 parties, integers: ×, ÷ and − equal the plaintext exactly; the recipient holds one operand", async () => {
    for (const [operation, recipient] of [["multiply", "bank"], ["divide", "shop"], ["subtract", "bank"]] as const) {
      const params = {
        operation,
        left: { party: address("bank"), column: "score" },
        right: { party: address("shop"), column: "visits" },
        recipient: address(recipient),
        over: "per-id",
        idColumn: "id",
        maxIds: 100
      }
      const { host, result, output } = await run(["bank", "shop"], params, data)
      expect(result.count).toBe(shared.length)
      expect(output.results!.map((r) => r.id).sort()).toEqual([...shared].sort())
      for (const r of output.results!) {
        const x = BigInt(score.get(r.id)!)
        const y = BigInt(visits.get(r.id)!)
        if (operation === "multiply") expect(r.exact).toBe(String(x * y))
        if (operation === "subtract") expect(r.exact).toBe(String(x - y))
        if (operation === "divide") {
          if (y === 0n) {
            expect(r.divisionByZero).toBe(true)
            continue
          }
          expect(r.exact).toBe(fraction(x, y))
          expect(Math.abs(r.value! - Number(x) / Number(y))).toBeLessThanOrEqual(2 * Number.EPSILON * Math.abs(Number(x) / Number(y)))
        } else {
          expect(r.value).toBe(Number(r.exact))
        }
      }
      expect(result.divisionsByZero).toBe(operation === "divide" ? 1 : 0)
      expect(result.digest).toMatch(/^0x[0-9a-f]{64}$/)
      expectBlindCoordinator(host, data)
    }
  }, 180_000)

  it("per id, 3 parties, fixed point: spend ÷ income and spend − income reach a third party within the stated bound", async () => {
    const e = 2 ** -17
    for (const operation of ["divide", "subtract"] as const) {
      const params = {
        operation,
        left: { party: address("shop"), column: "spend" },
        right: { party: address("bank"), column: "income" },
        recipient: address("regulator"),
        over: "per-id",
        idColumn: "id",
        maxIds: 100
      }
      const { host, result, output } = await run(["bank", "shop", "regulator"], params, data)
      expect(result.count).toBe(shared.length)
      expect(new Set(output.results!.map((r) => r.id))).toEqual(new Set(shared))
      for (const r of output.results!) {
        const x = spend.get(r.id)!
        const y = income.get(r.id)!
        expect(Math.abs(r.value! - exactOf(operation, x, y))).toBeLessThanOrEqual(bound(operation, x, y, e) + 4 * Number.EPSILON * Math.abs(exactOf(operation, x, y)))
      }
      // The recipient took no part in the PSI: it never held a PSI state.
      expect(host.memory(address("regulator")).has("query/psi")).toBe(false)
      expectBlindCoordinator(host, data)
    }
  }, 180_000)

  it("over totals, 2 and 3 parties: Σspend × Σvisits exactly, Σspend ÷ Σincome within the bound", async () => {
    const sum = (rows: Rows, column: string) => (rows[column] as ReadonlyArray<number>).reduce((a, b) => a + b, 0)
    const scaled = (rows: Rows, column: string) => (rows[column] as ReadonlyArray<number>).reduce((a, v) => a + BigInt(Math.round(v * 2 ** 16)), 0n)

    const product = await run(["bank", "shop"], {
      operation: "multiply",
      left: { party: address("bank"), column: "score" },
      right: { party: address("shop"), column: "visits" },
      recipient: address("shop"),
      over: "totals"
    }, data)
    expect(product.result.count).toBe(1)
    expect(product.output.result!.exact).toBe(String(BigInt(sum(data.bank, "score")) * BigInt(sum(data.shop, "visits"))))

    const ratio = await run(["bank", "shop", "regulator"], {
      operation: "divide",
      left: { party: address("shop"), column: "spend" },
      right: { party: address("bank"), column: "income" },
      recipient: address("regulator"),
      over: "totals"
    }, data)
    // Exactly the ratio of the encoded totals, and within rows·e of the float ratio of the raw totals.
    expect(ratio.output.result!.exact).toBe(fraction(scaled(data.shop, "spend"), scaled(data.bank, "income")))
    const x = sum(data.shop, "spend")
    const y = sum(data.bank, "income")
    const e = (data.shop.id!.length + data.bank.id!.length) * 2 ** -17
    expect(Math.abs(ratio.output.result!.value! - x / y)).toBeLessThanOrEqual(bound("divide", x, y, e))
    expectBlindCoordinator(ratio.host, data)
  }, 180_000)

  it("a holder refuses a recipient key below 2048 bits, whatever the task says", async () => {
    const params = {
      operation: "multiply",
      left: { party: address("bank"), column: "score" },
      right: { party: address("shop"), column: "visits" },
      recipient: address("bank"),
      over: "totals"
    }
    // A recipient that advertises a 1024-bit key (a test key size the protocol itself never draws).
    const weak = (handlers: ReadonlyArray<InMemoryHost.AnyStageHandler>) =>
      handlers.map((h) =>
        h.stage.name !== Spec.keys.name ? h : handler(Spec.keys, (_request, session) =>
          Effect.gen(function*() {
            const keyPair = yield* Effect.promise(() => Keys.generateKeyPair({ bits: 1024, unsafeAllowTestKeySizes: true }))
            const { channel, advertisement } = yield* Channel.advertise(session, 1, Serialization.encodePublicKey(keyPair.publicKey))
            session.memory.set("statistics/arithmetic", { channel, reply: advertisement, keyPair, seen: new Set() })
            return advertisement
          })))
    const failed = await run(["bank", "shop"], params, data, { bank: weak }).then(() => undefined, (error: unknown) => error)
    expect(failed).toBeInstanceOf(ParticipantFailure)
    expect((failed as ParticipantFailure).participant).toBe(address("shop"))
    expect((failed as ParticipantFailure).code).toBe("WeakKey")
    expect((failed as ParticipantFailure).detail).toMatch(/2048/)
  }, 60_000)

  it.each([
    ["right.party", { left: { party: "bank", column: "score" }, right: { party: "bank", column: "income" }, recipient: "shop", over: "totals" }, ["bank", "shop"]],
    ["recipient", { left: { party: "bank", column: "score" }, right: { party: "shop", column: "visits" }, recipient: "regulator", over: "totals" }, ["bank", "shop"]],
    ["parties", { left: { party: "bank", column: "score" }, right: { party: "shop", column: "visits" }, recipient: "bank", over: "totals" }, ["bank", "shop", "regulator"]],
    ["idColumn", { left: { party: "bank", column: "score" }, right: { party: "shop", column: "visits" }, recipient: "bank", over: "per-id", maxIds: 10 }, ["bank", "shop"]],
    ["maxIds", { left: { party: "bank", column: "score" }, right: { party: "shop", column: "visits" }, recipient: "bank", over: "totals", maxIds: 10 }, ["bank", "shop"]]
  ] as const)("refuses a task with a bad %s before anything runs", (field, params, names) => {
    const resolve = (p: { party: Name; column: string }) => ({ party: address(p.party), column: p.column })
    const spec = specOf(names, { operation: "divide", ...params, left: resolve(params.left), right: resolve(params.right), recipient: address(params.recipient) })
    const decoded = Protocols.decodeTask(spec)
    expect(Decoded.isFailure(decoded)).toBe(true)
    expect(Decoded.isFailure(decoded) && decoded.failure.message).toContain(`invalid arithmetic parameters: ${field}:`)
  })

  it("refuses a key size below 2048 bits in the params Schema", () => {
    const decoded = Protocols.decodeTask(specOf(["bank", "shop"], {
      operation: "add",
      left: { party: address("bank"), column: "score" },
      right: { party: address("shop"), column: "visits" },
      recipient: address("bank"),
      over: "totals",
      keyBits: 1024
    }))
    expect(Decoded.isFailure(decoded) && decoded.failure.message).toMatch(/keyBits/)
  })
})
