/**
 * A participant's consent policy file (ConsentPolicy.ts applies it): the rules' Schema, decoded strictly so a
 * misspelt rule is an error rather than silently ignored. Kept apart from the rules' evaluation, which needs every
 * protocol's declaration, so that reading a participant's config (the CLI does it for every command) loads none.
 */
import { Effect, Schema, SchemaIssue } from "effect"
import { isAddress } from "ethers"
import { readFile } from "node:fs/promises"
import { KeyRule } from "./KeyPolicy.ts"

const Address = Schema.String.check(
  Schema.makeFilter((s: string) => s === "*" || isAddress(s), { expected: 'a 0x-prefixed chain address or "*"' })
)

export const DatasetRule = Schema.Struct({
  /** Columns a task may touch; absent = every column of the dataset. */
  columns: Schema.optional(Schema.Array(Schema.String))
})

/** Bounds on the models a participant trains or predicts with (modeling.* and prediction.* task kinds). */
export const ModelingRule = Schema.Struct({
  /** Largest model accepted, in parameters (weights and biases). */
  maxParameters: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Layer types a model may use, e.g. ["Dense", "Dropout"]; absent = any the protocol supports. */
  layerTypes: Schema.optional(Schema.Array(Schema.String)),
  maxRounds: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Fewest updates a round may be aggregated from, so no round reveals one partner's update. */
  minParticipantsPerRound: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Refuse training whose updates the coordinator would see in the clear. */
  requireSecureAggregation: Schema.optional(Schema.Boolean)
})
export type ModelingRule = typeof ModelingRule.Type

export const Policy = Schema.Struct({
  /** "ask": every task that passes the rules also needs a human's decision. */
  mode: Schema.Literals(["auto", "ask"]),
  /** Task kinds accepted, e.g. "statistics.horizontal"; "*" accepts every kind. */
  taskKinds: Schema.Array(Schema.String),
  /** Initiator addresses accepted; "*" accepts anyone. */
  initiators: Schema.Array(Address),
  /** Dataset name → what of it may be used. Datasets not listed may not be used at all. */
  datasets: Schema.Record(Schema.String, DatasetRule),
  /** Minimum number of parties in a task, so that no aggregate reveals a single partner's data. */
  minParties: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** Task kind → numeric task parameter → upper bound, e.g. `{ "ml.horizontal": { "rounds": 50, "epsilon": 1 } }`. */
  limits: Schema.optional(Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Number))),
  /**
   * Joint query: who may receive output computed from this participant's ids (`params.receivers`, or the
   * hidden query's `params.querier`); absent = anyone the task names. Caps on set sizes go in `limits`
   * (`{ "query.psi": { "maxIds": 100000 }, "query.hidden": { "maxQueries": 100 } }`).
   */
  outputReceivers: Schema.optional(Schema.Array(Address)),
  modeling: Schema.optional(ModelingRule),
  /**
   * Smallest keys accepted, above the defaults (Paillier 2048 bits, CKKS 128-bit security), e.g.
   * `{ "minPaillierBits": 3072 }`. The agent enforces them on every offer (KeyPolicy.ts).
   */
  keys: Schema.optional(KeyRule)
})
export type Policy = typeof Policy.Type

export class PolicyError extends Schema.TaggedError<PolicyError>()("PolicyError", {
  reason: Schema.Literals(["FileNotFound", "InvalidJson", "InvalidField"]),
  file: Schema.String,
  /** Path of the offending field, e.g. `initiators[1]`; empty when the whole file is at fault. */
  field: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `policy ${this.file}${this.field === "" ? "" : ` field ${this.field}`}: ${this.reason}: ${this.detail}`
  }
}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join("")

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Decodes a policy value; unknown keys are errors, so a misspelt rule cannot be silently ignored. */
export const decode = (value: unknown, file = "<inline>"): Effect.Effect<Policy, PolicyError> =>
  Schema.decodeUnknownEffect(Policy)(value, { onExcessProperty: "error" }).pipe(
    Effect.mapError((error) => {
      const first = formatter(error.issue).issues[0]
      const path = (first?.path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? p.key : p)) as Array<PropertyKey>
      return new PolicyError({ reason: "InvalidField", file, field: formatPath(path), detail: first?.message ?? error.message })
    })
  )

/** Reads and decodes a policy file. */
export const load = (file: string): Effect.Effect<Policy, PolicyError> =>
  Effect.gen(function* () {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (cause) => new PolicyError({ reason: "FileNotFound", file, field: "", detail: String((cause as Error).message ?? cause) })
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (cause) => new PolicyError({ reason: "InvalidJson", file, field: "", detail: String((cause as Error).message ?? cause) })
    })
    return yield* decode(json, file)
  })

/** Promise facade of `load`: rejects with PolicyError. */
export const loadPromise = (file: string): Promise<Policy> => Effect.runPromise(load(file))
