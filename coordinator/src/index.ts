/**
 * The public surface of `@jointly/coordinator`: starting the coordinator service (`start`, or `scoped` under an
 * Effect Scope) and its typed HTTP client (also alone as `@jointly/coordinator/client`, which loads none of the
 * server). Everything else is internal (`@jointly/coordinator/internal/*`; README "Published packages").
 */
import type { Effect, Scope } from "effect"
import * as Internal from "./Coordinator.ts"
import type { Config, Coordinator, CoordinatorStartFailed } from "./Coordinator.ts"

export type { Config, Coordinator }

/**
 * Starts a coordinator: opens its store, listens (HTTP API, dashboard and participants' sockets on one port),
 * resumes every unfinished task it finds in the store and starts notarizing. Resolves once it listens.
 */
export const start: (config: Config) => Promise<Coordinator> = Internal.start

/** The coordinator did not start (`start` rejected): `detail` says why. */
export { CoordinatorStartFailed } from "./Coordinator.ts"

/** `start` as a scoped Effect resource: the coordinator is closed when the scope closes; a start that fails is CoordinatorStartFailed. */
export const scoped: (config: Config) => Effect.Effect<Coordinator, CoordinatorStartFailed, Scope.Scope> = Internal.scoped
export * as Client from "./client/Client.ts"
