/**
 * What the Promise clients of the coordinator's API (the typed client `@jointly/coordinator/client`, the
 * governance SDK) reject with: one class for any failed request. `code` is the API refusal's `_tag` (Errors.ts)
 * with its declared HTTP status, or names what went wrong before a refusal could be read: the sign-in
 * (`NoSigner`, `UnexpectedMessage`, `NoInitiator`), the transport rule and certificate trust (`InsecureEndpoint`,
 * `UntrustedCertificate`), the network (`Unreachable`), an undeclared status (`Http`), a response that does not
 * decode (`BadResponse`), a wait that ran out (`Timeout`).
 */
import { SchemaAST } from "effect"
import { ClientSignInError } from "./ClientSession.ts"
import * as Errors from "./Errors.ts"

export class RequestFailed extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly detail?: unknown) {
    super(message)
    this.name = "RequestFailed"
  }
}

/** Each API refusal's HTTP status, as its class declares it. */
const statusOf: Record<string, number> = Object.fromEntries(
  Errors.all.map((E) => [SchemaAST.resolveIdentifier(E.ast) ?? "", Number(SchemaAST.resolve(E.ast)?.["httpApiStatus"] ?? 500)])
)

/**
 * What the socket said under a transport failure: the innermost error's code (`ECONNREFUSED`, `ENOTFOUND`,
 * `UND_ERR_CONNECT_TIMEOUT`, a certificate's), else its message. The HttpClientError says "Transport error" and
 * fetch "fetch failed"; the reason is at the end of their `cause` chain.
 */
const socketCause = (error: unknown): string => {
  let said = "no cause given"
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === "string") said = code
    else if (depth > 0 && e instanceof Error && e.message !== "") said = e.message
  }
  return said
}

/** Any failure of a call as a RequestFailed: the API's refusals by their tag, transport and decoding failures named. */
export const fromFailure = (error: unknown): RequestFailed => {
  if (error instanceof RequestFailed) return error
  const e = error as { _tag?: string; message?: string; reason?: unknown; response?: { status?: number } }
  // A signer's own failure, as the Promise clients have always reported it (its message, code `Failed`).
  if (e instanceof ClientSignInError) return e.code === "SignerRefused" ? fromFailure(e.cause) : new RequestFailed(0, e.code, e.message)
  if (typeof e?._tag === "string" && statusOf[e._tag] !== undefined) return new RequestFailed(statusOf[e._tag]!, e._tag, e.message ?? e._tag, error)
  // The transport rule and certificate trust (net/Endpoint.ts), by their own names.
  const transport = (e as { reason?: { cause?: { _tag?: string; message?: string } } })?.reason?.cause
  if (transport?._tag === "UntrustedCertificate" || transport?._tag === "InsecureEndpoint") return new RequestFailed(0, transport._tag, transport.message ?? transport._tag, transport)
  if (e?._tag === "UntrustedCertificate" || e?._tag === "InsecureEndpoint") return new RequestFailed(0, e._tag, e.message ?? e._tag, error)
  if (e?._tag === "HttpClientError") {
    const status = e.response?.status ?? 0
    if (status !== 0) return new RequestFailed(status, "Http", e.message ?? `HTTP ${status}`, error)
    const url = (e.reason as { request?: { url?: string } } | undefined)?.request?.url
    return new RequestFailed(0, "Unreachable", `coordinator unreachable${url === undefined ? "" : ` at ${url}`}: ${socketCause(error)}`, error)
  }
  if (e?._tag === "SchemaError") return new RequestFailed(0, "BadResponse", `the response does not match the API: ${e.message}`, error)
  return new RequestFailed(0, "Failed", error instanceof Error ? error.message : String(error), error)
}
