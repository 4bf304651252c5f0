import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as ConsentPolicy from "./ConsentPolicy.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const dir = mkdtempSync(join(tmpdir(), "jointly-policy-"))
afterAll(() => removeDir(dir))

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
    // A hook that rejects is a human who could not be asked: rejected, naming why, not a thrown defect.
    expect(await ConsentPolicy.decidePromise(ask, task, () => Promise.reject(new Error("the prompt was closed"))))
      .toMatchObject({ decision: "reject", rule: "human", reason: "the human could not be asked: the prompt was closed" })
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

describe("ConsentPolicy modeling rules", () => {
  const dense = (units: number, input?: number, activation = "relu") => ({ class_name: "Dense", config: { units, activation, ...(input ? { batch_input_shape: [null, input] } : {}) } })
  const flParams = (layers: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) => ({
    model: { class_name: "Sequential", config: { layers } },
    featureColumns: ["a", "b", "c", "d"],
    labelColumn: "y",
    optimizer: "sgd",
    learningRate: 0.1,
    localEpochs: 1,
    batchSize: 8,
    rounds: 10,
    ...extra
  })
  const policy = (modeling: Record<string, unknown>) =>
    Effect.runPromise(ConsentPolicy.decode({ mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: { d: {} }, modeling }))
  const fl = (params: unknown, parties = 4): ConsentPolicy.ConsentInput => ({ kind: "modeling.horizontal-fl", initiator: ALICE, parties, dataset: "d", columns: ["a"], params })
  const small = flParams([dense(8, 4), dense(3, undefined, "softmax")]) // 4·8+8 + 8·3+3 = 67 parameters

  it("approves a model inside every bound", async () => {
    const p = await policy({ maxParameters: 100, layerTypes: ["Dense"], maxRounds: 10, minParticipantsPerRound: 3, requireSecureAggregation: true })
    expect(ConsentPolicy.evaluate(p, fl(small)).decision).toBe("approve")
  })

  it.each([
    [{ maxParameters: 50 }, small, "the model has 67 parameters, more than the 50 allowed"],
    [{ layerTypes: ["Dense"] }, flParams([dense(8, 4), { class_name: "Dropout", config: { rate: 0.1 } }, dense(3, undefined, "softmax")]), "layer type Dropout is not allowed"],
    [{ maxRounds: 5 }, small, "10 training rounds exceed the 5 allowed"],
    [{ minParticipantsPerRound: 4 }, flParams([dense(8, 4), dense(3, undefined, "softmax")], { clientsPerRound: 4, minUpdatesPerRound: 3 }), "as few as 3 updates, fewer than the 4 required"],
    [{ requireSecureAggregation: true }, flParams([dense(8, 4), dense(3, undefined, "softmax")], { aggregation: "plain" }), "requires secure aggregation"]
  ] as const)("refuses a model beyond %j with the reason", async (rule, params, reason) => {
    const verdict = ConsentPolicy.evaluate(await policy(rule), fl(params))
    expect(verdict.decision).toBe("reject")
    expect(verdict.rule).toBe("modeling")
    expect(verdict.reason).toContain(reason)
  })

  it("does not judge tasks without a model, and rejects a misspelt modeling rule", async () => {
    expect(ConsentPolicy.evaluate(await policy({ maxParameters: 1 }), { ...fl({}), kind: "statistics.horizontal" }).decision).toBe("approve")
    const error = await Effect.runPromise(Effect.flip(ConsentPolicy.decode({ mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: {}, modeling: { maxParams: 5 } })))
    expect(error.field).toContain("modeling")
  })
})
