/**
 * The first check of every task kind: decode `spec.params` with the protocol's Schema, then run the protocol's
 * own checks. One wording for every kind, so a user reads the same kind of message whatever they submitted.
 */
import { Schema } from "effect"

export type ParamsCheck = { readonly ok: true; readonly params: unknown } | { readonly ok: false; readonly problem: string }

/** `check` returns the first problem it finds, or undefined when the params are acceptable. */
export const decodeParams = <A, I>(schema: Schema.Codec<A, I>, raw: unknown, check: (params: A) => string | undefined = () => undefined): ParamsCheck => {
  const decoded = Schema.decodeUnknownExit(schema)(raw)
  if (decoded._tag === "Failure") return { ok: false, problem: `params: ${String(decoded.cause).replace(/^Error: /, "")}` }
  const problem = check(decoded.value)
  return problem === undefined ? { ok: true, params: decoded.value } : { ok: false, problem }
}
