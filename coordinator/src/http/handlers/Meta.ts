/** Handlers of the `meta` and `auth` groups: health, the OpenAPI document, nonces, sign-in, "who am I". */
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api, Caller } from "@jointly/core/internal/api/Api"
import { SignInRefused, Unavailable } from "@jointly/core/internal/api/Errors"
import { Peer } from "../Middleware.ts"
import { Parts, type PartsShape } from "../Services.ts"

/**
 * An account whose DID names TLS client certificate keys signs in only over a connection presenting one of them:
 * its login key alone, copied off the participant's host, is not enough. An account whose DID names none (an
 * analyst's wallet in a browser) signs in as before; its org's dashboard users sign in through the participant
 * (token sign-in), whose own socket was admitted over the certificate.
 */
const checkClientCertificate = (named: NonNullable<PartsShape["tlsClientKeys"]>, account: string, presented: string | undefined): Effect.Effect<void, SignInRefused | Unavailable> =>
  Effect.flatMap(Effect.mapError(named(account), (error) => unreadable(`the DID of ${account}`)(error.detail)), (keys) =>
    keys.length === 0 || (presented !== undefined && keys.includes(presented.toLowerCase()))
      ? Effect.void
      : Effect.fail(new SignInRefused({
        reason: "ClientCertificate",
        message: presented === undefined
          ? `${account}'s DID names TLS client certificates; sign in over a connection presenting one of them`
          : `the TLS client certificate presented (key …${presented.slice(-16)}) is not one ${account}'s DID names`
      })))

/** What the chain did not answer during a sign-in: 503, and the nonce is not spent (Sessions.ts). */
const unreadable = (what: string) => (error: unknown) =>
  new Unavailable({ message: `${what} could not be read (${error instanceof Error ? error.message : String(error)}); the nonce is not spent: sign in again with the same message` })

/**
 * A signed challenge exchanged for a token, answered with the account's roles as the chain has them now — read
 * before the nonce is spent, so a chain that does not answer leaves the message good for a retry.
 */
const signedIn = (parts: PartsShape, message: string, signature: string) =>
  Effect.gen(function*() {
    const { token, claims, ready: roles } = yield* parts.sessions.signIn(message, signature, (address) =>
      Effect.mapError(parts.roles.of(address), (error) => unreadable(`the roles of ${address}`)(error.detail)))
    return { token, address: claims.address, expiresAt: new Date(claims.expiresAt).toISOString(), roles }
  })

export const meta = HttpApiBuilder.group(Api, "meta", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    return handlers
      .handle("health", () => Effect.succeed({ ok: true, chain: parts.chain }))
      .handle("openapi", () => Effect.sync(parts.openApi))
  }))

export const auth = HttpApiBuilder.group(Api, "auth", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    return handlers
      .handle("nonce", () =>
        Effect.sync(() => ({ ...parts.socketNonce(), coordinator: parts.chain.coordinator, chainId: parts.chain.chainId, ledger: parts.chain.ledger })))
      .handle("challenge", ({ payload }) => Effect.sync(() => parts.sessions.challenge(payload.address)))
      .handle("signIn", ({ payload }) =>
        Effect.gen(function*() {
          // Before the nonce is spent: a refused sign-in changes nothing.
          if (parts.tlsClientKeys !== undefined) {
            const peer = yield* Effect.serviceOption(Peer)
            const { address } = yield* parts.sessions.pending(payload.message)
            yield* checkClientCertificate(parts.tlsClientKeys, address, Option.getOrUndefined(peer)?.clientKey)
          }
          return yield* signedIn(parts, payload.message, payload.signature)
        }))
      .handle("tokenSignIn", ({ payload }) =>
        Effect.gen(function*() {
          // Only a challenge this coordinator issued and still awaits is relayed: the participant signs nothing else.
          const { address } = yield* parts.sessions.pending(payload.message)
          // A relay that fails (the socket dropped mid-ask, the ack undecodable) is the participant not answering.
          const answer = yield* Effect.tryPromise({
            try: () => parts.relaySignIn(address, { message: payload.message, mac: payload.mac }),
            catch: (error) => new SignInRefused({ reason: "Unreachable", message: `participant ${address} could not be asked to check its dashboard token: ${error instanceof Error ? error.message : String(error)}` })
          })
          if (answer === undefined) {
            return yield* new SignInRefused({ reason: "Unreachable", message: `participant ${address} is not connected to this coordinator, so no one can check its dashboard token` })
          }
          if (!answer.ok || answer.signature === undefined) {
            parts.rejections.count("http.token")
            return yield* new SignInRefused({ reason: "BadToken", message: `participant ${address} refused the sign-in: ${answer.detail ?? "no reason given"}` })
          }
          // The participant's own signature, checked exactly as a wallet's: the token never reaches this coordinator.
          return yield* signedIn(parts, payload.message, answer.signature)
        }))
      .handle("me", () => Effect.map(Effect.service(Caller), (caller) => ({ address: caller.address, expiresAt: caller.expiresAt, roles: caller.roles })))
  }))
