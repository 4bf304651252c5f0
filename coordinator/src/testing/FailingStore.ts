/**
 * Tests only: the real task store with some of its operations failing as they do when its database does not answer
 * (StoreFailed naming the operation, the statement not run), every other operation passing through to it. What a
 * test injects here is what the real store reports after its own retries (TaskStore.ts `reconnecting`).
 */
import { Effect } from "effect"
import { StoreFailed, type TaskStoreShape } from "../store/TaskStore.ts"

export type Operation = { readonly [K in keyof TaskStoreShape]: TaskStoreShape[K] extends (...args: never) => unknown ? K : never }[keyof TaskStoreShape]

export const failing = (store: TaskStoreShape, operations: ReadonlyArray<Operation>, detail = "connection terminated unexpectedly"): TaskStoreShape => ({
  ...store,
  ...Object.fromEntries(operations.map((operation) => [operation, () => Effect.fail(new StoreFailed({ operation, detail, unavailable: true }))]))
})
