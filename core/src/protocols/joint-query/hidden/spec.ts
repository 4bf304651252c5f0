/**
 * Hidden query: keyword PIR from a DH-OPRF (PROTOCOLS.md §3 item 2), between a provider and a querier.
 *
 * The provider holds a fresh key k for the task. For each record (id, v) it sends
 *   tag = H(1 ‖ Hg(id)^k),   ct = AES-256-GCM(key = H(2 ‖ Hg(id)^k), v)
 * where v is the record's row as JSON of the task's declared `columns` and H is SHA-256. The querier sends
 * Hg(q)^{r_q} for each of its ids q (a fresh r_q per query), receives (Hg(q)^{r_q})^k, raises it to r_q^{-1},
 * finds the tag H(1 ‖ Hg(q)^k) among the provider's and decrypts that one record.
 * The group is always ristretto255 (prime order, so r_q^{-1} exists and unblinding is exact; `Group.ts`), not
 * the PSI default x25519, whose clamped keys have no such inverse.
 *
 * Leakage (semi-honest): the provider learns how many queries were made (and may cap them, `maxQueries`, which
 * its policy can bound through `limits`); under DDH the blinded queries are uniformly random points. The querier
 * learns the records it asked for and the number of records; every other tag and ciphertext is pseudorandom to
 * it (one-more-DH: it obtained k-evaluations only for its own queries). The coordinator relays sealed payloads
 * and sees sizes only. Ids are text, de-duplicated on both sides (first row wins).
 */
import { Schema } from "effect"
import { Address } from "../../../task/TaskSpec.ts"
import { stage } from "../../Protocol.ts"
import { Bytes, KeysReply, MAX_CHUNK, InvalidParams } from "../psi/spec.ts"
import { Advertisement } from "../Channel.ts"

export const kind = "query.hidden" as const

export const Params = Schema.Struct({
  provider: Address,
  querier: Address,
  /** The id column: the provider's record key, and the querier's column of ids to look up. */
  idColumn: Schema.String,
  /** The provider's columns returned for each record found. */
  columns: Schema.NonEmptyArray(Schema.String),
  /** Most ids the querier may look up in this task. */
  maxQueries: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_CHUNK })),
  chunkSize: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_CHUNK })))
})
export type Params = typeof Params.Type

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const keys = stage("hidden.keys", Schema.Struct({}), KeysReply)
export const peers = stage("hidden.peers", Schema.Struct({ advertisements: Schema.Array(Advertisement) }), Schema.Struct({ ok: Schema.Literal(true) }))
export const query = stage("hidden.query", Schema.Struct({}), Schema.Struct({ payload: Bytes }))
export const evaluate = stage("hidden.evaluate", Schema.Struct({ payload: Bytes }), Schema.Struct({ payload: Bytes }))
export const unblind = stage("hidden.unblind", Schema.Struct({ payload: Bytes }), Schema.Struct({ ok: Schema.Literal(true) }))
export const table = stage("hidden.table", Schema.Struct({ index: Count }), Schema.Struct({ payload: Bytes }))
export const match = stage("hidden.match", Schema.Struct({ index: Count, payload: Bytes }), Schema.Struct({ ok: Schema.Literal(true) }))
export const output = stage("hidden.output", Schema.Struct({}), Schema.Struct({ digest: Schema.String, location: Schema.String }))

export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  /** How many ids were looked up: the one thing the provider learns. */
  queries: Count,
  outputs: Schema.Array(Schema.Struct({ receiver: Schema.String, digest: Schema.String, location: Schema.String }))
})
export type Result = typeof Result.Type

export const validate = (params: Params, parties: ReadonlyArray<string>): InvalidParams | undefined => {
  if (parties.length !== 2) return new InvalidParams({ field: "parties", detail: "a hidden query runs between a provider and a querier" })
  if (!parties.includes(params.provider)) return new InvalidParams({ field: "provider", detail: "not a party of the task" })
  if (!parties.includes(params.querier)) return new InvalidParams({ field: "querier", detail: "not a party of the task" })
  if (params.provider === params.querier) return new InvalidParams({ field: "querier", detail: "must differ from the provider" })
  return undefined
}
