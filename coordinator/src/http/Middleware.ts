/**
 * The server side of the API's three middlewares (declared in core/src/api/Api.ts):
 * - `Limits`: one token bucket per client address (the transport puts the peer's address in `Peer`);
 * - `Validation`: a request that does not decode answers `Malformed` with the field and the problem;
 * - `Guard`: the bearer token (Sessions.ts), the account's roles on chain (Roles.ts), a bucket per account, then the
 *   endpoint's Access rule (Policy.ts) — all before the request's parameters or body are decoded.
 * Every refusal is counted (limits/Rejections.ts); a 429 carries Retry-After.
 */
import { Context, Effect, Layer, Redacted } from "effect"
import { HttpEffect, HttpRouter, HttpServerResponse } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import * as SchemaIssue from "effect/SchemaIssue"
import { Access } from "@jointly/core/internal/api/Access"
import { Caller, type CallerShape, Guard, Limits, Validation } from "@jointly/core/internal/api/Api"
import { type Forbidden, Malformed, RateLimited, Unauthenticated } from "@jointly/core/internal/api/Errors"
import type { RateLimiter } from "../limits/RateLimiter.ts"
import type { Rejections } from "../limits/Rejections.ts"
import type { TaskRow } from "../store/TaskStore.ts"
import { type Policy, PolicyReadFailed } from "./Policy.ts"
import { unavailable } from "./Services.ts"
import type { RoleReader } from "./Roles.ts"
import type { Sessions } from "./Sessions.ts"

/** The task the guard loaded to decide a task rule, handed to the handler so it is not read twice. */
export class AuthorizedTask extends Context.Service<AuthorizedTask, TaskRow>()("jointly/coordinator/AuthorizedTask") {}

/** The client address of the current request, as the transport saw it. */
export class Peer extends Context.Service<Peer, {
  readonly address: string
  /** The key (DER SPKI, hex) of the TLS client certificate the connection presented, if any (auth/ClientCertificates.ts). */
  readonly clientKey?: string
}>()("jointly/coordinator/Peer") {}

const retryAfter = (seconds: number) =>
  HttpEffect.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeader(response, "retry-after", String(seconds))))

const limited = (scope: "ip" | "account", retryAfterSeconds: number) =>
  Effect.andThen(
    retryAfter(retryAfterSeconds),
    Effect.fail(new RateLimited({ scope, retryAfterSeconds, message: `too many requests from this ${scope === "ip" ? "address" : "account"}; retry in ${retryAfterSeconds} s` }))
  )

export const limitsLayer = (perIp: RateLimiter, rejections: Rejections) =>
  Layer.succeed(Limits, (httpEffect) =>
    Effect.gen(function*() {
      const peer = yield* Effect.serviceOption(Peer)
      const verdict = perIp.take(peer._tag === "Some" ? peer.value.address : "unknown")
      if (!verdict.ok) {
        rejections.count("http.rate.ip")
        return yield* limited("ip", verdict.retryAfterSeconds)
      }
      return yield* httpEffect
    }))

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

export const validationLayer = HttpApiMiddleware.layerSchemaErrorTransform(Validation, (error) => {
  // A response that does not encode is our bug, not the caller's: left to the default 500.
  if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.fail(error)
  const issues = formatIssues(error.cause.issue).issues
  const message = issues
    .slice(0, 5)
    .map((i) => `${[error.kind.toLowerCase(), ...(i.path ?? []).map((p) => String(typeof p === "object" && p !== null && "key" in p ? p.key : p))].join(".")}: ${i.message}`)
    .join("; ")
  return Effect.fail(new Malformed({ message: message || `the request's ${error.kind.toLowerCase()} does not decode` }))
})

export interface GuardDeps {
  readonly sessions: Sessions
  readonly roles: RoleReader
  readonly policy: Policy
  readonly perAccount: RateLimiter
  readonly rejections: Rejections
}

export const guardLayer = (deps: GuardDeps) =>
  Layer.succeed(Guard, {
    bearer: (httpEffect, { credential, endpoint }) =>
      Effect.gen(function*() {
        const token = Redacted.value(credential)
        if (token === "") return yield* new Unauthenticated({ message: "this route needs a bearer token: sign in with POST /api/auth/sign-in" })
        const claims = deps.sessions.verify(token)
        if (claims === undefined) return yield* new Unauthenticated({ message: "the bearer token is invalid or expired: sign in again" })
        const verdict = deps.perAccount.take(claims.address)
        if (!verdict.ok) {
          deps.rejections.count("http.rate.account")
          return yield* limited("account", verdict.retryAfterSeconds)
        }
        // Roles seen lately answer at once (re-read in the background); only a new account waits for the chain.
        // A chain that does not answer is the service unavailable (503), not the caller refused.
        const roles = deps.roles.cached(claims.address) ??
          (yield* Effect.mapError(deps.roles.of(claims.address), unavailable))
        const caller: CallerShape = { address: claims.address, expiresAt: new Date(claims.expiresAt).toISOString(), roles }
        const rule = Context.getOption(endpoint.annotations, Access)
        const { params } = yield* HttpRouter.RouteContext
        // The refusals are the endpoint's declared errors (Forbidden, or the resource's Unknown…); a rule that needs
        // no resource is decided without a round trip.
        // An Unknown… refusal is the endpoint's declared error, not the guard's: it passes through as the guard's
        // error type, and the endpoint's error schema encodes it. A grant read not made is the guard's Unavailable.
        const task = yield* Effect.mapError(
          deps.policy.authorize(rule._tag === "Some" ? rule.value : undefined, caller, params),
          (refusal) => refusal instanceof PolicyReadFailed ? unavailable(refusal) : refusal as Forbidden
        )
        const handled = Effect.provideService(httpEffect, Caller, caller)
        return yield* (task === undefined ? handled : Effect.provideService(handled, AuthorizedTask, task))
      })
  })
