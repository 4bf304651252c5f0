/**
 * `defineProtocol`: a task kind declared once, read by every host that touches it — the coordinator's scheduler
 * (decodes params at submit, runs the coordinator side), the participant agent (decodes the offer, asks its
 * consent policy about the columns and model, builds the handler table), the CLI, the typed client and the
 * notebooks kit (refuse a bad task before anything starts).
 *
 * A declaration holds:
 *   - `kind` and `params`: the Schema the task's `params` decode with (once per process boundary), and `check`
 *     for what a Schema cannot say (it sees the parties);
 *   - `stages`: the stage table — every stage in the order the coordinator runs it and who speaks in it; the
 *     round engine refuses a round of any other stage, the participant runtime a handler for one;
 *   - `result`: the Schema of what the coordinator side returns (the scheduler stores the encoded result);
 *   - `coordinator` and `participant`: the two roles, each a program over the params already decoded; the
 *     participant side's handler table carries in its type the services it needs (`ServicesOf`), so a host
 *     that does not provide one fails to compile;
 *   - `columns` (what the consent policy is asked about), `recipients` (who may read the result), and `model`
 *     (the model facts of training and prediction kinds).
 * How to write one: `README.md` beside this file.
 */
import type { Effect, Schema } from "effect"
import type { KeyMaterial } from "../crypto/KeyMaterial.ts"
import type { Party, TaskSpec } from "../task/TaskSpec.ts"
import type { AttemptSuspended, CoordinatorSession, ParticipantFailure, ProtocolError, RoundError, SessionStateFailed, Stage, StageHandler } from "./Protocol.ts"

/** What a consent policy's `modeling` rules judge (participant/src/policy/ConsentPolicy.ts). */
export interface ModelFacts {
  readonly parameters: number
  readonly layerTypes: ReadonlyArray<string>
  readonly rounds: number
  readonly minParticipantsPerRound: number
  readonly aggregation: string
  readonly differentialPrivacy: boolean
}

/** The task around the params: its envelope and the parties in task order. */
export interface TaskContext {
  readonly spec: TaskSpec
  /** Participant ids (checksummed addresses) in task order. */
  readonly parties: ReadonlyArray<string>
  /** How long one round waits for stragglers (the spec's `roundTimeoutMs` or the default). */
  readonly roundTimeoutMs: number
}

/** The task as one participant sees it: its own entry (address and dataset) besides the task. */
export interface PartyContext extends TaskContext {
  readonly party: Party
}

/** One row of the stage table. */
export interface StageEntry {
  readonly stage: Stage<any, any>
  /** Who answers it, in the protocol's words: "every party", "the receivers", "the label holder". */
  readonly speaks: string
}

export const speaks = (stage: Stage<any, any>, who: string): StageEntry => ({ stage, speaks: who })

export type AnyHandler = StageHandler<any, any, any>

/** The services a handler table needs: the union of its handlers' requirements. */
export type ServicesOf<H> = H extends StageHandler<any, any, infer R> ? R : never

export type CoordinatorError = RoundError | ParticipantFailure | ProtocolError | AttemptSuspended | SessionStateFailed

export interface Protocol<P = any, Result = any, R = any, CR = any> {
  readonly kind: string
  readonly describe: string
  readonly params: Schema.Codec<P, any>
  /** The first problem a Schema cannot express (e.g. "needs at least 2 parties"), or undefined. */
  readonly check: (params: P, task: TaskContext) => string | undefined
  readonly stages: ReadonlyArray<StageEntry>
  readonly result: Schema.Codec<Result, any>
  readonly coordinator: (session: CoordinatorSession, params: P, task: TaskContext) => Effect.Effect<Result, CoordinatorError, CR>
  readonly participant: (params: P, task: PartyContext) => ReadonlyArray<StageHandler<any, any, R>>
  /** Columns of `party`'s dataset the task reads (without a party: every column the task may read). */
  readonly columns: (params: P, party?: Party) => ReadonlyArray<string>
  /** Who may read the result (addresses). */
  readonly recipients: (params: P, task: TaskContext) => ReadonlyArray<string>
  readonly model?: (params: P, parties: number) => ModelFacts
  /** Keys the task makes its parties generate or trust; a participant refuses sizes below its minimum. */
  readonly keyMaterial?: (params: P) => KeyMaterial
}

export interface Declaration<P, PI, Result, ResultI, H extends AnyHandler, CR> {
  readonly kind: string
  readonly describe: string
  readonly params: Schema.Codec<P, PI>
  readonly check?: (params: NoInfer<P>, task: TaskContext) => string | undefined
  readonly stages: ReadonlyArray<StageEntry>
  readonly result: Schema.Codec<Result, ResultI>
  readonly coordinator: (session: CoordinatorSession, params: NoInfer<P>, task: TaskContext) => Effect.Effect<NoInfer<Result>, CoordinatorError, CR>
  readonly participant: (params: NoInfer<P>, task: PartyContext) => ReadonlyArray<H>
  readonly columns: (params: NoInfer<P>, party?: Party) => ReadonlyArray<string>
  /** Default: the initiator and every party. */
  readonly recipients?: (params: NoInfer<P>, task: TaskContext) => ReadonlyArray<string>
  readonly model?: (params: NoInfer<P>, parties: number) => ModelFacts
  /** Keys the task makes its parties generate or trust (Paillier bits, CKKS security); default none. */
  readonly keyMaterial?: (params: NoInfer<P>) => KeyMaterial
}

/**
 * The initiator and `accounts`, once each: for kinds whose outputs go to named parties (receivers, a querier, a
 * requester) while the coordinator's receipt of the run (counts and digests, never the outputs) also answers
 * whoever asked for it.
 */
export const initiatorAnd = (task: TaskContext, accounts: ReadonlyArray<string>): ReadonlyArray<string> =>
  [...new Set([task.spec.initiator, ...accounts].filter((a) => a !== ""))]

export const defineProtocol = <P, PI, Result, ResultI, H extends AnyHandler, CR = never>(
  declaration: Declaration<P, PI, Result, ResultI, H, CR>
): Protocol<P, Result, ServicesOf<H>, CR> => ({
  ...declaration,
  check: declaration.check ?? (() => undefined),
  recipients: declaration.recipients ?? ((_params, task) => [task.spec.initiator, ...task.parties])
})
