/**
 * The public surface of `@jointly/participant`, what a bank, hospital or shop embeds next to its data: the
 * `Agent`, its dataset sources, the consent policy, the keystore and the typed errors they fail with.
 * Everything else is internal (`@jointly/participant/internal/*`, for the sibling packages only; README
 * "Published packages").
 */
export * as Agent from "./Agent.ts"
export type { AgentConfig, AgentEvent, ConsentDecision, ConsentPolicy as ConsentFunction, ConsentQuestion, HumanChannel, PinEvent, PinRetry, PinState, PinStatus } from "./Agent.ts"
export * as Sources from "./datasets/Sources.ts"
export { CsvSpec, DatasetSpec, DatasetSummary, ParquetSpec, PostgresSource, PostgresSpec } from "./datasets/Dataset.ts"
export * as ConsentPolicy from "./policy/ConsentPolicy.ts"
export * as KeyPolicy from "./policy/KeyPolicy.ts"
export * as Keystore from "./keystore/Keystore.ts"

// Typed errors (Schema tagged errors: match on `_tag`).
export { AdmissionRefused, ColumnSpec, ColumnType, DatasetError, DatasetErrorReason } from "@jointly/core"
export { PolicyError } from "./policy/ConsentPolicy.ts"
export { KeystoreError } from "./keystore/Keystore.ts"
export { WorkerError } from "./worker/Pool.ts"
export { PinFailed } from "./ipfs/Pinner.ts"
