/**
 * The linear models a browser participant owns for encrypted inference (`prediction.encrypted-linear`: the owner
 * scores a requester's CKKS-encrypted rows with its plaintext `linear` artifact). Node reads them from
 * `<data dir>/models/<id>.json` (he/OwnedModels.ts); a page has no such directory, so the page hands a model over
 * (`BrowserAgent`'s `keepModel`) and it is kept by the sealed store of the vertical blocks (IndexedDbModels.ts,
 * SealedModelStore.ts's rules: AES-256-GCM under the profile's non-extractable key, header authenticated, this
 * owner only) under its own format tag, by its content address (ModelArtifact.artifactId). Serving checks again
 * what the protocol checks (encrypted-linear/participant.ts: the id, the shape), so a record altered in IndexedDB
 * fails the stage with a typed `OwnedModelCorrupt` and a missing one with `UnknownModel`, as on Node.
 */
import { Effect, Schema } from "effect"
import { artifactId, LinearArtifact, problem } from "@jointly/core/internal/models/ModelArtifact"
import type { OwnedModels } from "@jointly/core/internal/protocols/encrypted-linear/spec"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"
import { PartialModelError, type PartFormat, type Store } from "@jointly/core/internal/protocols/vertical/PartialModels"
import { type KeptModel, ModelNotKept } from "./KeptModel.ts"

export const FORMAT = "jointly/owned-linear-model" satisfies PartFormat

const decodeArtifact = Schema.decodeUnknownEffect(LinearArtifact)
const encodeArtifact = Schema.encodeSync(LinearArtifact)

/** Checks `artifact` (a `linear` artifact whose sizes agree) and seals it for `owner`; nothing is kept on failure. */
export const keep = (store: Store, owner: string, artifact: unknown): Effect.Effect<KeptModel, ModelNotKept> =>
  Effect.gen(function*() {
    const model = yield* Effect.mapError(decodeArtifact(artifact), (e) => new ModelNotKept({ reason: "InvalidModel", detail: `not a linear model artifact: ${e.message}` }))
    const invalid = problem(model)
    if (invalid !== undefined) return yield* new ModelNotKept({ reason: "InvalidModel", detail: invalid })
    const modelId = artifactId(model)
    const { digest } = yield* Effect.mapError(store.putPart(owner, FORMAT, modelId, encodeArtifact(model)), (e) => new ModelNotKept({ reason: e.reason, detail: e.detail }))
    return { modelId, digest }
  })

/** The OwnedModels service over `owner`'s sealed store: every way a record can be wrong is a typed stage failure. */
export const service = (store: Store, owner: string): OwnedModels["Service"] => ({
  linear: (modelId) => {
    const fail = (code: string, detail: string) => new ParticipantFailure({ participant: owner, stage: "he.evaluate", code, detail })
    return store.getPart(owner, FORMAT, modelId).pipe(
      Effect.flatMap((encoded) =>
        Effect.mapError(decodeArtifact(encoded), (e) => new PartialModelError({ reason: "Corrupt", modelId, detail: `sealed content is not a linear model: ${e.message}` }))),
      // The record is found by its id; its content must still hash to it.
      Effect.filterOrFail((model) => artifactId(model) === modelId, () => new PartialModelError({ reason: "Corrupt", modelId, detail: `the sealed model does not hash to ${modelId}` })),
      Effect.mapError((e) => fail(e.reason === "Missing" ? "UnknownModel" : `OwnedModel${e.reason}`, e.message))
    )
  }
})
