/**
 * Every task kind Jointly runs, each declared once with `defineProtocol` in its own folder, and the one way a
 * spec becomes a typed task: `decodeTask` finds the kind's declaration, decodes `params` with its Schema and
 * runs its checks. The scheduler decodes at submit, the agent when an offer arrives, the protocol worker when a
 * task crosses into its thread, the CLI, client and notebooks before they start anything — each by this.
 */
import { Result, Schema } from "effect"
import type { Party, TaskSpec } from "../task/TaskSpec.ts"
import { defaultRoundTimeoutMs } from "../task/TaskSpec.ts"
import * as BatchPrediction from "./batch-prediction/index.ts"
import * as Contribution from "./contribution/index.ts"
import type { ModelFacts, Protocol, ServicesOf, TaskContext } from "./Define.ts"
import * as EncryptedLinear from "./encrypted-linear/index.ts"
import * as FederatedLearning from "./federated-learning/index.ts"
import * as JointArithmetic from "./joint-arithmetic/index.ts"
import * as JointQuery from "./joint-query/index.ts"
import * as JointStatistics from "./joint-statistics/index.ts"
import * as SecureBoost from "./secureboost/index.ts"
import * as SecureSvm from "./secure-svm/index.ts"
import * as Similarity from "./similarity/index.ts"
import * as Vertical from "./vertical/index.ts"

export const all = [
  JointStatistics.protocol,
  JointArithmetic.protocol,
  FederatedLearning.protocol,
  BatchPrediction.protocol,
  EncryptedLinear.protocol,
  SecureSvm.protocol,
  ...JointQuery.protocols,
  Similarity.protocol,
  ...Vertical.protocols,
  ...SecureBoost.protocols,
  Contribution.protocol
] as const

/** The services a participant host must provide to run every kind: a missing one is a compile error there. */
export type ParticipantServices = ServicesOf<ReturnType<(typeof all)[number]["participant"]>[number]>

/** The services the coordinator side of every kind needs (provided by the scheduler). */
export type CoordinatorServices = (typeof all)[number] extends Protocol<any, any, any, infer CR> ? CR : never

export const kinds: ReadonlyArray<string> = all.map((p) => p.kind)

/** The spec names a kind no declaration has. */
export class UnknownTaskKind extends Schema.TaggedError<UnknownTaskKind>()("UnknownTaskKind", {
  kind: Schema.String,
  known: Schema.Array(Schema.String)
}) {
  override get message() {
    return `unknown task kind ${JSON.stringify(this.kind)}; known kinds: ${this.known.join(", ")}`
  }
}

/** The spec's params do not decode with the kind's Schema, or fail its checks. `problem` names the first. */
export class InvalidTaskParams extends Schema.TaggedError<InvalidTaskParams>()("InvalidTaskParams", {
  kind: Schema.String,
  problem: Schema.String
}) {
  override get message() {
    return `${this.kind}: ${this.problem}`
  }
}

export type TaskRefused = UnknownTaskKind | InvalidTaskParams

/** A spec with its kind's declaration and its params decoded: what hosts run. */
export interface Task<P = any> extends TaskContext {
  readonly protocol: Protocol<P, any, ParticipantServices, CoordinatorServices>
  readonly params: P
}

export const lookup = (kind: string, protocols: ReadonlyArray<Task["protocol"]> = all): Task["protocol"] | undefined => protocols.find((p) => p.kind === kind)

/** The context of a spec whatever its kind: envelope, parties in task order, round timeout. */
export const contextOf = (spec: TaskSpec): TaskContext => ({
  spec,
  parties: spec.parties.map((p) => p.participant),
  roundTimeoutMs: spec.roundTimeoutMs ?? defaultRoundTimeoutMs
})

/** Decodes `spec.params` by the declaration of `spec.kind` (the spec's envelope is decoded already). */
export const decodeTask = (spec: TaskSpec, protocols: ReadonlyArray<Task["protocol"]> = all): Result.Result<Task, TaskRefused> => {
  const protocol = lookup(spec.kind, protocols)
  if (protocol === undefined) return Result.fail(new UnknownTaskKind({ kind: spec.kind, known: protocols.map((p) => p.kind) }))
  const decoded = Schema.decodeUnknownExit(protocol.params)(spec.params)
  if (decoded._tag === "Failure") {
    return Result.fail(new InvalidTaskParams({ kind: spec.kind, problem: `params: ${String(decoded.cause).replace(/^Error: /, "")}` }))
  }
  const context = contextOf(spec)
  const problem = protocol.check(decoded.value, context)
  if (problem !== undefined) return Result.fail(new InvalidTaskParams({ kind: spec.kind, problem }))
  return Result.succeed({ ...context, protocol, params: decoded.value })
}

/** The same, for callers that would rather catch: @throws UnknownTaskKind | InvalidTaskParams. */
export const decodeTaskOrThrow = (spec: TaskSpec, protocols?: ReadonlyArray<Task["protocol"]>): Task => {
  const decoded = decodeTask(spec, protocols)
  if (Result.isFailure(decoded)) throw decoded.failure
  return decoded.success
}

/**
 * The model facts of `params` of `kind` for a caller that holds params but no decoded task (a consent policy
 * asked directly): decoded here by the kind's declaration; undefined when the kind has no model or they fail.
 */
export const modelFactsOf = (kind: string, params: unknown, parties: number): ModelFacts | undefined => {
  const protocol = lookup(kind)
  if (protocol?.model === undefined) return undefined
  const decoded = Schema.decodeUnknownExit(protocol.params)(params)
  if (decoded._tag === "Failure") return undefined
  try {
    return protocol.model(decoded.value, parties)
  } catch {
    return undefined
  }
}

/**
 * Who may read a task's result — the one rule the API enforces and the consent policy is told: the spec's
 * `recipients` when it names them, otherwise the recipients the kind declares (e.g. a PSI's receivers, a query's
 * querier, or the initiator and the parties).
 */
export const resultRecipients = (task: Task): ReadonlyArray<string> => task.spec.recipients ?? task.protocol.recipients(task.params, task)

/** `resultRecipients` of a stored or submitted spec; the spec's initiator alone when it no longer decodes. */
export const resultRecipientsOfSpec = (spec: TaskSpec): ReadonlyArray<string> => {
  const task = decodeTask(spec)
  return Result.isSuccess(task) ? resultRecipients(task.success) : spec.recipients ?? [spec.initiator]
}

/** The result recipients that `params` of `kind` declare (receivers, a querier); [] when none decode. */
export const declaredRecipients = (kind: string, params: unknown): ReadonlyArray<string> => {
  const protocol = lookup(kind)
  if (protocol === undefined) return []
  const decoded = Schema.decodeUnknownExit(protocol.params)(params)
  if (decoded._tag === "Failure") return []
  const none = { spec: { kind, initiator: "", nonce: "", parties: [{ participant: "", dataset: "" }], params }, parties: [], roundTimeoutMs: 0 } as const
  try {
    return protocol.recipients(decoded.value, none).filter((r) => r !== "")
  } catch {
    return []
  }
}

/** The participant's side of a decoded task: its entry, or undefined when it is not a party. */
export const partyOf = (task: Task, participant: string): Party | undefined => task.spec.parties.find((p) => p.participant === participant)
