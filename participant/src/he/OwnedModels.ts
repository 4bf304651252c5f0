/**
 * The model owner's store for encrypted inference: `<data dir>/models/<modelId>.json`, a `linear` artifact
 * (e.g. a SecureSVM result's `model`) named by its content address, under the host's data dir (as for
 * predictions, modeling/Compute.ts).
 */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Layer, Schema } from "effect"
import { LinearArtifact } from "@jointly/core/internal/models/ModelArtifact"
import { OwnedModels } from "@jointly/core/internal/protocols/encrypted-linear/spec"
import { ParticipantFailure } from "@jointly/core/internal/protocols/Protocol"

export const layer = (dataDir: string | undefined): Layer.Layer<OwnedModels> =>
  Layer.succeed(OwnedModels, {
    linear: (modelId) =>
      Effect.tryPromise({
        try: async () => {
          if (!dataDir) throw new Error("no data directory is configured for this participant")
          if (!/^0x[0-9a-f]{64}$/.test(modelId)) throw new Error(`${modelId} is not a model id`)
          return Schema.decodeUnknownSync(LinearArtifact)(JSON.parse(await readFile(join(dataDir, "models", `${modelId}.json`), "utf8")))
        },
        catch: (error) => new ParticipantFailure({ participant: "self", stage: "he.evaluate", code: "UnknownModel", detail: error instanceof Error ? error.message : String(error) })
      })
  })
