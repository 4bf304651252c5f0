/**
 * Tests only: an Effect service's operations as Promise functions, so a test that drives the task store step by
 * step reads as a list of awaits. A failure rejects with the tagged error itself (`LeaseLost`, `StaleTransition`,
 * `StoreFailed`), which the test can match by class.
 */
import { Effect } from "effect"

export type Promised<S> = {
  readonly [K in keyof S]: S[K] extends (...args: infer P) => Effect.Effect<infer A, infer _E, never> ? (...args: P) => Promise<A> : S[K]
}

export const promised = <S extends object>(service: S): Promised<S> =>
  Object.fromEntries(
    Object.entries(service).map(([name, value]) => [
      name,
      typeof value === "function"
        ? (...args: ReadonlyArray<unknown>) => {
          const result = value(...args)
          return Effect.isEffect(result) ? Effect.runPromise(result as Effect.Effect<unknown, unknown>) : result
        }
        : value
    ])
  ) as Promised<S>
