/**
 * The replies both protocol workers send (Node's worker thread, ProtocolWorkerApi.ts; a page's Web Worker,
 * browser/ProtocolWorker.ts) and the byte codec of every message: each a Schema, encoded to wire values and then
 * to bytes with JobCodec, decoded on receipt. Apart from ProtocolWorkerApi.ts because a page imports it: nothing
 * here reaches the backends or a protocol.
 */
import { Schema } from "effect"
import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import { DatasetError, DatasetSummary } from "../datasets/Dataset.ts"

export const InitReply = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true), datasets: Schema.Array(DatasetSummary) }),
  // The class itself, so a bad dataset is re-created on the agent's side as the DatasetError it was.
  Schema.Struct({ ok: Schema.Literal(false), error: DatasetError })
])

export const ContentHashReply = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true), contentHash: Schema.String }),
  Schema.Struct({ ok: Schema.Literal(false), error: DatasetError })
])

export const encode = <A, I>(schema: Schema.Codec<A, I>, value: A): Uint8Array =>
  JobCodec.encode(Schema.encodeSync(schema)(value) as JobCodec.JobValue)

export const decode = <A, I>(schema: Schema.Codec<A, I>, bytes: Uint8Array): A =>
  Schema.decodeUnknownSync(schema)(JobCodec.decode(bytes))
