/**
 * How a participant, the typed client or the CLI reaches a coordinator across hosts: a base URL held to the
 * transport rule — `https`, or plain `http` only to a loopback address unless the caller's config says
 * `allowInsecure` — and the trust it places in the server's certificate: Node's default store, or the CA
 * file its config names (a consortium's own CA, then trusted *instead of* the public roots).
 *
 * One `Endpoint` carries both halves a client needs: a `fetch` for the HTTP API (Node's fetch takes the CA
 * only through an undici dispatcher, so with a CA the request goes through undici's own `fetch` and `Agent`
 * from one package version) and the TLS options of the socket.io connection. A refused certificate becomes
 * `UntrustedCertificate` naming the host, whichever of the two met it first.
 */
import { Agent, fetch as undiciFetch } from "undici"
import * as EndpointRule from "./EndpointRule.ts"

export { type Endpoint, InsecureEndpoint, isLoopback, type Trust, UntrustedCertificate } from "./EndpointRule.ts"

/** Node honours a CA and a client certificate through an undici dispatcher; undici's fetch and Agent come from one package version. */
const undiciCa: EndpointRule.CaTransport = ({ ca, clientCertificate }) => {
  const dispatcher = new Agent({ connect: { ...(ca === undefined ? {} : { ca }), ...(clientCertificate === undefined ? {} : { cert: clientCertificate.cert, key: clientCertificate.key }) } })
  return {
    fetch: ((input, init) => undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as typeof globalThis.fetch,
    close: () => dispatcher.close()
  }
}

/** Checks `url` against the transport rule and builds its Endpoint; throws InsecureEndpoint. */
export const make = (url: string, trust: EndpointRule.Trust = {}): EndpointRule.Endpoint => EndpointRule.make(url, trust, undiciCa)
