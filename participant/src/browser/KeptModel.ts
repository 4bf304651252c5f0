/**
 * What the page learns when it hands over a model it owns (BrowserAgent's `keepModel`, OwnedModelStore.ts): the
 * model's content address, or a typed refusal. Apart from OwnedModelStore.ts because the page imports it and
 * nothing here reaches a protocol or the sealed store.
 */
import { Schema } from "effect"

/** A kept model: its content address (the `modelId` tasks name) and the sealed record's digest. */
export interface KeptModel {
  readonly modelId: string
  readonly digest: string
}

export class ModelNotKept extends Schema.TaggedError<ModelNotKept>()("ModelNotKept", {
  /** InvalidModel: not a usable `linear` artifact. The others: the sealed store's (PartialModelError) — NoStore without IndexedDB. */
  reason: Schema.Literals(["InvalidModel", "Missing", "Corrupt", "Foreign", "NoStore", "Io"]),
  detail: Schema.String
}) {
  override get message() {
    return `model not kept: ${this.reason}: ${this.detail}`
  }
}

/** The protocol worker's answer to `keepModel`, as it crosses to the page. */
export const KeepModelReply = Schema.Union([
  Schema.Struct({ ok: Schema.Literal(true), modelId: Schema.String, digest: Schema.String }),
  Schema.Struct({ ok: Schema.Literal(false), error: ModelNotKept })
])
