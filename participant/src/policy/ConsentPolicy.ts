/**
 * Consent policy (DESIGN.md §3 "Consent"): the participant's own rules for which tasks it joins, decoded from a
 * JSON file. `evaluate` applies the rules and names the first one a task breaks; `decide` adds the `mode`:
 * in "ask" mode a task that passes every rule still waits for a human (through the hook the agent supplies),
 * while a task that breaks a rule is rejected without asking.
 *
 * Example file:
 * ```json
 * { "mode": "auto", "taskKinds": ["statistics.horizontal"], "initiators": ["*"], "minParties": 3,
 *   "datasets": { "pima": { "columns": ["age", "glucose"] }, "wine": {} },
 *   "limits": { "statistics.horizontal": { "rounds": 10 } } }
 * ```
 */
import { Effect, Schema, SchemaIssue } from "effect"
import { isAddress } from "ethers"
import { readFile } from "node:fs/promises"
import type { ModelFacts } from "@jointly/core/internal/protocols/Define"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
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

/** What a participant is asked to consent to. */
export interface ConsentInput {
  readonly kind: string
  /** Chain address of the initiator. */
  readonly initiator: string
  readonly parties: number
  readonly dataset: string
  readonly columns: ReadonlyArray<string>
  readonly params: unknown
  /** The model's facts (the kind's declaration); derived from `kind` and `params` when absent. */
  readonly model?: ModelFacts
  /** Who may read the result (the kind's declaration); joint-query tasks are judged by it when present. */
  readonly recipients?: ReadonlyArray<string>
}

export type Rule = "taskKinds" | "initiators" | "minParties" | "datasets" | "columns" | "limits" | "modeling" | "receivers" | "human"

export interface Verdict {
  readonly decision: "approve" | "reject"
  /** Human-readable, names the failed rule on a rejection. */
  readonly reason: string
  /** The rule that rejected the task, when one did. */
  readonly rule?: Rule
  /** True when every rule passed but the policy's mode is "ask": `decide` will consult a human. */
  readonly needsHuman: boolean
}

const reject = (rule: Rule, reason: string): Verdict => ({ decision: "reject", reason, rule, needsHuman: false })

const sameAddress = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/** Applies the rules in a fixed order and reports the first that fails. Pure; never asks anyone. */
export const evaluate = (policy: Policy, input: ConsentInput): Verdict => {
  if (!policy.taskKinds.includes("*") && !policy.taskKinds.includes(input.kind)) {
    return reject("taskKinds", `task kind ${input.kind} not accepted`)
  }
  if (!policy.initiators.some((allowed) => allowed === "*" || sameAddress(allowed, input.initiator))) {
    return reject("initiators", `initiator ${input.initiator} not in allowed initiators`)
  }
  if (input.parties < policy.minParties) {
    return reject("minParties", `needs at least ${policy.minParties} parties, task has ${input.parties}`)
  }
  const dataset = Object.hasOwn(policy.datasets, input.dataset) ? policy.datasets[input.dataset] : undefined
  if (dataset === undefined) return reject("datasets", `dataset ${input.dataset} is not shareable`)
  if (dataset.columns !== undefined) {
    const denied = input.columns.find((column) => !dataset.columns!.includes(column))
    if (denied !== undefined) return reject("columns", `column ${denied} of dataset ${input.dataset} is not shareable`)
  }
  const limits = policy.limits !== undefined && Object.hasOwn(policy.limits, input.kind) ? policy.limits[input.kind]! : {}
  for (const [param, max] of Object.entries(limits)) {
    const value = typeof input.params === "object" && input.params !== null ? (input.params as Record<string, unknown>)[param] : undefined
    if (value === undefined) continue
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return reject("limits", `parameter ${param} of task kind ${input.kind} must be a finite number to be checked against its limit ${max}`)
    }
    if (value > max) return reject("limits", `parameter ${param} = ${value} exceeds the limit ${max} for task kind ${input.kind}`)
  }
  const receiver = policy.outputReceivers === undefined ? undefined : deniedReceiver(policy.outputReceivers, input)
  if (receiver !== undefined) return reject("receivers", `${receiver} may not receive output of task kind ${input.kind}`)
  const modeling = policy.modeling === undefined ? undefined : checkModel(policy.modeling, input)
  if (modeling !== undefined) return reject("modeling", modeling)
  return policy.mode === "ask"
    ? { decision: "approve", reason: "every rule passed; the policy asks a human", needsHuman: true }
    : { decision: "approve", reason: "every rule passed", needsHuman: false }
}

/** The first output receiver a joint-query task names that the policy does not allow. */
const deniedReceiver = (allowed: ReadonlyArray<string>, input: ConsentInput): string | undefined => {
  if (!input.kind.startsWith("query.") || allowed.includes("*")) return undefined
  const named = input.recipients ?? Protocols.declaredRecipients(input.kind, input.params)
  return named.find((r) => !allowed.some((a) => sameAddress(a, r)))
}

const modelFactsOf = (input: ConsentInput): ModelFacts | undefined => {
  return input.model ?? Protocols.modelFactsOf(input.kind, input.params, input.parties)
}

/** The first modeling bound the task breaks, or undefined. Tasks without a model are not judged here. */
const checkModel = (rule: ModelingRule, input: ConsentInput): string | undefined => {
  const facts = modelFactsOf(input)
  if (facts === undefined) return undefined
  if (rule.maxParameters !== undefined && facts.parameters > rule.maxParameters) {
    return `the model has ${facts.parameters} parameters, more than the ${rule.maxParameters} allowed`
  }
  const denied = rule.layerTypes === undefined ? undefined : facts.layerTypes.find((t) => !rule.layerTypes!.includes(t))
  if (denied !== undefined) return `layer type ${denied} is not allowed (allowed: ${rule.layerTypes!.join(", ")})`
  if (rule.maxRounds !== undefined && facts.rounds > rule.maxRounds) return `${facts.rounds} training rounds exceed the ${rule.maxRounds} allowed`
  if (rule.minParticipantsPerRound !== undefined && facts.rounds > 0 && facts.minParticipantsPerRound < rule.minParticipantsPerRound) {
    return `rounds may aggregate as few as ${facts.minParticipantsPerRound} updates, fewer than the ${rule.minParticipantsPerRound} required`
  }
  if (rule.requireSecureAggregation && facts.rounds > 0 && facts.aggregation !== "secure") {
    return `updates would be aggregated "${facts.aggregation}", and this policy requires secure aggregation`
  }
  return undefined
}

/** The hook through which a human decides a task in "ask" mode (CLI prompt, dashboard, embedder callback). */
export type AskHuman = (input: ConsentInput, verdict: Verdict) => Effect.Effect<{ readonly approve: boolean; readonly reason?: string }>

/**
 * The consent decision the agent signs: `evaluate`, then, in "ask" mode, the human's answer. Without a hook an
 * "ask" policy rejects, so a missing prompt can never approve by default.
 */
export const decide = (policy: Policy, input: ConsentInput, ask?: AskHuman): Effect.Effect<Verdict> =>
  Effect.gen(function* () {
    const verdict = evaluate(policy, input)
    if (!verdict.needsHuman) return verdict
    if (ask === undefined) return reject("human", "the policy asks a human and no one can be asked")
    const answer = yield* ask(input, verdict)
    return answer.approve
      ? { decision: "approve", reason: answer.reason ?? "approved by a human", needsHuman: false }
      : reject("human", answer.reason ?? "rejected by a human")
  })

/** Promise facade of `decide` with a Promise-returning hook. */
export const decidePromise = (
  policy: Policy,
  input: ConsentInput,
  ask?: (input: ConsentInput, verdict: Verdict) => Promise<{ readonly approve: boolean; readonly reason?: string }>
): Promise<Verdict> =>
  Effect.runPromise(decide(policy, input, ask === undefined ? undefined : (i, v) => Effect.promise(() => ask(i, v))))

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
