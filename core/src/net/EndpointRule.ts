/**
 * The platform-neutral half of net/Endpoint.ts (browsers, Web Workers, Node alike): the transport rule — `https`,
 * or plain `http` only to a loopback address unless the caller's config says `allowInsecure` — the errors, and an
 * Endpoint over the platform's `fetch`. Honouring a configured CA is the platform's part (`CaTransport`): Node's
 * comes from Endpoint.ts; a browser page trusts its own certificate store.
 */
import { Schema } from "effect"

export interface Trust {
  /** PEM text of the CA certificate(s) to trust instead of Node's default store. */
  readonly ca?: string
  /** Allows `http://` to a host that is not loopback. Off by default: a coordinator across hosts speaks TLS. */
  readonly allowInsecure?: boolean
  /**
   * PEM of this member's TLS client certificate and its key, presented to a coordinator that asks for one (its key
   * named in the org's DID, identity/DidIdentity.ts `tlsClientKeys`).
   */
  readonly clientCertificate?: { readonly cert: string; readonly key: string }
}

export class InsecureEndpoint extends Schema.TaggedError<InsecureEndpoint>()("InsecureEndpoint", {
  url: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `refusing ${this.url}: ${this.detail}`
  }
}

export class UntrustedCertificate extends Schema.TaggedError<UntrustedCertificate>()("UntrustedCertificate", {
  host: Schema.String,
  url: Schema.String,
  /** OpenSSL's or Node's verification code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID. */
  code: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the server at ${this.host} presented a certificate that is not trusted here (${this.code}): ${this.detail}`
  }
}

/** Certificate verification failures as Node reports them (tls `verifyError` codes and the hostname check). */
const certificateCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REVOKED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** True for `localhost`, 127.0.0.0/8 and ::1: traffic that never leaves the host. */
export const isLoopback = (hostname: string): boolean => {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase()
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host)
}

/**
 * The certificate failure somewhere in `error`'s chain: fetch wraps it in `cause`, socket.io's transport error
 * in `description` (a ws ErrorEvent, whose `error` is Node's), Effect's HttpClientError in `reason.cause`.
 */
const certificateFailureIn = (error: unknown, depth = 0): { code: string; detail: string } | undefined => {
  if (error === null || typeof error !== "object" || depth > 5) return undefined
  const e = error as { code?: unknown; message?: unknown; detail?: unknown; cause?: unknown; description?: unknown; error?: unknown; reason?: unknown }
  if (typeof e.code === "string" && certificateCodes.has(e.code)) return { code: e.code, detail: String(e.detail ?? e.message ?? e.code) }
  return certificateFailureIn(e.cause, depth + 1) ?? certificateFailureIn(e.description, depth + 1) ?? certificateFailureIn(e.error, depth + 1) ??
    certificateFailureIn(e.reason, depth + 1)
}

export interface Endpoint {
  /** The base URL without a trailing slash. */
  readonly url: string
  /** Host name (or address) the certificate must name. */
  readonly host: string
  readonly secure: boolean
  /** `fetch` that trusts the configured CA and reports a refused certificate as UntrustedCertificate. */
  readonly fetch: typeof globalThis.fetch
  /** TLS options for socket.io-client (passed on to `ws`). */
  readonly socketOptions: { readonly ca?: string; readonly cert?: string; readonly key?: string }
  /** `error` as UntrustedCertificate when a certificate check caused it; otherwise `error` itself. */
  readonly explain: (error: unknown) => unknown
  /** Closes the pooled connections of the CA-trusting dispatcher. */
  readonly close: () => Promise<void>
}

/**
 * A `fetch` that trusts `ca` instead of the platform's store and presents `clientCertificate`, with what closes its
 * pooled connections: how a platform honours `Trust.ca` and `Trust.clientCertificate` (Node: an undici dispatcher,
 * Endpoint.ts). A browser has none: it checks certificates against its own store and picks client certificates itself.
 */
export type CaTransport = (tls: Pick<Trust, "ca" | "clientCertificate">) => { readonly fetch: typeof globalThis.fetch; readonly close: () => Promise<void> }

/**
 * Checks `url` against the transport rule and builds its Endpoint over the platform's `fetch`; throws
 * InsecureEndpoint, also for a `trust.ca` the platform cannot honour (no `caTransport`).
 */
export const make = (url: string, trust: Trust = {}, caTransport?: CaTransport): Endpoint => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InsecureEndpoint({ url, detail: "not a URL" })
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw new InsecureEndpoint({ url, detail: `${parsed.protocol} is not http or https` })
  }
  const secure = parsed.protocol === "https:"
  if (!secure && !isLoopback(parsed.hostname) && trust.allowInsecure !== true) {
    throw new InsecureEndpoint({
      url,
      detail: `plain http to ${parsed.hostname}, which is not a loopback address, would expose every message on the network; use https, or set allowInsecure: true in the config`
    })
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "")
  const base = url.replace(/\/+$/, "")
  const explain = (error: unknown): unknown => {
    const failure = certificateFailureIn(error)
    return failure === undefined ? error : new UntrustedCertificate({ host, url: base, ...failure })
  }
  if (secure && trust.ca !== undefined && caTransport === undefined) {
    throw new InsecureEndpoint({ url, detail: "this platform checks certificates against its own store and cannot trust a given CA: install the CA there instead" })
  }
  if (secure && trust.clientCertificate !== undefined && caTransport === undefined) {
    throw new InsecureEndpoint({ url, detail: "this platform cannot present a given TLS client certificate: install it in its own store instead" })
  }
  const ownTls = trust.ca !== undefined || trust.clientCertificate !== undefined
  const transport = secure && ownTls ? caTransport!({ ca: trust.ca, clientCertificate: trust.clientCertificate }) : undefined
  const send = transport?.fetch ?? ((input, init) => globalThis.fetch(input, init))
  return {
    url: base,
    host,
    secure,
    fetch: async (input, init) => {
      try {
        return await send(input, init)
      } catch (error) {
        throw explain(error)
      }
    },
    socketOptions: {
      ...(trust.ca === undefined ? {} : { ca: trust.ca }),
      ...(trust.clientCertificate === undefined ? {} : { cert: trust.clientCertificate.cert, key: trust.clientCertificate.key })
    },
    explain,
    close: async () => {
      await transport?.close()
    }
  }
}
