/**
 * The bodies of the coordinator's HTTP API: what each route accepts and answers. Declared once here and used by
 * the server to decode and encode, by the OpenAPI document and by the typed client to decode responses.
 */
import { Schema } from "effect"
import { Status } from "../task/Lifecycle.ts"
import { Address, TaskSpec } from "../task/TaskSpec.ts"
import { HexBytes } from "../wire/Messages.ts"

// Patterns carry the `u` flag: Effect emits a JSON Schema `pattern` only for Unicode RegExps.
export const TaskId = Schema.String.check(Schema.isPattern(/^0x[0-9a-fA-F]{64}$/u)).annotate({ description: "keccak digest of the canonical task spec" })
export const ModelId = Schema.String.check(Schema.isPattern(/^0x[0-9a-f]{64}$/u)).annotate({ description: "sha256 of the model artifact's canonical JSON" })
export const DatasetId = Schema.String.check(Schema.isPattern(/^0x[0-9a-fA-F]{64}$/u))
export const Cid = Schema.String.check(Schema.isPattern(/^[a-z0-9]{20,120}$/u)).annotate({ description: "CIDv1 (base32)" })
export { Address }
const NullOr = <S extends Schema.Top>(s: S) => Schema.NullOr(s)
/** Governance rows come from the chain index (coordinator/src/governance/ChainIndex.ts): JSON objects. */
export const Rows = Schema.Array(Schema.Record(Schema.String, Schema.Unknown))

// ---------------------------------------------------------------- meta and sign-in

export const ChainInfo = Schema.Struct({
  chainId: Schema.String,
  coordinator: Schema.String,
  registry: Schema.String,
  ledger: Schema.String,
  suite: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  deployBlock: Schema.optionalKey(Schema.String),
  /** Blocks after which this coordinator counts a record final (its record's own included). */
  confirmations: Schema.optionalKey(Schema.Int),
  /**
   * At that depth, the probability that an attacker with hash-power share q ever rewrites a record
   * (core/src/ledger/CatchUp.ts; it bounds longest-chain proof of work only, not BFT finality).
   */
  catchUpRisk: Schema.optionalKey(Schema.Array(Schema.Struct({ q: Schema.Finite, probability: Schema.Finite })))
}).annotate({ identifier: "ChainInfo" })

export const Health = Schema.Struct({ ok: Schema.Boolean, chain: ChainInfo })
export const OpenApiDocument = Schema.Record(Schema.String, Schema.Unknown).annotate({ description: "This OpenAPI 3.1 document" })

/** A nonce for a participant's socket handshake (an EIP-712 Login, core/src/ledger/Eip712.ts). */
export const Nonce = Schema.Struct({ nonce: Schema.String, expiresAt: Schema.Number, coordinator: Schema.String, chainId: Schema.String, ledger: Schema.String })

export const ChallengeRequest = Schema.Struct({ address: Address })
/** The exact EIP-4361 (Sign-In with Ethereum) text to sign with `personal_sign` (EIP-191). */
export const Challenge = Schema.Struct({ message: Schema.String, nonce: Schema.String, expiresAt: Schema.String })
export const SignInRequest = Schema.Struct({ message: Schema.String.check(Schema.isMaxLength(4000)), signature: HexBytes })
/**
 * A dashboard user signing in as a participant's organisation: the challenge for the participant's address and
 * HMAC-SHA256 over it under the participant's dashboard token (the participant checks it and signs for itself).
 */
export const TokenSignInRequest = Schema.Struct({ message: Schema.String.check(Schema.isMaxLength(4000)), mac: HexBytes })

export const Roles = Schema.Struct({
  member: Schema.Boolean,
  supervisor: Schema.Boolean,
  operator: Schema.Boolean,
  /** The org's registry state (None when the account is bound to no org). */
  orgState: Schema.String,
  org: NullOr(Schema.String)
}).annotate({ identifier: "Roles" })

export const Session = Schema.Struct({
  token: Schema.String,
  address: Address,
  expiresAt: Schema.String,
  roles: Roles
}).annotate({ identifier: "Session" })

export const Me = Schema.Struct({ address: Address, expiresAt: Schema.String, roles: Roles })

// ---------------------------------------------------------------- tasks

export const SubmitTask = Schema.Struct({ spec: TaskSpec, signature: HexBytes })
export const Submitted = Schema.Struct({ taskId: Schema.String, status: Schema.optionalKey(Status) })
export const CancelTask = Schema.Struct({ reason: Schema.optional(Schema.NullOr(Schema.String.check(Schema.isMaxLength(1000)))) })
export const Cancelled = Schema.Struct({ taskId: Schema.String, status: Status })
export const ListQuery = {
  status: Schema.optional(Status),
  limit: Schema.optional(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 1000 })))
}

/** A task's metadata: everything but its result (served to its recipients alone by `GET /api/tasks/{id}/result`). */
export const TaskRow = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  spec: TaskSpec,
  initiator: Schema.String,
  status: Status,
  attempt: Schema.Number,
  resultDigest: NullOr(Schema.String),
  reason: NullOr(Schema.String),
  createdAt: Schema.String,
  updatedAt: Schema.String
}).annotate({ identifier: "TaskRow" })

/** A `Progress` event's data (core/src/protocols/Protocol.ts ProgressEvent). */
export const Progress = Schema.Struct({ stage: Schema.String, done: Schema.Number, total: Schema.Number, detail: Schema.optionalKey(Schema.String) })
export const TaskEvent = Schema.Struct({ id: Schema.Number, type: Schema.String, data: Schema.Unknown, at: Schema.String }).annotate({ identifier: "TaskEvent" })
export const Consent = Schema.Struct({ participant: Schema.String, approve: Schema.Boolean, reason: Schema.String, signature: Schema.String, at: Schema.String })
export const ChainRecord = Schema.Struct({
  eventId: Schema.String,
  op: Schema.String,
  status: Schema.Literals(["pending", "sent", "confirmed", "failed"]),
  txHash: NullOr(Schema.String),
  blockNumber: NullOr(Schema.Number),
  lastError: NullOr(Schema.String)
})
export const TaskDetail = Schema.Struct({
  ...TaskRow.fields,
  events: Schema.Array(TaskEvent),
  consents: Schema.Array(Consent),
  chain: Schema.Array(ChainRecord)
}).annotate({ identifier: "TaskDetail" })
export const TaskList = Schema.Struct({ tasks: Schema.Array(TaskRow) })
export const TaskResult = Schema.Struct({ taskId: Schema.String, result: Schema.Unknown, resultDigest: NullOr(Schema.String) })
export const Verification = Schema.Struct({
  taskId: Schema.String,
  ok: Schema.Boolean,
  pending: Schema.Number,
  resultDigest: NullOr(Schema.String),
  chainResultDigest: NullOr(Schema.String),
  checks: Schema.Array(Schema.Struct({ name: Schema.String, ok: Schema.Boolean, detail: Schema.String }))
})

/** What changed (never the data itself): the dashboard re-reads what it may see (`GET /api/events`). */
export const LiveEvent = Schema.Union([
  Schema.Struct({ type: Schema.Literal("status"), taskId: Schema.String, status: Schema.String }),
  Schema.Struct({ type: Schema.Literal("event"), taskId: Schema.String, event: Schema.String }),
  Schema.Struct({ type: Schema.Literal("chain"), taskId: NullOr(Schema.String), op: Schema.String }),
  Schema.Struct({ type: Schema.Literal("human"), taskId: Schema.String, participant: Schema.String, pending: Schema.Boolean }),
  Schema.Struct({ type: Schema.Literal("limits"), rejected: Schema.Number })
]).annotate({ identifier: "LiveEvent" })
export type LiveEvent = typeof LiveEvent.Type

// ---------------------------------------------------------------- governance, dashboard

export const Catalog = Schema.Struct({ datasets: Rows })
export const CatalogQuery = { q: Schema.optional(Schema.String.check(Schema.isMaxLength(200))), all: Schema.optional(Schema.Literals(["1"])) }
export const Grants = Schema.Struct({ grants: Rows, uses: Rows, predictions: Rows })
export const ModelRequests = Schema.Struct({ requests: Rows })
export const Supervision = Schema.Struct({
  members: Rows,
  tasks: Schema.Array(Schema.Struct({ id: Schema.String, kind: Schema.String, status: Status, initiator: Schema.String, participants: Schema.Array(Schema.String), reason: NullOr(Schema.String), createdAt: Schema.String })),
  grants: Rows,
  grantUses: Rows,
  modelRequests: Rows,
  rejections: Rows
})
export const Members = Schema.Struct({ members: Rows })
export const PendingConsents = Schema.Struct({ pending: Rows })
/** A human's decision as the dashboard posts it; `mac` is computed in the browser under the participant's token. */
export const PostedDecision = Schema.Struct({
  approve: Schema.Boolean,
  reason: Schema.String.check(Schema.isMaxLength(1000)),
  mac: HexBytes
})
export const Decided = Schema.Struct({ ok: Schema.Boolean })
/** Requests refused by the abuse limits since the coordinator started, by kind (the dashboard shows them). */
export const Rejections = Schema.Struct({ since: Schema.String, counts: Schema.Record(Schema.String, Schema.Number) })

// ---------------------------------------------------------------- models, artifacts

export const ModelSummary = Schema.Struct({ id: Schema.String, format: Schema.String, taskId: NullOr(Schema.String), createdAt: Schema.String })
export const ModelList = Schema.Struct({ models: Schema.Array(ModelSummary) })
export const ModelMeta = Schema.Struct({ ...ModelSummary.fields, featureColumns: Schema.Array(Schema.String), trainers: Schema.Array(Schema.String) })
export const ModelWeights = Schema.Struct({ ...ModelSummary.fields, artifact: Schema.Unknown })
/** Rows as arrays in the model's feature order, or objects keyed by feature column. */
export const PredictRequest = Schema.Struct({
  rows: Schema.Array(Schema.Union([Schema.Array(Schema.Finite), Schema.Record(Schema.String, Schema.Finite)])).check(Schema.isMaxLength(10_000))
})
export const Prediction = Schema.Struct({ modelId: Schema.String, predictions: Schema.Array(Schema.Unknown) })

/** An upload (e.g. an ECIES model-to-data payload): bytes as base64 and the CID codec to file them under. */
export const PutArtifact = Schema.Struct({
  codec: Schema.Literals(["raw", "json"]),
  base64: Schema.String.check(Schema.isMaxLength(700_000))
})
export const StoredArtifact = Schema.Struct({ cid: Schema.String })
export const Artifact = Schema.Struct({ cid: Schema.String, codec: Schema.Literals(["raw", "json"]), base64: Schema.String })
