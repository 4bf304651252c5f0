/** Handlers of the `meta` and `auth` groups: health, the OpenAPI document, nonces, sign-in, "who am I". */
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api, Caller } from "@jointly/core/internal/api/Api"
import { SignInRefused } from "@jointly/core/internal/api/Errors"
import { Peer } from "../Middleware.ts"
import { attempt, Parts } from "../Services.ts"

/**
 * An account whose DID names TLS client certificate keys signs in only over a connection presenting one of them:
 * its login key alone, copied off the participant's host, is not enough. An account whose DID names none (an
 * analyst's wallet in a browser) signs in as before; its org's dashboard users sign in through the participant
 * (token sign-in), whose own socket was admitted over the certificate.
 */
const checkClientCertificate = async (named: (account: string) => Promise<ReadonlyArray<string>>, account: string, presented: string | undefined) => {
  const keys = await named(account)
  if (keys.length === 0 || (presented !== undefined && keys.includes(presented.toLowerCase()))) return
  throw new SignInRefused({
    reason: "ClientCertificate",
    message: presented === undefined
      ? `${account}'s DID names TLS client certificates; sign in over a connection presenting one of them`
      : `the TLS client certificate presented (key …${presented.slice(-16)}) is not one ${account}'s DID names`
  })
}

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
        Effect.flatMap(Effect.serviceOption(Peer), (peer) => attempt<{ token: string; address: string; expiresAt: string; roles: Awaited<ReturnType<typeof parts.roles.of>> }, SignInRefused>(async () => {
          // Before the nonce is spent: a refused sign-in changes nothing.
          if (parts.tlsClientKeys !== undefined) await checkClientCertificate(parts.tlsClientKeys, (await parts.sessions.pending(payload.message)).address, Option.getOrUndefined(peer)?.clientKey)
          const { token, claims } = await parts.sessions.signIn(payload.message, payload.signature)
          return { token, address: claims.address, expiresAt: new Date(claims.expiresAt).toISOString(), roles: await parts.roles.of(claims.address) }
        })))
      .handle("tokenSignIn", ({ payload }) =>
        attempt<{ token: string; address: string; expiresAt: string; roles: Awaited<ReturnType<typeof parts.roles.of>> }, SignInRefused>(async () => {
          // Only a challenge this coordinator issued and still awaits is relayed: the participant signs nothing else.
          const { address } = await parts.sessions.pending(payload.message)
          const answer = await parts.relaySignIn(address, { message: payload.message, mac: payload.mac })
          if (answer === undefined) {
            throw new SignInRefused({ reason: "Unreachable", message: `participant ${address} is not connected to this coordinator, so no one can check its dashboard token` })
          }
          if (!answer.ok || answer.signature === undefined) {
            parts.rejections.count("http.token")
            throw new SignInRefused({ reason: "BadToken", message: `participant ${address} refused the sign-in: ${answer.detail ?? "no reason given"}` })
          }
          // The participant's own signature, checked exactly as a wallet's: the token never reaches this coordinator.
          const { token, claims } = await parts.sessions.signIn(payload.message, answer.signature)
          return { token, address: claims.address, expiresAt: new Date(claims.expiresAt).toISOString(), roles: await parts.roles.of(claims.address) }
        }))
      .handle("me", () => Effect.map(Effect.service(Caller), (caller) => ({ address: caller.address, expiresAt: caller.expiresAt, roles: caller.roles })))
  }))
