/**
 * The public surface of `@jointly/core`: what a task is (its spec, lifecycle and the HTTP API's Schemas and
 * typed errors) and what each kind of task asks and answers (its params and result Schemas). Everything else in
 * this package is internal (`@jointly/core/internal/*`, for the sibling packages only; README "Published
 * packages").
 */
export * as TaskSpec from "./task/TaskSpec.ts"
export * as Lifecycle from "./task/Lifecycle.ts"
export * as Schemas from "./api/Schemas.ts"
export * as ApiErrors from "./api/Errors.ts"
export { ColumnSpec, ColumnType } from "./data/Tabular.ts"
export { DatasetError, DatasetErrorReason } from "./data/DatasetError.ts"
export { AdmissionCode, AdmissionRefused } from "./wire/Admission.ts"

// Each task kind: its `kind`, params and result Schemas.
export * as JointStatistics from "./protocols/joint-statistics/spec.ts"
export * as Psi from "./protocols/joint-query/psi/spec.ts"
export * as OtPsi from "./protocols/joint-query/ot-psi/spec.ts"
export * as HiddenQuery from "./protocols/joint-query/hidden/spec.ts"
export * as FederatedLearning from "./protocols/federated-learning/spec.ts"
export * as Vertical from "./protocols/vertical/spec.ts"
export * as SecureBoost from "./protocols/secureboost/spec.ts"
export * as SecureSvm from "./protocols/secure-svm/spec.ts"
export * as EncryptedLinear from "./protocols/encrypted-linear/spec.ts"
export * as BatchPrediction from "./protocols/batch-prediction/spec.ts"
