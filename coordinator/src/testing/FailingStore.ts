/**
 * Tests only: the real task store with some of its operations failing as they do when its database does not answer
 * (StoreFailed naming the operation, the statement not run), every other operation passing through to it. What a
 * test injects here is what the real store reports after its own retries (TaskStore.ts `reconnecting`).
 */
import { Effect } from "effect"
import { StoreFailed, type TaskStoreShape } from "../store/TaskStore.ts"

export type Operation = { readonly [K in keyof TaskStoreShape]: TaskStoreShape[K] extends (...args: never) => unknown ? K : never }[keyof TaskStoreShape]

const failure = (operation: Operation, detail: string) => Effect.fail(new StoreFailed({ operation, detail, unavailable: true }))

export const failing = (store: TaskStoreShape, operations: ReadonlyArray<Operation>, detail = "connection terminated unexpectedly"): TaskStoreShape => ({
  ...store,
  ...Object.fromEntries(operations.map((operation) => [operation, () => failure(operation, detail)]))
})

/**
 * The store going away for a moment: `failNext(operation, times)` fails that operation's next `times` calls, after
 * which it passes through again (as it did before) — a write that failed once, whose retry must land.
 */
export const blipping = (store: TaskStoreShape, detail = "connection terminated unexpectedly") => {
  const left = new Map<Operation, number>()
  const wrapped = Object.fromEntries(
    Object.entries(store).map(([name, value]) => [
      name,
      typeof value !== "function" ? value : (...args: Array<unknown>) => {
        const operation = name as Operation
        const times = left.get(operation) ?? 0
        if (times === 0) return (value as (...args: Array<unknown>) => unknown)(...args)
        left.set(operation, times - 1)
        return failure(operation, detail)
      }
    ])
  ) as unknown as TaskStoreShape
  return {
    store: wrapped,
    failNext: (operation: Operation, times = 1) => void left.set(operation, (left.get(operation) ?? 0) + times)
  }
}
