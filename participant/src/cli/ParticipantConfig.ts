/**
 * The config file of `jointly participant`: where the coordinator is, where this participant keeps its
 * identity, which datasets it serves and which consent policy it applies. The key passphrase never sits in
 * the file: it comes from JOINTLY_KEY_PASSPHRASE.
 */
import { readFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Schema } from "effect"
import { DatasetSpec } from "../datasets/Dataset.ts"
import { Policy } from "../policy/ConsentPolicy.ts"

export const ParticipantConfig = Schema.Struct({
  coordinatorUrl: Schema.String,
  /** Holds the encrypted keystore and the task journal. */
  dataDir: Schema.String,
  datasets: Schema.Array(DatasetSpec),
  /** Inline policy, or the path of a policy file relative to this config. */
  policy: Schema.Union([Policy, Schema.String])
})
export type ParticipantConfig = typeof ParticipantConfig.Type

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { file: Schema.String, detail: Schema.String }) {
  override get message() {
    return `participant config ${this.file}: ${this.detail}`
  }
}

/** Reads and decodes a config file; relative paths inside it are resolved against the file's folder. */
export const load = async (file: string): Promise<ParticipantConfig> => {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, "utf8"))
  } catch (error) {
    throw new ConfigError({ file, detail: (error as Error).message })
  }
  const decoded = Schema.decodeUnknownExit(ParticipantConfig)(raw)
  if (decoded._tag === "Failure") throw new ConfigError({ file, detail: String(decoded.cause) })
  const base = dirname(resolve(file))
  const config = decoded.value
  return {
    ...config,
    dataDir: resolve(base, config.dataDir),
    datasets: config.datasets.map((d) => ({ ...d, file: resolve(base, d.file) })),
    policy: typeof config.policy === "string" ? resolve(base, config.policy) : config.policy
  }
}
