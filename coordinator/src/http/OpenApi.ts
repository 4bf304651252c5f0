/**
 * The coordinator's HTTP API as a declarative table — method, path, path and query parameters, request body and
 * response Schemas — and the OpenAPI 3.1 document generated from it (`GET /api/openapi.json`). Request bodies
 * are the very Schemas `Api.ts` decodes with; `OpenApi.test.ts` checks that every route the server answers is
 * in the table and that the document accepts exactly the bodies the server accepts; the client test checks
 * real responses against the response Schemas.
 */
import { JsonSchema, Schema, SchemaRepresentation } from "effect"
import { Status } from "@jointly/core/task/Lifecycle.ts"
import { TaskSpec } from "@jointly/core/task/TaskSpec.ts"
import { CancelTask, PredictRequest, PutArtifact, SubmitTask } from "./Api.ts"
import { PostedDecision } from "../dashboard/Dashboard.ts"

// Patterns carry the `u` flag: Effect emits a JSON Schema `pattern` only for Unicode RegExps.
const Hex32 = Schema.String.check(Schema.isPattern(/^0x[0-9a-fA-F]{64}$/u))
const LowerHex32 = Schema.String.check(Schema.isPattern(/^0x[0-9a-f]{64}$/u))
const Cid = Schema.String.check(Schema.isPattern(/^[a-z0-9]{20,120}$/u))
const NullOr = <S extends Schema.Top>(s: S) => Schema.NullOr(s)
/** Governance rows come from the chain index (coordinator/src/governance/ChainIndex.ts): JSON objects. */
const Rows = Schema.Array(Schema.Record(Schema.String, Schema.Unknown))

export const ErrorBody = Schema.Struct({
  error: Schema.Struct({ code: Schema.String, message: Schema.String })
}).annotate({ identifier: "Error", description: "Every failure: a code a program can branch on and a message for a human." })

export const ChainInfo = Schema.Struct({
  chainId: Schema.String,
  coordinator: Schema.String,
  registry: Schema.String,
  ledger: Schema.String,
  suite: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  deployBlock: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "ChainInfo" })

export const Health = Schema.Struct({ ok: Schema.Boolean, chain: ChainInfo })
export const Nonce = Schema.Struct({ nonce: Schema.String, expiresAt: Schema.Number, coordinator: Schema.String, chainId: Schema.String, ledger: Schema.String })
export const Submitted = Schema.Struct({ taskId: Schema.String, status: Schema.optionalKey(Status) })

export const TaskRow = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  spec: TaskSpec,
  initiator: Schema.String,
  status: Status,
  attempt: Schema.Number,
  result: Schema.Unknown,
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
export const Cancelled = Schema.Struct({ taskId: Schema.String, status: Status })
export const ModelSummary = Schema.Struct({ id: Schema.String, format: Schema.String, taskId: NullOr(Schema.String), createdAt: Schema.String })
export const Prediction = Schema.Struct({ modelId: Schema.String, predictions: Schema.Array(Schema.Unknown) })
export const Artifact = Schema.Struct({ cid: Schema.String, codec: Schema.Literals(["raw", "json"]), base64: Schema.String })

export interface Parameter {
  readonly schema: Schema.Top
  /** A value the server answers (the test requests it); shown in the document. */
  readonly example: string
  readonly description?: string
}

export interface Endpoint {
  readonly method: "GET" | "POST"
  /** OpenAPI path template, `{name}` for a path parameter. */
  readonly path: string
  readonly summary: string
  readonly tag: "tasks" | "auth" | "governance" | "models" | "artifacts" | "meta"
  readonly params?: Record<string, Parameter>
  readonly query?: Record<string, Parameter>
  readonly body?: Schema.Top
  readonly status: number
  readonly response: Schema.Top
}

const taskId = { schema: Hex32, example: `0x${"ab".repeat(32)}`, description: "keccak digest of the canonical task spec" }
const modelId = { schema: LowerHex32, example: `0x${"cd".repeat(32)}` }

/** Every route of `Api.ts`, by the name the client calls it. */
export const endpoints = {
  health: { method: "GET", path: "/api/health", tag: "meta", summary: "Liveness and the chain deployment this coordinator notarizes on", status: 200, response: Health },
  openapi: { method: "GET", path: "/api/openapi.json", tag: "meta", summary: "This document", status: 200, response: Schema.Record(Schema.String, Schema.Unknown) },
  nonce: { method: "GET", path: "/api/auth/nonce", tag: "auth", summary: "A fresh nonce for a participant's signed handshake", status: 200, response: Nonce },
  submitTask: {
    method: "POST", path: "/api/tasks", tag: "tasks", status: 201,
    summary: "Submit a task spec signed (EIP-191 over the task id) by its initiator",
    body: SubmitTask, response: Submitted
  },
  listTasks: {
    method: "GET", path: "/api/tasks", tag: "tasks", status: 200, summary: "Tasks, newest first",
    query: { status: { schema: Status, example: "Succeeded" }, limit: { schema: Schema.String.check(Schema.isPattern(/^[0-9]+$/u)), example: "10" } },
    response: TaskList
  },
  getTask: { method: "GET", path: "/api/tasks/{id}", tag: "tasks", params: { id: taskId }, summary: "A task with its events (progress included), consents and chain records", status: 200, response: TaskDetail },
  cancelTask: { method: "POST", path: "/api/tasks/{id}/cancel", tag: "tasks", params: { id: taskId }, body: CancelTask, summary: "Cancel a task that has not ended", status: 200, response: Cancelled },
  catalog: {
    method: "GET", path: "/api/catalog", tag: "governance", status: 200, summary: "Keyword search over the dataset catalogue rebuilt from chain events",
    query: { q: { schema: Schema.String, example: "diabetes" }, all: { schema: Schema.Literals(["1"]), example: "1", description: "include retired datasets" } },
    response: Schema.Struct({ datasets: Rows })
  },
  catalogEntry: {
    method: "GET", path: "/api/catalog/{datasetId}", tag: "governance", params: { datasetId: { schema: Hex32, example: `0x${"ef".repeat(32)}` } },
    summary: "One catalogue entry", status: 200, response: Schema.Record(Schema.String, Schema.Unknown)
  },
  grants: { method: "GET", path: "/api/grants", tag: "governance", summary: "Access grants and their uses", status: 200, response: Schema.Struct({ grants: Rows, uses: Rows }) },
  modelRequests: {
    method: "GET", path: "/api/model-requests", tag: "governance", status: 200, summary: "Model-to-data requests",
    query: { to: { schema: Schema.String, example: `0x${"12".repeat(20)}` } }, response: Schema.Struct({ requests: Rows })
  },
  supervision: {
    method: "GET", path: "/api/supervision", tag: "governance", status: 200, summary: "The supervisor's view: members, tasks, grants, model requests",
    response: Schema.Struct({
      members: Rows,
      tasks: Schema.Array(Schema.Struct({ id: Schema.String, kind: Schema.String, status: Status, initiator: Schema.String, participants: Schema.Array(Schema.String), reason: NullOr(Schema.String), createdAt: Schema.String })),
      grants: Rows,
      grantUses: Rows,
      modelRequests: Rows
    })
  },
  putArtifact: { method: "POST", path: "/api/artifacts", tag: "artifacts", body: PutArtifact, summary: "Store bytes under their CID", status: 201, response: Schema.Struct({ cid: Schema.String }) },
  getArtifact: { method: "GET", path: "/api/artifacts/{cid}", tag: "artifacts", params: { cid: { schema: Cid, example: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy" } }, summary: "Bytes stored under a CID", status: 200, response: Artifact },
  models: { method: "GET", path: "/api/models", tag: "models", summary: "Trained models in the model store", status: 200, response: Schema.Struct({ models: Schema.Array(ModelSummary) }) },
  model: { method: "GET", path: "/api/models/{modelId}", tag: "models", params: { modelId }, summary: "One model with its artifact", status: 200, response: Schema.Record(Schema.String, Schema.Unknown) },
  // The dashboard's routes (dashboard/Dashboard.ts), served through the same table of Api.ts.
  members: { method: "GET", path: "/api/members", tag: "governance", summary: "Members with their state on chain", status: 200, response: Schema.Struct({ members: Rows }) },
  verifyTask: {
    method: "GET", path: "/api/tasks/{id}/verify", tag: "tasks", params: { id: taskId }, status: 200,
    summary: "The task's store record checked against its chain trail", response: Schema.Record(Schema.String, Schema.Unknown)
  },
  pendingConsents: { method: "GET", path: "/api/consents/pending", tag: "governance", summary: "Consents that wait for a human", status: 200, response: Schema.Struct({ pending: Rows }) },
  decideConsent: {
    method: "POST", path: "/api/consents/{id}/{participant}", tag: "governance", status: 200,
    params: { id: taskId, participant: { schema: Schema.String.check(Schema.isPattern(/^0x[0-9a-fA-F]{40}$/u)), example: `0x${"12".repeat(20)}` } },
    summary: "Relay a human's consent decision, authenticated by the participant's dashboard token", body: PostedDecision, response: Schema.Struct({ ok: Schema.Boolean })
  },
  predict: { method: "POST", path: "/api/models/{modelId}/predict", tag: "models", params: { modelId }, body: PredictRequest, summary: "Predict rows with a stored model", status: 200, response: Prediction }
} as const satisfies Record<string, Endpoint>

export type Endpoints = typeof endpoints
export type EndpointName = keyof Endpoints
export type ResponseOf<N extends EndpointName> = Schema.Schema.Type<Endpoints[N]["response"]>

/** The OpenAPI operation that answers `method` on a concrete path (the `{name}`s matched by their Schemas). */
export const operationFor = (method: string, path: string): { readonly name: EndpointName; readonly params: Record<string, string> } | undefined => {
  for (const [name, endpoint] of Object.entries(endpoints) as Array<[EndpointName, Endpoint]>) {
    if (endpoint.method !== method) continue
    const names: Array<string> = []
    const pattern = new RegExp("^" + endpoint.path.replace(/[.]/g, "\\.").replace(/\{(\w+)\}/g, (_m, n: string) => (names.push(n), "([^/]+)")) + "$")
    const match = path.match(pattern)
    if (!match) continue
    const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]))
    if (names.every((n) => Schema.is(endpoint.params![n]!.schema as Schema.Codec<unknown, unknown>)(params[n]))) return { name, params }
  }
  return undefined
}

let cached: Record<string, unknown> | undefined

/** The OpenAPI 3.1 document; one JSON Schema pass over every Schema so shared identifiers become components. */
export const document = (info: { readonly version?: string } = {}): Record<string, unknown> => {
  if (cached) return cached
  const list = Object.values(endpoints) as ReadonlyArray<Endpoint>
  const schemas: Array<Schema.Top> = [ErrorBody]
  const slot = (s: Schema.Top) => schemas.push(s) - 1
  const slots = list.map((e) => ({
    body: e.body ? slot(e.body) : undefined,
    response: slot(e.response),
    params: Object.entries(e.params ?? {}).map(([name, p]) => [name, p, slot(p.schema)] as const),
    query: Object.entries(e.query ?? {}).map(([name, p]) => [name, p, slot(p.schema)] as const)
  }))
  const multi = JsonSchema.toMultiDocumentOpenApi3_1(
    SchemaRepresentation.toJsonSchemaMultiDocument(SchemaRepresentation.toRepresentations(schemas.map((s) => s.ast) as [never, ...Array<never>]))
  )
  const json = (i: number) => multi.schemas[i]!
  const paths: Record<string, Record<string, unknown>> = {}
  list.forEach((e, i) => {
    const s = slots[i]!
    const parameters = [
      ...s.params.map(([name, p, k]) => ({ name, in: "path", required: true, schema: json(k), example: p.example, ...(p.description ? { description: p.description } : {}) })),
      ...s.query.map(([name, p, k]) => ({ name, in: "query", required: false, schema: json(k), example: p.example, ...(p.description ? { description: p.description } : {}) }))
    ]
    const operationId = Object.keys(endpoints)[i]!
    ;(paths[e.path] ??= {})[e.method.toLowerCase()] = {
      operationId,
      summary: e.summary,
      tags: [e.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(s.body === undefined ? {} : { requestBody: { required: true, content: { "application/json": { schema: json(s.body) } } } }),
      responses: {
        [String(e.status)]: { description: "OK", content: { "application/json": { schema: json(s.response) } } },
        default: { description: "Error", content: { "application/json": { schema: json(0) } } }
      }
    }
  })
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Jointly coordinator",
      version: info.version ?? "0.1.0",
      description: "Schedules multi-party tasks whose lifecycle is notarized on chain. Generated from the Effect Schemas the server decodes with."
    },
    paths,
    components: { schemas: multi.definitions }
  }
  return cached
}
