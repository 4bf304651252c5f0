/**
 * The public surface of `@jointly/coordinator`: starting the coordinator service (`start`, or `scoped` under an
 * Effect Scope) and its typed HTTP client (also alone as `@jointly/coordinator/client`, which loads none of the
 * server). Everything else is internal (`@jointly/coordinator/internal/*`; README "Published packages").
 */
export { type Config, type Coordinator, scoped, start } from "./Coordinator.ts"
export * as Client from "./client/Client.ts"
