/**
 * Where a party keeps its partial model between the training task and later prediction tasks (PROTOCOLS.md
 * §6.6 "Ours": w^p never leaves its owner). The value holds secrets (the threshold key share and w^p), so the
 * participant host persists it sealed at rest (`seal`/`open` below; the file store is
 * participant/src/modeling/vertical/PartialModelStore.ts). A host without a store fails training at its first
 * iteration boundary with `PartialModelError` "NoStore" rather than keep state a restart would lose; `testMemory`
 * is the in-memory store for tests only. The same store keeps each party's training progress at iteration
 * boundaries (`Progress`), sealed the same way, so a restarted coordinator can resume training; it is removed
 * (`removeProgress`) once the task's result is checkpointed or the task fails (coordinator.ts "cleanup").
 */
import { gcm } from "@noble/ciphers/aes.js"
import { hkdf } from "@noble/hashes/hkdf.js"
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { canonicalJson, sha256Digest } from "../../wire/Canonical.ts"

export const PartialModel = Schema.Struct({
  modelId: Schema.String,
  kind: Schema.String,
  parties: Schema.Array(Schema.String),
  labelHolder: Schema.String,
  idColumn: Schema.String,
  columns: Schema.Array(Schema.String),
  mean: Schema.Array(Schema.Number),
  std: Schema.Array(Schema.Number),
  weights: Schema.Array(Schema.Number),
  featureBound: Schema.Number,
  scaleBits: Schema.Number,
  /** This party's ids in the common aligned order, and the positions of the test split. */
  ids: Schema.Array(Schema.String),
  test: Schema.Array(Schema.Number),
  publicKey: Schema.Uint8ArrayFromBase64,
  share: Schema.Uint8ArrayFromBase64,
  unsafeAllowTestKeySizes: Schema.Boolean
})
export type PartialModel = typeof PartialModel.Type

export class PartialModelError extends Schema.TaggedError<PartialModelError>()("PartialModelError", {
  /**
   * Missing: no model of that id at this party. Corrupt: the file does not parse, fails authentication (tampered,
   * or sealed under another key) or its content hash. Foreign: a valid file of another owner or another model.
   * NoStore: the host configured no store. Io: the file system failed.
   */
  reason: Schema.Literals(["Missing", "Corrupt", "Foreign", "NoStore", "Io"]),
  modelId: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `partial model ${this.modelId}: ${this.reason}: ${this.detail}`
  }
}

/**
 * A party's training progress at an iteration boundary (the state it needs to resume after a coordinator
 * restart): w^p after `iteration` updates, the RPI it committed to for `iteration` (§6.4), and the aligned id
 * order it trained on (a new attempt's PSI join yields another order).
 */
export const Progress = Schema.Struct({
  taskId: Schema.String,
  iteration: Schema.Number,
  weights: Schema.Array(Schema.Number),
  rpi: Schema.String,
  salt: Schema.Uint8ArrayFromBase64,
  ids: Schema.Array(Schema.String)
})
export type Progress = typeof Progress.Type

export const progressId = (taskId: string, iteration: number) => `progress|${taskId}|${iteration}`
/** The prefix of every progress id of a task (stores match removals on it). */
export const progressPrefix = (taskId: string) => `progress|${taskId}|`

/**
 * What a resumed party reports of the state it restored (spec.ts prepare `resumed`): the iteration and its
 * restored id order, hashed, so the coordinator can check that every party resumes the same rows at the same
 * boundary. The order is the first attempt's pseudorandom PSI order, so the digest does not let the
 * coordinator test guesses of the id list.
 */
export const resumeDigest = (taskId: string, iteration: number, ids: ReadonlyArray<string>): string =>
  sha256Digest({ domain: "jointly/vertical/resume-order/v1", taskId, iteration, ids })

/**
 * Model parts of the other vertical kinds (SecureBoost's trees and lookup tables: secureboost/Parts.ts) and the
 * linear models a browser participant owns for encrypted inference (participant/src/browser/OwnedModelStore.ts),
 * and the secrets an ECDH-PSI ring on disk resumes with (joint-query/psi/RingProgress.ts),
 * kept by the same store, sealed the same way, under their own format tag: a file of one kind never opens as
 * another, and its id (`partId`) never names a linear partial model. The store seals the encoded value; the kind
 * decodes what it reads back with its own Schema.
 */
export const PART_FORMATS = ["jointly/secureboost-model-part", "jointly/secureboost-progress", "jointly/owned-linear-model", "jointly/psi-ecdh-secrets"] as const
export type PartFormat = (typeof PART_FORMATS)[number]
export const partId = (format: PartFormat, modelId: string) => `${format}|${modelId}`

export interface Stored {
  /** SHA-256 (canonical JSON) of the encoded model: what the owner records in its training output. */
  readonly digest: string
}

export interface Store {
  readonly put: (owner: string, model: PartialModel) => Effect.Effect<Stored, PartialModelError>
  readonly get: (owner: string, modelId: string) => Effect.Effect<PartialModel, PartialModelError>
  /** Keeps the progress of `progress.iteration` and the one before it (a resume may need either). */
  readonly saveProgress: (owner: string, progress: Progress) => Effect.Effect<void, PartialModelError>
  readonly loadProgress: (owner: string, taskId: string, iteration: number) => Effect.Effect<Progress, PartialModelError>
  /** Removes every progress file of `taskId` (idempotent); returns how many were removed. */
  readonly removeProgress: (owner: string, taskId: string) => Effect.Effect<number, PartialModelError>
  /** Seals another kind's encoded model part under its format tag (PART_FORMATS). */
  readonly putPart: (owner: string, format: PartFormat, modelId: string, encoded: unknown) => Effect.Effect<Stored, PartialModelError>
  /** The encoded part `putPart` sealed, opened and checked (format, owner, id, content hash). */
  readonly getPart: (owner: string, format: PartFormat, modelId: string) => Effect.Effect<unknown, PartialModelError>
  /** Removes a part (idempotent: a missing one is not an error). */
  readonly removePart: (owner: string, format: PartFormat, modelId: string) => Effect.Effect<void, PartialModelError>
}

export class PartialModels extends Context.Service<PartialModels, Store>()("jointly/vertical/PartialModels") {}

const noStore = (modelId: string) =>
  new PartialModelError({ reason: "NoStore", modelId, detail: "this participant host has no partial-model store (a data directory and keystore are needed)" })

export const put = (owner: string, model: PartialModel): Effect.Effect<Stored, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) => (Option.isSome(found) ? found.value.put(owner, model) : Effect.fail(noStore(model.modelId))))

export const get = (owner: string, modelId: string): Effect.Effect<PartialModel, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) => (Option.isSome(found) ? found.value.get(owner, modelId) : Effect.fail(noStore(modelId))))

export const saveProgress = (owner: string, progress: Progress): Effect.Effect<void, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.saveProgress(owner, progress) : Effect.fail(noStore(progressId(progress.taskId, progress.iteration))))

export const loadProgress = (owner: string, taskId: string, iteration: number): Effect.Effect<Progress, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.loadProgress(owner, taskId, iteration) : Effect.fail(noStore(progressId(taskId, iteration))))

export const removeProgress = (owner: string, taskId: string): Effect.Effect<number, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.removeProgress(owner, taskId) : Effect.fail(noStore(progressPrefix(taskId))))

/** Seals `part` of another kind, encoded by its Schema, under `format`. */
export const putPart = <A, I>(owner: string, format: PartFormat, modelId: string, schema: Schema.Codec<A, I>, part: A): Effect.Effect<Stored, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.putPart(owner, format, modelId, Schema.encodeSync(schema)(part)) : Effect.fail(noStore(partId(format, modelId))))

/** Removes a part `putPart` sealed (nothing when there is none). */
export const removePart = (owner: string, format: PartFormat, modelId: string): Effect.Effect<void, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found) ? found.value.removePart(owner, format, modelId) : Effect.fail(noStore(partId(format, modelId))))

/** Reads back a part `putPart` sealed and decodes it with its Schema (Corrupt when it does not decode). */
export const getPart = <A, I>(owner: string, format: PartFormat, modelId: string, schema: Schema.Codec<A, I>): Effect.Effect<A, PartialModelError> =>
  Effect.flatMap(Effect.serviceOption(PartialModels), (found) =>
    Option.isSome(found)
      ? Effect.flatMap(found.value.getPart(owner, format, modelId), (encoded) =>
        Effect.mapError(Schema.decodeUnknownEffect(schema)(encoded), (e) =>
          new PartialModelError({ reason: "Corrupt", modelId: partId(format, modelId), detail: `sealed content is not a ${format}: ${e.message}` })))
      : Effect.fail(noStore(partId(format, modelId))))

const encodeModel = Schema.encodeSync(PartialModel)
const decodeModel = Schema.decodeUnknownEffect(PartialModel)

export const digestOf = (model: PartialModel): string => sha256Digest(encodeModel(model))

// ---- sealing at rest --------------------------------------------------------------------------------------

/** The on-disk form: a public header (authenticated as AES-GCM associated data) and the sealed model. */
const MODEL_FORMAT = "jointly/vertical-partial-model"
const PROGRESS_FORMAT = "jointly/vertical-training-progress"
type Format = typeof MODEL_FORMAT | typeof PROGRESS_FORMAT | PartFormat

export const SealedFile = Schema.Struct({
  format: Schema.Literals([MODEL_FORMAT, PROGRESS_FORMAT, ...PART_FORMATS]),
  version: Schema.Literal(1),
  owner: Schema.String,
  modelId: Schema.String,
  digest: Schema.String,
  nonce: Schema.Uint8ArrayFromBase64,
  ciphertext: Schema.Uint8ArrayFromBase64
})
export type SealedFile = typeof SealedFile.Type

/**
 * The AES-256-GCM key a store seals with, as the operations on it: a raw key held in memory (`rawKey`, Node's
 * store, derived from the keystore) or a key the platform holds without letting script read it (a browser's
 * non-extractable WebCrypto key). Both produce ciphertext ‖ 16-byte tag, so a sealed file is the same either way.
 */
export interface SealingKey {
  readonly encrypt: (nonce: Uint8Array, associatedData: Uint8Array, plaintext: Uint8Array) => Promise<Uint8Array>
  /** Rejects when authentication fails. */
  readonly decrypt: (nonce: Uint8Array, associatedData: Uint8Array, ciphertext: Uint8Array) => Promise<Uint8Array>
}

/** A raw 32-byte key (e.g. `storeKey`) as a SealingKey. */
export const rawKey = (key: Uint8Array): SealingKey => ({
  encrypt: async (nonce, associatedData, plaintext) => gcm(key, nonce, associatedData).encrypt(plaintext),
  decrypt: async (nonce, associatedData, ciphertext) => gcm(key, nonce, associatedData).decrypt(ciphertext)
})

/**
 * The store key: HKDF-SHA256 of a secret from the participant's keystore, separated by purpose and owner, so the
 * key of this store is independent of every other use of that secret.
 */
export const storeKey = (secret: Uint8Array, owner: string): Uint8Array =>
  hkdf(sha256, secret, utf8ToBytes("jointly/vertical/partial-models/v1"), utf8ToBytes(owner.toLowerCase()), 32)

const headerOf = (f: { readonly format: Format; readonly owner: string; readonly modelId: string; readonly digest: string }) =>
  utf8ToBytes(canonicalJson({ format: f.format, version: 1, owner: f.owner.toLowerCase(), modelId: f.modelId, digest: f.digest }))

const sealEncoded = (key: SealingKey, format: Format, owner: string, modelId: string, encoded: unknown): Effect.Effect<SealedFile, PartialModelError> => {
  const digest = sha256Digest(encoded)
  const nonce = crypto.getRandomValues(new Uint8Array(12))
  return Effect.map(
    Effect.tryPromise({
      try: () => key.encrypt(nonce, headerOf({ format, owner, modelId, digest }), utf8ToBytes(JSON.stringify(encoded))),
      catch: (cause) => new PartialModelError({ reason: "Io", modelId, detail: `sealing failed: ${cause instanceof Error ? cause.message : String(cause)}` })
    }),
    (ciphertext): SealedFile => ({ format, version: 1, owner, modelId, digest, nonce, ciphertext })
  )
}

export const seal = (key: SealingKey, owner: string, model: PartialModel): Effect.Effect<SealedFile, PartialModelError> =>
  sealEncoded(key, MODEL_FORMAT, owner, model.modelId, encodeModel(model))

export const sealProgress = (key: SealingKey, owner: string, progress: Progress): Effect.Effect<SealedFile, PartialModelError> =>
  sealEncoded(key, PROGRESS_FORMAT, owner, progressId(progress.taskId, progress.iteration), Schema.encodeSync(Progress)(progress))

/** Seals another kind's encoded part (the store's `putPart`); its file id is `partId(format, modelId)`. */
export const sealPart = (key: SealingKey, owner: string, format: PartFormat, modelId: string, encoded: unknown): Effect.Effect<SealedFile, PartialModelError> =>
  sealEncoded(key, format, owner, partId(format, modelId), encoded)

/** Opens a part's file text (the store's `getPart`): every way it can be wrong is a typed PartialModelError. */
export const openPart = (key: SealingKey, owner: string, format: PartFormat, modelId: string, text: string): Effect.Effect<unknown, PartialModelError> =>
  openEncoded(key, format, owner, partId(format, modelId), text)

/** Opens a file's text for `owner` and `modelId`; every way it can be wrong is a typed PartialModelError. */
export const open = (key: SealingKey, owner: string, modelId: string, text: string): Effect.Effect<PartialModel, PartialModelError> =>
  openEncoded(key, MODEL_FORMAT, owner, modelId, text).pipe(
    Effect.flatMap((encoded) =>
      Effect.mapError(decodeModel(encoded), (e) => new PartialModelError({ reason: "Corrupt", modelId, detail: `sealed content is not a partial model: ${e.message}` }))),
    Effect.filterOrFail((model) => model.modelId === modelId, (model) => new PartialModelError({ reason: "Foreign", modelId, detail: `the sealed content holds model ${model.modelId}` }))
  )

export const openProgress = (key: SealingKey, owner: string, taskId: string, iteration: number, text: string): Effect.Effect<Progress, PartialModelError> => {
  const id = progressId(taskId, iteration)
  return Effect.flatMap(openEncoded(key, PROGRESS_FORMAT, owner, id, text), (encoded) =>
    Effect.mapError(Schema.decodeUnknownEffect(Progress)(encoded), (e) => new PartialModelError({ reason: "Corrupt", modelId: id, detail: `sealed content is not training progress: ${e.message}` })))
}

const openEncoded = (key: SealingKey, format: Format, owner: string, modelId: string, text: string): Effect.Effect<unknown, PartialModelError> =>
  Effect.gen(function*() {
    const corrupt = (detail: string) => new PartialModelError({ reason: "Corrupt", modelId, detail })
    const json = yield* Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => corrupt("not JSON") })
    const file = yield* Effect.mapError(Schema.decodeUnknownEffect(SealedFile)(json), (e) => corrupt(`not a sealed partial model: ${e.message}`))
    if (file.format !== format) return yield* new PartialModelError({ reason: "Foreign", modelId, detail: `the file holds ${file.format}` })
    if (file.owner.toLowerCase() !== owner.toLowerCase()) {
      return yield* new PartialModelError({ reason: "Foreign", modelId, detail: `the file belongs to ${file.owner}, not ${owner}` })
    }
    if (file.modelId !== modelId) return yield* new PartialModelError({ reason: "Foreign", modelId, detail: `the file holds model ${file.modelId}` })
    const plain = yield* Effect.tryPromise({
      try: () => key.decrypt(file.nonce, headerOf(file), file.ciphertext),
      catch: () => corrupt("authentication failed: the file was altered or sealed under another key")
    })
    const encoded = yield* Effect.try({ try: () => JSON.parse(new TextDecoder().decode(plain)) as unknown, catch: () => corrupt("sealed content is not JSON") })
    // The digest is authenticated with the header; checking it again binds it to the content actually decoded.
    if (sha256Digest(encoded) !== file.digest) return yield* corrupt("content hash mismatch")
    return encoded
  })

// ---- tests only -------------------------------------------------------------------------------------------

/**
 * In-memory store for tests (never a host's default): models keyed by owner and id, round-tripped through their
 * Schema so a test sees what a restart would read back. Share one `testMemory()` between the training and the
 * prediction hosts of a test.
 */
export const testMemory = (): Layer.Layer<PartialModels> => {
  const models = new Map<string, unknown>()
  const progress = new Map<string, unknown>()
  const parts = new Map<string, unknown>()
  return Layer.succeed(PartialModels, {
    putPart: (owner, format, modelId, encoded) =>
      Effect.sync(() => {
        parts.set(`${owner.toLowerCase()}|${partId(format, modelId)}`, JSON.parse(JSON.stringify(encoded)))
        return { digest: sha256Digest(encoded) }
      }),
    removePart: (owner, format, modelId) => Effect.sync(() => void parts.delete(`${owner.toLowerCase()}|${partId(format, modelId)}`)),
    getPart: (owner, format, modelId) => {
      const found = parts.get(`${owner.toLowerCase()}|${partId(format, modelId)}`)
      return found === undefined ? Effect.fail(new PartialModelError({ reason: "Missing", modelId: partId(format, modelId), detail: `no ${format} at ${owner}` })) : Effect.succeed(found)
    },
    saveProgress: (owner, p) =>
      Effect.sync(() => {
        progress.set(`${owner.toLowerCase()}|${progressId(p.taskId, p.iteration)}`, Schema.encodeSync(Progress)(p))
        progress.delete(`${owner.toLowerCase()}|${progressId(p.taskId, p.iteration - 2)}`)
      }),
    removeProgress: (owner, taskId) =>
      Effect.sync(() => {
        const prefix = `${owner.toLowerCase()}|${progressPrefix(taskId)}`
        const keys = [...progress.keys()].filter((k) => k.startsWith(prefix))
        for (const k of keys) progress.delete(k)
        return keys.length
      }),
    loadProgress: (owner, taskId, iteration) => {
      const id = progressId(taskId, iteration)
      const found = progress.get(`${owner.toLowerCase()}|${id}`)
      return found === undefined
        ? Effect.fail(new PartialModelError({ reason: "Missing", modelId: id, detail: `no training progress at ${owner}` }))
        : Effect.mapError(Schema.decodeUnknownEffect(Progress)(found), (e) => new PartialModelError({ reason: "Corrupt", modelId: id, detail: e.message }))
    },
    put: (owner, model) =>
      Effect.sync(() => {
        const encoded = encodeModel(model)
        models.set(`${owner.toLowerCase()}|${model.modelId}`, encoded)
        return { digest: sha256Digest(encoded) }
      }),
    get: (owner, modelId) => {
      const found = models.get(`${owner.toLowerCase()}|${modelId}`)
      return found === undefined
        ? Effect.fail(new PartialModelError({ reason: "Missing", modelId, detail: `no partial model at ${owner}` }))
        : Effect.mapError(decodeModel(found), (e) => new PartialModelError({ reason: "Corrupt", modelId, detail: e.message }))
    }
  })
}
