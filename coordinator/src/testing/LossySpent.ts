/**
 * A spent-nonce store for tests of a spend that fails half-way: spends are remembered in memory, and after
 * `failNextSpend()` the next spend is recorded and then fails as SpentStoreFailed — a commit whose answer was lost,
 * so the nonce is spent though the caller was told the store failed.
 */
import { Effect } from "effect"
import * as Nonces from "../auth/Nonces.ts"

export const make = (): { readonly spent: Nonces.Spent; readonly failNextSpend: () => void } => {
  const memory = Nonces.inMemory()
  let failNext = false
  return {
    spent: {
      spent: memory.spent,
      spend: (nonce, expiresAt) =>
        Effect.flatMap(memory.spend(nonce, expiresAt), (first) => {
          if (!failNext) return Effect.succeed(first)
          failNext = false
          return Effect.fail(new Nonces.SpentStoreFailed({ operation: "spend", message: "Connection terminated unexpectedly" }))
        })
    },
    failNextSpend: () => {
      failNext = true
    }
  }
}
