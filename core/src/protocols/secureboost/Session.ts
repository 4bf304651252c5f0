/**
 * What every party of a SecureBoost task shares between its stage handlers (Training.ts, Predicting.ts): its
 * state in `session.memory`, the aligned rows the PSI join left, the engine's errors as ParticipantFailure, and
 * the engine's messages sealed end to end to one peer over the PSI channel keys (vertical/Party.ts `seal`,
 * `open`), encoded with their spec.ts Schema.
 */
import { Effect, Schema } from "effect"
import type { ParticipantSession } from "../Protocol.ts"
import * as Party from "../vertical/Party.ts"
import type { SecureBoostError } from "./Errors.ts"
import type * as FeatureHolder from "./FeatureHolder.ts"
import type * as LabelHolder from "./LabelHolder.ts"
import type { PartyData } from "./LocalRun.ts"
import type { FeatureHolderModel, LabelHolderModel } from "./Model.ts"
import type { Objective } from "./Objective.ts"
import type * as Prediction from "./Prediction.ts"
import * as Stages from "./Stages.ts"

export const { fail, failure, attempt, numericColumn } = Party

/** The label holder's training state. */
export interface LabelHolderState {
  readonly role: "label-holder"
  readonly engine: LabelHolder.LabelHolder
  readonly data: PartyData & { readonly labels: Float64Array }
  model?: LabelHolderModel
  modelDigest?: string
}

/** A feature holder's training state. */
export interface FeatureHolderState {
  readonly role: "feature-holder"
  readonly engine: FeatureHolder.FeatureHolder
  readonly data: PartyData
  readonly index: number
  model?: FeatureHolderModel
  modelDigest?: string
}

export type TrainState = LabelHolderState | FeatureHolderState
export const TRAIN = "secureboost/train"

/** One prediction request at a party: its rows' values, and at the label holder the walk over the trees. */
export interface PredictState {
  readonly request: string
  readonly ids: ReadonlyArray<string>
  readonly values: Prediction.Values
  readonly modelDigest: string
  readonly labelHolderAddress: string
  readonly labelHolder?: {
    readonly walk: ReturnType<typeof Prediction.walker>
    readonly objective: Objective
    /** The evaluation of a training task: the test rows' labels. */
    readonly labels?: Float64Array
    round: number
  }
  readonly featureHolder?: FeatureHolderModel
}
export const PREDICT = "secureboost/predict"

export const trainState = (session: ParticipantSession, stage: string) => {
  const s = session.memory.get(TRAIN) as TrainState | undefined
  return s === undefined ? fail(session, stage, "MissingState", "prepare has not run") : Effect.succeed(s)
}
export const labelHolderState = (session: ParticipantSession, stage: string) =>
  Effect.flatMap(trainState(session, stage), (s) => (s.role === "label-holder" ? Effect.succeed(s) : fail(session, stage, "NotLabelHolder", "only the label holder answers this stage")))
export const featureHolderState = (session: ParticipantSession, stage: string) =>
  Effect.flatMap(trainState(session, stage), (s) => (s.role === "feature-holder" ? Effect.succeed(s) : fail(session, stage, "NotFeatureHolder", "only a feature holder answers this stage")))

/** The engine's typed error as this stage's failure (its reason is the code). */
export const run = <A>(session: ParticipantSession, stage: string, effect: Effect.Effect<A, SecureBoostError>) =>
  Effect.mapError(effect, (e) => failure(session, stage, e.reason, e.message))

/** The aligned rows of the PSI join, in its common order: dataset row indices, ids and the alignment digest. */
export const aligned = (session: ParticipantSession, stage: string) => {
  const psi = session.memory.get(Party.PSI_MEMORY) as Party.PsiView | undefined
  if (psi?.aligned === undefined) return fail(session, stage, "MissingAlignment", "the aligned PSI join has not finished")
  const positions = psi.aligned.positions
  return Effect.succeed({ rows: positions.map((i) => psi.set.rows[i]!), ids: positions.map((i) => psi.set.ids[i]!), digest: psi.aligned.digest })
}

/** The engine's party index of `participant` (0 = the label holder) and back. */
export const indexOf = (labelHolder: string, participants: ReadonlyArray<string>, participant: string) => Stages.orderOf(labelHolder, participants).indexOf(participant)
export const partyAt = (labelHolder: string, participants: ReadonlyArray<string>, index: number) => Stages.orderOf(labelHolder, participants)[index]

const text = new TextEncoder()
const untext = new TextDecoder()

/** Seals `value`, encoded by `schema`, from this party to `to`; `label` binds the box to its place in the run. */
export const sealMessage = <A, I>(session: ParticipantSession, stage: string, to: string, label: string, schema: Schema.Codec<A, I>, value: A) =>
  Party.seal(session, stage, to, `secureboost|${label}`, text.encode(JSON.stringify(Schema.encodeSync(schema)(value))))

/** Opens a box `from` sealed with `label` and decodes it with `schema` (InvalidMessage when it does not decode). */
export const openMessage = <A, I>(session: ParticipantSession, stage: string, from: string, label: string, schema: Schema.Codec<A, I>, box: Uint8Array) =>
  Effect.flatMap(Party.open(session, stage, from, `secureboost|${label}`, box), (bytes) =>
    Effect.try({
      try: () => Schema.decodeUnknownSync(schema)(JSON.parse(untext.decode(bytes))),
      catch: (e) => failure(session, stage, "InvalidMessage", `from ${from} (${label}): ${e instanceof Error ? e.message : String(e)}`)
    }))
