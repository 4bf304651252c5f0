/**
 * The platform-neutral body of api/Client.ts (the typed Effect client of the coordinator's HTTP API with the
 * member's session), over an Endpoint the caller gives: a browser page's or Web Worker's (net/EndpointRule.ts) or
 * Node's (net/Endpoint.ts, which Client.ts builds from a URL and a trust). See Client.ts.
 */
import { Effect, Exit, Layer, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { getAddress } from "ethers"
import type * as Endpoint from "../net/EndpointRule.ts"
import { Api } from "./Api.ts"
import * as SignIn from "./SignIn.ts"

/** What signs in: an ethers `Wallet`/`Signer`, or a browser wallet behind the same two calls. */
export interface AccountSigner {
  readonly getAddress: () => Promise<string>
  readonly signMessage: (message: string) => Promise<string>
}

export interface Options {
  /**
   * The coordinator's base URL, e.g. `https://coordinator.example` (no trailing `/api`); plain `http://` only to
   * a loopback address unless `trust.allowInsecure` (else `make` throws InsecureEndpoint).
   */
  readonly url: string
  /** The CA (PEM) that signs the coordinator's certificate instead of Node's default store; `allowInsecure`. */
  readonly trust?: Endpoint.Trust
  /** An Endpoint the caller already holds for this URL (a participant's, shared with its socket); then `trust` is its. */
  readonly endpoint?: Endpoint.Endpoint
  /** Signs in as this account; without one, only public routes answer. */
  readonly signer?: AccountSigner
  readonly fetch?: typeof globalThis.fetch
}

/** Renew this long before the token expires, so a call never leaves with a token about to lapse. */
const renewBeforeMs = 30_000

/**
 * A sign-in that failed on this side, before or instead of the coordinator's answer: no signer was given
 * (`NoSigner`), the coordinator asked to sign something that is not a sign-in for this account and origin
 * (`UnexpectedMessage`), or the signer itself refused or failed — a wallet whose user declined (`SignerRefused`,
 * its own error in `cause`). The coordinator's refusal of a signed message is the API's `SignInRefused`.
 */
export class ClientSignInError extends Schema.TaggedError<ClientSignInError>()("ClientSignInError", {
  code: Schema.Literals(["NoSigner", "UnexpectedMessage", "SignerRefused"]),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** The client over an Endpoint the caller built for its platform (Client.ts builds Node's from `url` and `trust`). */
export const make = (options: Options & { readonly endpoint: Endpoint.Endpoint }, ownsEndpoint = false) => {
  const endpoint = options.endpoint
  const base = endpoint.url
  const origin = new URL(base)
  let session: { readonly token: string; readonly address: string; readonly expiresAtMs: number } | undefined

  const http = Layer.merge(FetchHttpClient.layer, Layer.succeed(FetchHttpClient.Fetch, options.fetch ?? endpoint.fetch))
  const api = Effect.runSync(
    HttpApiClient.make(Api, {
      baseUrl: base,
      // The current token, if any, on every request; public routes ignore it.
      transformClient: HttpClient.mapRequest((request) => (session === undefined ? request : HttpClientRequest.bearerToken(request, session.token)))
    }).pipe(Effect.provide(http))
  )

  /** A call to the signer (a wallet may reject: its user declined, it is locked) as a typed failure. */
  const fromSigner = <A>(what: string, f: () => Promise<A>) =>
    Effect.tryPromise({
      try: f,
      catch: (cause) => new ClientSignInError({ code: "SignerRefused", message: `the signer failed to ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    })

  /** Signs in with the configured signer: the coordinator's EIP-4361 message, checked before it is signed. */
  const signIn = Effect.gen(function*() {
    const signer = options.signer
    if (signer === undefined) return yield* new ClientSignInError({ code: "NoSigner", message: "this route needs a signed-in account: give the client a signer" })
    const address = getAddress(yield* fromSigner("give its address", () => signer.getAddress()))
    const challenge = yield* api.auth.challenge({ payload: { address } })
    // Never sign a message for another account, another coordinator or an origin we did not connect to.
    const fields = SignIn.parse(challenge.message)
    if (fields === undefined || fields.address !== address || fields.domain !== origin.host || fields.uri !== origin.origin) {
      return yield* new ClientSignInError({ code: "UnexpectedMessage", message: `the coordinator at ${base} asked to sign a message that is not a sign-in for ${address} at ${origin.host}` })
    }
    const signature = yield* fromSigner("sign the sign-in message", () => signer.signMessage(challenge.message))
    const signed = yield* api.auth.signIn({ payload: { message: challenge.message, signature } })
    session = { token: signed.token, address: signed.address, expiresAtMs: Date.parse(signed.expiresAt) }
  }).pipe(Effect.provide(http))

  type SignInError = Effect.Error<typeof signIn>
  /** The sign-in under way, shared by every call that needs one meanwhile; it settles as an Exit, never rejects. */
  let signingIn: Promise<Exit.Exit<void, SignInError>> | undefined

  /** A session valid for a while yet: the current one, or one signed in now (its failures typed, not defects). */
  const ensureSession: Effect.Effect<void, SignInError> = Effect.suspend(() => {
    if (session !== undefined && session.expiresAtMs - renewBeforeMs > Date.now()) return Effect.void
    signingIn ??= Effect.runPromiseExit(signIn).finally(() => (signingIn = undefined))
    const shared = signingIn
    return Effect.flatten(Effect.promise(() => shared))
  })

  type Api = typeof api

  /**
   * Runs `f` against the typed client: public routes as they are, signed routes with a session (signing in first,
   * and once more if the coordinator no longer accepts the token).
   */
  const call = <A, E>(f: (api: Api) => Effect.Effect<A, E, any>, signed = true): Effect.Effect<A, E | SignInError> => {
    const once = f(api).pipe(Effect.provide(http)) as Effect.Effect<A, E>
    if (!signed) return once
    return Effect.andThen(ensureSession, once).pipe(
      Effect.catchIf(
        (e): e is E => (e as { _tag?: string } | null)?._tag === "Unauthenticated" && options.signer !== undefined,
        () => Effect.andThen(Effect.sync(() => (session = undefined)), Effect.andThen(ensureSession, once))
      )
    )
  }

  return {
    url: base,
    api,
    call,
    /** Signs in now (normally done by the first signed call); resolves with the session's account. */
    signIn: () =>
      Effect.runPromise(signIn).then(
        () => session!.address,
        // As before this was an Effect: a signer's own rejection reaches the caller as it was.
        (error: unknown) => Promise.reject(error instanceof ClientSignInError && error.code === "SignerRefused" ? error.cause : error)
      ),
    /** The bearer token of the current session, if any (e.g. for an SSE reader). */
    token: () => session?.token,
    /** Closes the pooled connections of a CA-trusting client (nothing to close otherwise). */
    close: ownsEndpoint ? endpoint.close : async () => {}
  }
}

export type Client = ReturnType<typeof make>
