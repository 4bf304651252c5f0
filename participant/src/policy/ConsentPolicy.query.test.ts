/**
 * Consent rules for joint-query tasks: who may receive output, and set-size caps through `limits`. The receivers
 * are read from the params by the kind's declaration (the agent passes them as `recipients`).
 */
import { describe, expect, it } from "vitest"
import { evaluate, type Policy } from "./ConsentPolicy.ts"

const alice = "0x" + "a".repeat(40)
const mallory = "0x" + "b".repeat(40)
const policy = {
  mode: "auto", taskKinds: ["*"], initiators: ["*"], minParties: 2, datasets: { bcw: {} },
  outputReceivers: [alice], limits: { "query.psi": { maxIds: 1000 } }
} as unknown as Policy
const input = (kind: string, params: unknown) => ({ kind, initiator: alice, parties: 2, dataset: "bcw", columns: ["id"], params })

describe("ConsentPolicy for joint queries", () => {
  it("approves an allowed receiver and rejects any other receiver or querier", () => {
    expect(evaluate(policy, input("query.psi", { idColumn: "id", receivers: [alice.toUpperCase().replace("0X", "0x")], maxIds: 10 })).decision).toBe("approve")
    expect(evaluate(policy, input("query.psi", { idColumn: "id", receivers: [alice, mallory], maxIds: 10 })).rule).toBe("receivers")
    expect(evaluate(policy, input("query.hidden", { provider: alice, querier: mallory, idColumn: "id", columns: ["x"], maxQueries: 5 })).rule).toBe("receivers")
  })
  it("caps the ids a task joins with through limits", () => {
    expect(evaluate(policy, input("query.psi", { idColumn: "id", receivers: [alice], maxIds: 5000 })).rule).toBe("limits")
  })
})
