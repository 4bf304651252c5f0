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
import { Effect } from "effect"
import type { ModelFacts } from "@jointly/core/internal/protocols/Define"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import type { ModelingRule, Policy } from "./PolicyFile.ts"

export { DatasetRule, decode, load, loadPromise, ModelingRule, Policy, PolicyError } from "./PolicyFile.ts"

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

/**
 * Promise facade of `decide` with a Promise-returning hook. A hook that rejects (the prompt closed, its channel
 * failed) is a human who could not be asked: the task is rejected, as with no hook — never approved by default.
 */
export const decidePromise = (
  policy: Policy,
  input: ConsentInput,
  ask?: (input: ConsentInput, verdict: Verdict) => Promise<{ readonly approve: boolean; readonly reason?: string }>
): Promise<Verdict> =>
  Effect.runPromise(decide(policy, input, ask === undefined ? undefined : (i, v) =>
    Effect.tryPromise(() => ask(i, v)).pipe(
      Effect.catch((error) => Effect.succeed({ approve: false, reason: `the human could not be asked: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}` }))
    )))
