/**
 * The coordinator's HTTP API as a typed Effect client, derived from the declaration (Api.ts) by `HttpApiClient`,
 * with the member's session: the first call that needs it signs in (Sign-In with Ethereum, SignIn.ts) with the
 * account's signer and keeps the bearer token until shortly before it expires; a call answered `Unauthenticated`
 * (a coordinator restarted with a new secret, a token expired in flight) signs in again once and is retried.
 * Used by the participant, the governance SDK and, through its Promise facade, by embedders, the CLI and the
 * notebooks (coordinator/src/client/Client.ts). The URL is held to the transport rule and the server's certificate
 * checked against the caller's trust (net/Endpoint.ts): a refused certificate fails as UntrustedCertificate.
 */
import * as Endpoint from "../net/Endpoint.ts"
import * as ClientSession from "./ClientSession.ts"

export { type AccountSigner, ClientSignInError, type Options } from "./ClientSession.ts"

export const make = (options: ClientSession.Options) =>
  ClientSession.make({ ...options, endpoint: options.endpoint ?? Endpoint.make(options.url, options.trust) }, options.endpoint === undefined)

export type Client = ReturnType<typeof make>
