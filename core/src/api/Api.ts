/**
 * The coordinator's HTTP API, declared once with Effect's `http-api`: routes, request and response Schemas,
 * errors, security and who may call what. The coordinator serves it (coordinator/src/http/Server.ts), the OpenAPI
 * document at `GET /api/openapi.json` is generated from it, the typed client is derived from it (Client.ts here,
 * coordinator/src/client/Client.ts for embedders), and the authorisation matrix test walks it.
 *
 * Layers around every endpoint, outermost first: `Limits` (per-address rate limit), `Validation` (a request that
 * does not decode becomes a `Malformed` naming the field), then `Guard` on every endpoint that is not public (the
 * bearer token from sign-in, the account's roles on chain, and the endpoint's `Access` rule, all before the
 * request body is even read).
 */
import { Context, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "effect/http-api"
import * as Access from "./Access.ts"
import * as E from "./Errors.ts"
import * as S from "./Schemas.ts"

/** The signed-in account of a request, with its roles, as the guard resolved them. */
export interface CallerShape {
  readonly address: string
  readonly expiresAt: string
  readonly roles: typeof S.Roles.Type
}
export class Caller extends Context.Service<Caller, CallerShape>()("jointly/api/Caller") {}

/** Bearer token (from `POST /api/auth/sign-in`) → Caller, then the endpoint's Access rule. */
export class Guard extends HttpApiMiddleware.Service<Guard, { provides: Caller }>()("jointly/api/Guard", {
  security: { bearer: HttpApiSecurity.bearer },
  // Unavailable: the chain did not answer the caller's roles (a new account, or one not seen lately).
  error: [E.Unauthenticated, E.Forbidden, E.RateLimited, E.Unavailable]
}) {}

/** Requests per client address (and the body cap the transport enforces, documented here). */
export class Limits extends HttpApiMiddleware.Service<Limits>()("jointly/api/Limits", {
  error: [E.RateLimited, E.PayloadTooLarge]
}) {}

/** A request whose parameters, query or body do not decode is answered `Malformed`, naming the problem. */
export class Validation extends HttpApiMiddleware.Service<Validation>()("jointly/api/Validation", {
  error: E.Malformed
}) {}

const describe = (rule: Access.Rule, summary: string) =>
  OpenApi.annotations({ summary, description: `${summary}. Access: ${Access.describe(rule)}.`, override: { "x-jointly-access": rule._tag } })

interface Annotatable {
  readonly annotate: (key: typeof Access.Access, rule: Access.Rule) => { readonly annotateMerge: (context: Context.Context<never>) => unknown }
}

/** The endpoint with its access rule (annotating keeps the endpoint's type). */
const ruled = <Ep extends Annotatable>(endpoint: Ep, rule: Access.Rule, summary: string): Ep =>
  endpoint.annotate(Access.Access, rule).annotateMerge(describe(rule, summary)) as Ep

/** An endpoint anyone may call. */
const open = <Ep extends Annotatable>(endpoint: Ep, summary: string): Ep => ruled(endpoint, Access.Public, summary)

/** An endpoint behind the guard (`.middleware(Guard)` already applied), with the rule the guard enforces. */
const guarded = <Ep extends Annotatable>(endpoint: Ep, rule: Access.Rule, summary: string): Ep => ruled(endpoint, rule, summary)

export class Meta extends HttpApiGroup.make("meta").add(
  open(HttpApiEndpoint.get("health", "/api/health", { success: S.Health }), "Liveness and the chain deployment this coordinator notarizes on"),
  open(HttpApiEndpoint.get("openapi", "/api/openapi.json", { success: S.OpenApiDocument }), "This document")
) {}

export class Auth extends HttpApiGroup.make("auth").add(
  open(HttpApiEndpoint.get("nonce", "/api/auth/nonce", { success: S.Nonce }), "A fresh nonce for a participant's signed socket handshake (EIP-712 Login)"),
  open(
    HttpApiEndpoint.post("challenge", "/api/auth/challenge", { payload: S.ChallengeRequest, success: S.Challenge }),
    "The Sign-In with Ethereum (EIP-4361) message for an address, with a fresh single-use nonce"
  ),
  open(
    HttpApiEndpoint.post("signIn", "/api/auth/sign-in", { payload: S.SignInRequest, success: S.Session, error: [E.SignInRefused, E.Unavailable, E.NonceUnsettled] }),
    "Exchange a signed EIP-4361 message for a short-lived bearer token bound to its address (503 Unavailable when the chain or the signer's DID cannot be read: the nonce is not spent, retry with the same message; 503 NonceUnsettled when the nonce store failed while spending it: ask for a new challenge)"
  ),
  open(
    HttpApiEndpoint.post("tokenSignIn", "/api/auth/token-sign-in", { payload: S.TokenSignInRequest, success: S.Session, error: [E.SignInRefused, E.Unavailable, E.NonceUnsettled] }),
    "Sign in as a participant's organisation with its dashboard token: the challenge for the participant's address, MACed under the token; the connected participant checks the MAC and signs the message itself"
  ),
  guarded(HttpApiEndpoint.get("me", "/api/auth/me", { success: S.Me }).middleware(Guard), Access.SignedIn, "The signed-in account and its roles, read from the chain")
) {}

const task = { id: S.TaskId }
const model = { modelId: S.ModelId }

export class Tasks extends HttpApiGroup.make("tasks").add(
  guarded(
    HttpApiEndpoint.post("submit", "/api/tasks", {
      payload: S.SubmitTask,
      success: S.Submitted.pipe(HttpApiSchema.status(201)),
      error: [E.InvalidTask, E.DuplicateTask, E.TooManyTasks, E.Unavailable]
    }).middleware(Guard),
    Access.Member,
    "Submit a task spec signed (EIP-191 over the task id) by its initiator, who must be the signed-in account"
  ),
  guarded(HttpApiEndpoint.get("list", "/api/tasks", { query: S.ListQuery, success: S.TaskList, error: E.Unavailable }).middleware(Guard), Access.Known, "Tasks the caller may see, newest first (the supervisor sees all)"),
  guarded(
    HttpApiEndpoint.get("get", "/api/tasks/:id", { params: task, success: S.TaskDetail, error: [E.UnknownTask, E.Unavailable] }).middleware(Guard),
    Access.TaskViewer("id"),
    "A task's metadata with its events (progress included), consents and chain records — never its result"
  ),
  guarded(
    HttpApiEndpoint.get("result", "/api/tasks/:id/result", { params: task, success: S.TaskResult, error: [E.UnknownTask, E.Unavailable] }).middleware(Guard),
    Access.ResultRecipient("id"),
    "A task's result"
  ),
  guarded(
    HttpApiEndpoint.post("cancel", "/api/tasks/:id/cancel", { params: task, payload: S.CancelTask, success: S.Cancelled, error: [E.UnknownTask, E.Unavailable] }).middleware(Guard),
    Access.TaskCanceller("id"),
    "Cancel a task that has not ended"
  ),
  guarded(
    HttpApiEndpoint.get("verify", "/api/tasks/:id/verify", { params: task, success: S.Verification, error: [E.UnknownTask, E.Unavailable] }).middleware(Guard),
    Access.TaskViewer("id"),
    "The task's store record checked against its chain trail"
  ),
  guarded(
    HttpApiEndpoint.get("events", "/api/events", { success: HttpApiSchema.StreamSse({ data: S.LiveEvent }) }).middleware(Guard),
    Access.Known,
    "Server-Sent Events: what changed in the tasks the caller may see"
  )
) {}

export class Governance extends HttpApiGroup.make("governance").add(
  guarded(HttpApiEndpoint.get("catalog", "/api/catalog", { query: S.CatalogQuery, success: S.Catalog, error: E.Unavailable }).middleware(Guard), Access.Member, "Keyword search over the dataset catalogue rebuilt from chain events"),
  guarded(
    HttpApiEndpoint.get("catalogEntry", "/api/catalog/:datasetId", { params: { datasetId: S.DatasetId }, success: Schema.Record(Schema.String, Schema.Unknown), error: [E.UnknownDataset, E.Unavailable] }).middleware(Guard),
    Access.Member,
    "One catalogue entry"
  ),
  guarded(HttpApiEndpoint.get("grants", "/api/grants", { success: S.Grants, error: E.Unavailable }).middleware(Guard), Access.Member, "Access grants the caller requested or owns (all for the supervisor), their uses on chain and the predictions counted here"),
  guarded(
    HttpApiEndpoint.get("modelRequests", "/api/model-requests", { query: { to: Schema.optional(S.Address) }, success: S.ModelRequests, error: E.Unavailable }).middleware(Guard),
    Access.Member,
    "Model-to-data requests the caller sent or received (all for the supervisor)"
  ),
  guarded(HttpApiEndpoint.get("supervision", "/api/supervision", { success: S.Supervision, error: E.Unavailable }).middleware(Guard), Access.Supervisor, "The supervisor's view: members, tasks, grants, model requests, refused requests"),
  guarded(HttpApiEndpoint.get("members", "/api/members", { success: S.Members, error: E.Unavailable }).middleware(Guard), Access.Member, "Members with their state on chain"),
  guarded(HttpApiEndpoint.get("rejections", "/api/limits", { success: S.Rejections }).middleware(Guard), Access.Member, "Requests refused by the abuse limits, by kind"),
  guarded(HttpApiEndpoint.get("pendingConsents", "/api/consents/pending", { success: S.PendingConsents, error: E.Unavailable }).middleware(Guard), Access.Member, "Consents that wait for a human, on the tasks the caller may see"),
  guarded(
    HttpApiEndpoint.post("decideConsent", "/api/consents/:id/:participant", {
      params: { id: S.TaskId, participant: S.Address },
      payload: S.PostedDecision,
      success: S.Decided,
      error: [E.UnknownTask, E.NotPending, E.ParticipantUnreachable, E.DecisionRefused]
    }).middleware(Guard),
    Access.TaskViewer("id"),
    "Relay a human's consent decision, authenticated by the participant's dashboard token (the participant checks it)"
  )
) {}

export class Models extends HttpApiGroup.make("models").add(
  guarded(HttpApiEndpoint.get("list", "/api/models", { success: S.ModelList, error: E.Unavailable }).middleware(Guard), Access.Known, "Models of the tasks the caller may see"),
  guarded(HttpApiEndpoint.get("get", "/api/models/:modelId", { params: model, success: S.ModelMeta, error: [E.UnknownModel, E.Tampered, E.Unavailable] }).middleware(Guard), Access.ModelViewer("modelId"), "A model's metadata"),
  guarded(
    HttpApiEndpoint.get("weights", "/api/models/:modelId/weights", { params: model, success: S.ModelWeights, error: [E.UnknownModel, E.Unavailable] }).middleware(Guard),
    Access.ModelTrainer("modelId"),
    "A model with its weights"
  ),
  guarded(
    HttpApiEndpoint.post("predict", "/api/models/:modelId/predict", { params: model, payload: S.PredictRequest, success: S.Prediction, error: [E.UnknownModel, E.InvalidRows, E.Tampered, E.Unavailable] }).middleware(Guard),
    Access.ModelPredictor("modelId"),
    "Predict rows with a stored model (503 Unavailable when the grant it is served under cannot be read or its use recorded: nothing was counted, try again)"
  )
) {}

export class Artifacts extends HttpApiGroup.make("artifacts").add(
  guarded(
    HttpApiEndpoint.post("put", "/api/artifacts", { payload: S.PutArtifact, success: S.StoredArtifact.pipe(HttpApiSchema.status(201)), error: [E.QuotaExceeded, E.Unavailable] }).middleware(Guard),
    Access.Member,
    "Store bytes under their CID, within the member's quota"
  ),
  guarded(
    HttpApiEndpoint.get("get", "/api/artifacts/:cid", { params: { cid: S.Cid }, success: S.Artifact, error: [E.UnknownArtifact, E.Tampered, E.Unavailable] }).middleware(Guard),
    Access.ArtifactReader("cid"),
    "Bytes stored under a CID, re-hashed on read"
  )
) {}

export class Api extends HttpApi.make("jointly")
  .add(Meta, Auth, Tasks, Governance, Models, Artifacts)
  // Added last, so they wrap every endpoint's own middleware (Guard): Limits outermost.
  .middleware(Validation)
  .middleware(Limits)
  .annotateMerge(OpenApi.annotations({
    title: "Jointly coordinator",
    version: "0.2.0",
    description:
      "Schedules multi-party tasks whose lifecycle is notarized on chain. Members sign in with their chain account (EIP-4361) and call with the bearer token; every operation says who may call it (x-jointly-access). Generated from the declaration the server and the typed client share."
  }))
{}

/** Every endpoint with its group and access rule, in declaration order (the matrix test and the dashboard's route table). */
export const routes = (): ReadonlyArray<{ readonly group: string; readonly name: string; readonly method: string; readonly path: string; readonly rule: Access.Rule | undefined; readonly guarded: boolean }> => {
  const out: Array<{ group: string; name: string; method: string; path: string; rule: Access.Rule | undefined; guarded: boolean }> = []
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ group, endpoint }) => {
      out.push({
        group: group.identifier,
        name: endpoint.identifier,
        method: endpoint.method,
        path: endpoint.path,
        rule: Context.getOption(endpoint.annotations, Access.Access).pipe((o) => (o._tag === "Some" ? o.value : undefined)),
        guarded: endpoint.middlewares.has(Guard as never)
      })
    }
  })
  return out
}
