import { describe, expect, it } from "vitest"
import * as GrantScope from "./GrantScope.ts"
import { ZERO_HASH } from "./Ledger.ts"

describe("grant scopes", () => {
  const scope = GrantScope.decode({ version: 1, columns: ["age", "bmi"], kinds: ["statistics.horizontal"] })

  it("hash the same whatever the order and repetition of the lists, differently for any other content", () => {
    const reordered = GrantScope.decode({ kinds: ["statistics.horizontal"], columns: ["bmi", "age", "bmi"], version: 1 })
    expect(GrantScope.hashOf(reordered)).toBe(GrantScope.hashOf(scope))
    expect(GrantScope.hashOf({ ...scope, columns: ["age"] })).not.toBe(GrantScope.hashOf(scope))
    expect(GrantScope.hashOf({ version: 1, columns: scope.columns })).not.toBe(GrantScope.hashOf(scope))
    expect(GrantScope.isUnscoped(GrantScope.hashOf(scope))).toBe(false)
    expect(GrantScope.isUnscoped(ZERO_HASH)).toBe(true)
  })

  it("name what a task does outside them: another kind, columns beyond the list", () => {
    expect(GrantScope.violation(scope, "statistics.horizontal", ["age"])).toBeUndefined()
    expect(GrantScope.violation(scope, "query.psi", ["age"])).toMatch(/not query\.psi/)
    expect(GrantScope.violation(scope, "statistics.horizontal", ["age", "glucose", "insulin"])).toMatch(/reads glucose, insulin, outside/)
    expect(GrantScope.violation({ version: 1, columns: ["age"] }, "modeling.horizontal", ["age"])).toBeUndefined()
  })

  it("refuse a document that is not a scope", () => {
    expect(() => GrantScope.decode({ version: 2, columns: ["age"] })).toThrow()
    expect(() => GrantScope.decode({ version: 1, columns: [] })).toThrow()
    expect(() => GrantScope.decode({ version: 1 })).toThrow()
  })
})
