/**
 * Every refusal the coordinator's HTTP API can answer, as Schema tagged errors with their HTTP status. The
 * endpoints declare the ones they may answer (core/src/api/Api.ts), so the server encodes them, the OpenAPI
 * document lists them per operation and the typed client decodes them back into these classes: a program
 * branches on `_tag`, a human reads `message`.
 */
import { Schema } from "effect"

/** No bearer token, or one that is malformed, forged, or expired: sign in again. */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  message: Schema.String
}, { httpApiStatus: 401, description: "No valid bearer token: sign in (POST /api/auth/sign-in) and retry." }) {}

/** Why a signed-in caller is refused; stable codes a client can branch on. */
export const ForbiddenReason = Schema.Literals([
  "NotAMember",
  "OrgNotAudited",
  "OrgSuspended",
  "OrgRevoked",
  "NotSupervisor",
  "NotAParty",
  "NotARecipient",
  "NotATrainer",
  "NoGrant",
  "NotInitiator",
  "NotAllowed"
])
export type ForbiddenReason = typeof ForbiddenReason.Type

/** Signed in, but this account may not do this (its role, its org's state on chain, or the task's spec says no). */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  reason: ForbiddenReason,
  message: Schema.String
}, { httpApiStatus: 403 }) {}

/** A request whose parameters or body do not decode; `message` names the field and the problem. */
export class Malformed extends Schema.TaggedError<Malformed>()("Malformed", {
  message: Schema.String
}, { httpApiStatus: 400 }) {}

/** Too many requests from one address or one account; retry after `retryAfterSeconds` (also the Retry-After header). */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  scope: Schema.Literals(["ip", "account"]),
  retryAfterSeconds: Schema.Int,
  message: Schema.String
}, { httpApiStatus: 429 }) {}

/** A request body larger than the coordinator accepts. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  limitBytes: Schema.Int,
  message: Schema.String
}, { httpApiStatus: 413 }) {}

/** No route of the API matches the request's method and path (or a path parameter is longer than any id). */
export class UnknownRoute extends Schema.TaggedError<UnknownRoute>()("UnknownRoute", {
  method: Schema.String,
  path: Schema.String,
  message: Schema.String
}, { httpApiStatus: 404 }) {}

/** A request body in a media type the route does not take (every route with a body takes JSON). */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  contentType: Schema.String,
  message: Schema.String
}, { httpApiStatus: 415 }) {}

/** The initiator already has `limit` tasks that have not ended. */
export class TooManyTasks extends Schema.TaggedError<TooManyTasks>()("TooManyTasks", {
  limit: Schema.Int,
  open: Schema.Int,
  message: Schema.String
}, { httpApiStatus: 429 }) {}

/** A member's artifacts would exceed its storage quota. */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()("QuotaExceeded", {
  usedBytes: Schema.Int,
  quotaBytes: Schema.Int,
  message: Schema.String
}, { httpApiStatus: 413 }) {}

export class UnknownTask extends Schema.TaggedError<UnknownTask>()("UnknownTask", { message: Schema.String }, { httpApiStatus: 404 }) {}
export class UnknownModel extends Schema.TaggedError<UnknownModel>()("UnknownModel", { message: Schema.String }, { httpApiStatus: 404 }) {}
export class UnknownArtifact extends Schema.TaggedError<UnknownArtifact>()("UnknownArtifact", { message: Schema.String }, { httpApiStatus: 404 }) {}
export class UnknownDataset extends Schema.TaggedError<UnknownDataset>()("UnknownDataset", { message: Schema.String }, { httpApiStatus: 404 }) {}

/** A submission refused before it became a task: the spec, its kind or its params. */
export class InvalidTask extends Schema.TaggedError<InvalidTask>()("InvalidTask", {
  reason: Schema.Literals(["InvalidSpec", "UnknownKind", "InvalidParams", "BadSignature", "PartyNotAudited"]),
  message: Schema.String
}, { httpApiStatus: 400 }) {}

export class DuplicateTask extends Schema.TaggedError<DuplicateTask>()("DuplicateTask", { message: Schema.String }, { httpApiStatus: 409 }) {}

/** Rows a model cannot predict (wrong width, a non-finite value). */
export class InvalidRows extends Schema.TaggedError<InvalidRows>()("InvalidRows", { message: Schema.String }, { httpApiStatus: 400 }) {}

/** A stored artifact or model whose bytes no longer hash to their id, or that this coordinator cannot run. */
export class Tampered extends Schema.TaggedError<Tampered>()("Tampered", { message: Schema.String }, { httpApiStatus: 500 }) {}

/** This coordinator lacks what the route needs (e.g. a deployment without governance contracts). */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", { message: Schema.String }, { httpApiStatus: 503 }) {}

/**
 * A sign-in whose nonce store failed while spending the nonce: the spend may have been recorded, so the same signed
 * message could be refused as a replay. Nothing was issued; ask for a new challenge and sign that.
 */
export class NonceUnsettled extends Schema.TaggedError<NonceUnsettled>()("NonceUnsettled", { message: Schema.String }, { httpApiStatus: 503 }) {}

/** Relaying a human consent decision: nothing waits, the participant is away, or it refused the decision's MAC. */
export class NotPending extends Schema.TaggedError<NotPending>()("NotPending", { message: Schema.String }, { httpApiStatus: 409 }) {}
export class ParticipantUnreachable extends Schema.TaggedError<ParticipantUnreachable>()("ParticipantUnreachable", { message: Schema.String }, { httpApiStatus: 503 }) {}
export class DecisionRefused extends Schema.TaggedError<DecisionRefused>()("DecisionRefused", { message: Schema.String }, { httpApiStatus: 422 }) {}

/** A sign-in message that is malformed, for another coordinator, stale, replayed or not signed by its address. */
export class SignInRefused extends Schema.TaggedError<SignInRefused>()("SignInRefused", {
  /**
   * BadToken: the participant refused the dashboard token; Unreachable: that participant is not connected;
   * ClientCertificate: the account's DID names TLS client certificates and the connection presented none of them.
   */
  reason: Schema.Literals(["Malformed", "WrongDomain", "UnknownNonce", "Expired", "BadSignature", "BadToken", "Unreachable", "ClientCertificate"]),
  message: Schema.String
}, { httpApiStatus: 401 }) {}

/** Every error class above, for clients that map a decoded failure back to a status. */
export const all = [
  Unauthenticated, Forbidden, Malformed, RateLimited, PayloadTooLarge, UnsupportedMediaType, UnknownRoute, TooManyTasks, QuotaExceeded, UnknownTask, UnknownModel,
  UnknownArtifact, UnknownDataset, InvalidTask, DuplicateTask, InvalidRows, Tampered, Unavailable, NonceUnsettled, NotPending, ParticipantUnreachable,
  DecisionRefused, SignInRefused
] as const

/** A refusal the API declares: the server fails with one, the typed client decodes one back. */
export type ApiRefusal = InstanceType<(typeof all)[number]>
