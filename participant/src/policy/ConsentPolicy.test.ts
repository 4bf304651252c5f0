import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as ConsentPolicy from "./ConsentPolicy.ts"

const dir = mkdtempSync(join(tmpdir(), "jointly-policy-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
const MALLORY = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"

const policyJson = {
  mode: "auto",
  taskKinds: ["statistics.horizontal", "ml.horizontal"],
  initiators: [ALICE],
  minParties: 3,
  datasets: { pima: { columns: ["age", "glucose"] }, wine: {} },
  limits: { "ml.horizontal": { rounds: 20, epsilon: 1 } }
}

const writePolicy = (name: string, value: unknown) => {
  const file = join(dir, name)
  writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value))
  return file
}

const task: ConsentPolicy.ConsentInput = {
  kind: "statistics.horizontal",
  initiator: ALICE.toLowerCase(),
  parties: 3,
  dataset: "pima",
  columns: ["age"],
  params: {}
}

describe("ConsentPolicy.evaluate", async () => {
  const policy = await ConsentPolicy.loadPromise(writePolicy("policy.json", policyJson))

  it("approves a task that passes every rule (addresses compare case-insensitively)", () => {
    expect(ConsentPolicy.evaluate(policy, task)).toEqual({ decision: "approve", reason: "every rule passed", needsHuman: false })
    expect(ConsentPolicy.evaluate(policy, { ...task, dataset: "wine", columns: ["anything"] }).decision).toBe("approve")
  })

  it.each([
    [{ kind: "psi.intersection" }, "taskKinds", "task kind psi.intersection not accepted"],
    [{ initiator: MALLORY }, "initiators", `initiator ${MALLORY} not in allowed initiators`],
    [{ parties: 2 }, "minParties", "needs at least 3 parties, task has 2"],
    [{ dataset: "secret" }, "datasets", "dataset secret is not shareable"],
    [{ columns: ["age", "insulin"] }, "columns", "column insulin of dataset pima is not shareable"],
    [{ kind: "ml.horizontal", params: { rounds: 50 } }, "limits", "parameter rounds = 50 exceeds the limit 20 for task kind ml.horizontal"],
    [{ kind: "ml.horizontal", params: { epsilon: "big" } }, "limits", "parameter epsilon of task kind ml.horizontal must be a finite number"]
  ] as const)("rejects %j naming rule %s", (change, rule, reason) => {
    const verdict = ConsentPolicy.evaluate(policy, { ...task, ...change })
    expect(verdict.decision).toBe("reject")
    expect(verdict.rule).toBe(rule)
    expect(verdict.reason).toContain(reason)
  })

  it("accepts any initiator and kind with \"*\"", async () => {
    const open = await Effect.runPromise(ConsentPolicy.decode({ ...policyJson, initiators: ["*"], taskKinds: ["*"] }))
    expect(ConsentPolicy.evaluate(open, { ...task, initiator: MALLORY, kind: "psi.intersection" }).decision).toBe("approve")
  })

  it("in ask mode consults the human hook only for tasks that pass the rules; no hook means reject", async () => {
    const ask = await Effect.runPromise(ConsentPolicy.decode({ ...policyJson, mode: "ask" }))
    expect(ConsentPolicy.evaluate(ask, task)).toMatchObject({ decision: "approve", needsHuman: true })
    const asked: Array<string> = []
    const human = async (input: ConsentPolicy.ConsentInput) => {
      asked.push(input.kind)
      return { approve: input.parties >= 4, reason: input.parties >= 4 ? "fine" : "too few for my taste" }
    }
    expect(await ConsentPolicy.decidePromise(ask, { ...task, parties: 4 }, human)).toMatchObject({ decision: "approve", reason: "fine" })
    expect(await ConsentPolicy.decidePromise(ask, task, human)).toMatchObject({ decision: "reject", rule: "human", reason: "too few for my taste" })
    expect(await ConsentPolicy.decidePromise(ask, { ...task, parties: 2 }, human)).toMatchObject({ decision: "reject", rule: "minParties" })
    expect(asked).toEqual(["statistics.horizontal", "statistics.horizontal"])
    expect(await ConsentPolicy.decidePromise(ask, task)).toMatchObject({ decision: "reject", rule: "human" })
    // auto mode never asks
    expect(await Effect.runPromise(ConsentPolicy.decide(policy, task, () => Effect.die("must not ask")))).toMatchObject({ decision: "approve" })
  })
})

describe("ConsentPolicy.load errors", () => {
  const failure = (file: string) => Effect.runPromise(Effect.flip(ConsentPolicy.load(file)))

  it.each([
    ["bad mode", { ...policyJson, mode: "maybe" }, "mode"],
    ["bad initiator", { ...policyJson, initiators: [ALICE, "not-an-address"] }, "initiators[1]"],
    ["fractional minParties", { ...policyJson, minParties: 2.5 }, "minParties"],
    ["missing taskKinds", { ...policyJson, taskKinds: undefined }, "taskKinds"],
    ["bad column list", { ...policyJson, datasets: { pima: { columns: "age" } } }, "datasets.pima.columns"],
    ["misspelt rule", { ...policyJson, initators: ["*"] }, "initators"],
    ["non-numeric limit", { ...policyJson, limits: { "ml.horizontal": { rounds: "many" } } }, "limits.ml.horizontal.rounds"]
  ])("%s → InvalidField naming %s", async (name, value, field) => {
    const file = writePolicy(`${name.replace(/ /g, "-")}.json`, value)
    const error = await failure(file)
    expect(error).toBeInstanceOf(ConsentPolicy.PolicyError)
    expect(error.reason).toBe("InvalidField")
    expect(error.field).toBe(field)
    expect(error.message).toContain(file)
    expect(error.message).toContain(field)
  })

  it("reports a missing file and invalid JSON", async () => {
    expect((await failure(join(dir, "absent.json"))).reason).toBe("FileNotFound")
    expect((await failure(writePolicy("broken.json", "{ mode: auto"))).reason).toBe("InvalidJson")
  })
})
