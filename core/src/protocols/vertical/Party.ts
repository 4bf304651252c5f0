/**
 * What one party of a vertical task keeps and how it reaches its peers: the state in `session.memory`
 * ("vertical/train", "vertical/predict"; the PSI join's channel keys under "query/psi"), the channel that seals
 * key shares and partial decryptions to one party, and the checked collection of partial decryptions. The stage
 * handlers are in `Training.ts` and `Prediction.ts`; `participant.ts` assembles the table of each task kind.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { randomBelow, randomBits } from "../../compute/Primes.ts"
import type { PrivateKey, PublicKey } from "../../crypto/paillier/Keys.ts"
import * as Packing from "../../crypto/paillier/Packing.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Dealer from "../../crypto/threshold-paillier/Dealer.ts"
import * as ThresholdSerialization from "../../crypto/threshold-paillier/Serialization.ts"
import type { KeyShare, PartialDecryptionBatch, ThresholdPublicKey } from "../../crypto/threshold-paillier/ThresholdPaillier.ts"
import { LocalData, type TabularData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import * as Channel from "../joint-query/Channel.ts"
import * as PsiParticipant from "../joint-query/psi/participant.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import type { ParticipantSession } from "../Protocol.ts"
import { handler, ParticipantFailure } from "../Protocol.ts"
import * as Linear from "./Linear.ts"
import * as PartialModels from "./PartialModels.ts"
import * as Secure from "./Secure.ts"
import * as Spec from "./spec.ts"

export interface Options {
  /** Fault injection for tests: this party sends partial decryptions whose proofs do not verify. */
  readonly cheat?: "partial-decryption"
  /**
   * Tests only, never a task param: fixes the schedule. This party's sample-selection integers (RPIs) come from
   * the seed, the party and the iteration instead of the CSPRNG, and the aligned rows are taken in id order
   * instead of the PSI's (which follows the run's random PSI keys), so a test with fixed task id and wallets
   * replays one split and one batch sequence. As a task param it would let whoever names it steer the sampling
   * that §6.4 keeps out of any one party's hands.
   */
  readonly testSchedule?: string
}

export type Task =
  | { readonly kind: "train"; readonly model: Linear.ModelKind; readonly params: Spec.TrainParams }
  | { readonly kind: "online"; readonly params: Spec.OnlineParams }
  | { readonly kind: "batch"; readonly params: Spec.BatchParams }

/** What joint-query's PSI participant keeps under "query/psi" (psi/participant.ts `State`), read-only here. */
export interface PsiView {
  readonly channel: { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }
  readonly peers?: ReadonlyMap<string, Channel.Advertisement>
  readonly aligned?: { readonly positions: ReadonlyArray<number>; readonly digest: string }
  readonly set: { readonly ids: ReadonlyArray<string>; readonly rows: ReadonlyArray<number> }
}
export const PSI_MEMORY = "query/psi"

export interface Key {
  readonly tpk: ThresholdPublicKey
  readonly share: KeyShare
  readonly policy: { readonly unsafeAllowTestKeySizes?: boolean }
}

export interface Rpi {
  readonly rpi: bigint
  readonly salt: Uint8Array
}

export interface TrainState {
  readonly hyper: Linear.Hyper
  readonly ids: ReadonlyArray<string>
  readonly block: Linear.Block
  readonly positive?: ReadonlyArray<boolean>
  readonly split: ReturnType<typeof Linear.split>
  w: Float64Array
  next: Rpi
  /** The iteration this attempt trains from: 0, or the boundary a resumed attempt restored (what is left sizes the stocks). */
  readonly from: number
  key?: Key
  features?: ReadonlyArray<number>
  batch?: ReadonlyArray<number>
  masks?: Map<number, Map<number, bigint>>
  /**
   * SVM (protocol 2): the label holder's judge key (spec.ts `keys`), with its private half at the label holder; the
   * other parties keep the first one the coordinator relays (`encoded`) and refuse another.
   */
  judge?: { readonly pk: PublicKey; readonly sk?: PrivateKey; readonly encoded: Uint8Array }
  /**
   * Encryption randomness made ahead in the pool's idle time (Secure.Stock): under the threshold key for the score
   * rows and blinding noise, under the judge key (SVM) for the label holder's factors and every party's masks.
   */
  stocks?: { readonly threshold: IterationStock; judge?: IterationStock }
  evaluation?: { readonly ids: ReadonlyArray<string>; readonly scores: ReadonlyArray<number>; readonly positive: ReadonlyArray<boolean> }
}

/**
 * A stock of encryption randomness (Secure.Stock) with what one iteration takes from it: a value per row of a batch
 * and `blinding` more after them (the threshold key's: the SVM's η per judge ciphertext; the judge key's: the label
 * holder's gradient masks). `need(i)` is what iterations i … last take, which caps a refill near the end.
 */
export interface IterationStock {
  readonly stock: Secure.Stock
  readonly blinding: number
  readonly need: (fromIteration: number) => number
}

export interface PredictState {
  readonly model: PartialModels.PartialModel
  readonly key: Key
  readonly ids: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Float64Array>
}

export const TRAIN = "vertical/train"
export const PREDICT = "vertical/predict"

export const failure = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })
export const fail = (session: ParticipantSession, stage: string, code: string, detail: string) => Effect.fail(failure(session, stage, code, detail))

/** Runs crypto code that throws typed errors (PaillierError, ThresholdPaillierError, …) as a ParticipantFailure. */
export const attempt = <A>(session: ParticipantSession, stage: string, code: string, f: () => A) =>
  Effect.try({ try: f, catch: (error) => failure(session, stage, code, error instanceof Error ? error.message : String(error)) })
export const compute = <A>(session: ParticipantSession, stage: string, effect: Effect.Effect<A, Secure.ComputeFailure>) =>
  Effect.mapError(effect, (error) => failure(session, stage, "ComputeFailed", error.message))

export const rpiCommit = Linear.rpiCommit
const randomRpi = (): Rpi => ({ rpi: randomBits(256), salt: crypto.getRandomValues(new Uint8Array(16)) })
/** The RPI a party with Options.testSchedule `seed` commits to for `iteration` (tests replay its schedule). */
export const seededRpi = (seed: string, party: string, iteration: number): Rpi => ({
  rpi: BigInt("0x" + bytesToHex(sha256(utf8ToBytes(`jointly/vertical/test-rpi|${seed}|${party}|${iteration}`)))),
  salt: crypto.getRandomValues(new Uint8Array(16))
})


export const shapeOf = (model: Linear.ModelKind, p: Spec.TrainParams, parties: number): Secure.Shape => ({
  parties,
  kappa: p.kappa ?? Spec.defaults.kappa,
  scaleBits: p.scaleBits ?? Spec.defaults.scaleBits,
  featureBound: p.featureBound ?? Spec.defaults.featureBound,
  batchSize: p.batchSize ?? Spec.defaults.batchSize,
  model
})

export const numericColumn = (session: ParticipantSession, stage: string, data: TabularData, column: string) => {
  if (!data.columnNames.includes(column)) return fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${column}`)
  if (!data.isNumeric(column)) return fail(session, stage, "NotNumeric", `column ${column} of dataset ${data.name} is not numeric`)
  return Effect.succeed({ name: column, values: data.numeric(column) })
}
/** The RPI this party commits to for `iteration` (§6.4). */
export const drawRpi = (options: Options, session: ParticipantSession, iteration: number): Rpi =>
  options.testSchedule === undefined ? randomRpi() : seededRpi(options.testSchedule, session.self, iteration)

export const psiState = (session: ParticipantSession, stage: string) => {
  const found = session.memory.get(PSI_MEMORY) as PsiView | undefined
  return found?.peers === undefined ? fail(session, stage, "MissingState", "no channel keys: the alignment phase did not run") : Effect.succeed(found as PsiView & { peers: ReadonlyMap<string, Channel.Advertisement> })
}
export const seal = (session: ParticipantSession, stage: string, to: string, label: string, bytes: Uint8Array) =>
  Effect.flatMap(psiState(session, stage), (s) => {
    const peer = s.peers.get(to)
    return peer === undefined ? fail(session, stage, "UnknownParty", to) : Channel.seal(session, stage, s.channel.secretKey, to, peer.channelPublicKey, `vertical|${label}`, bytes)
  })
export const open = (session: ParticipantSession, stage: string, from: string, label: string, box: Uint8Array) =>
  Effect.flatMap(psiState(session, stage), (s) => {
    const peer = s.peers.get(from)
    return peer === undefined ? fail(session, stage, "UnknownParty", from) : Channel.open(session, stage, s.channel.secretKey, from, peer.channelPublicKey, `vertical|${label}`, box)
  })

/** The training state `prepare` left, or MissingState. */
export const trainState = (session: ParticipantSession, stage: string) => {
  const s = session.memory.get(TRAIN) as TrainState | undefined
  return s === undefined ? fail(session, stage, "MissingState", "prepare has not run") : Effect.succeed(s)
}
export const keyed = (session: ParticipantSession, stage: string) => {
  const t = session.memory.get(TRAIN) as TrainState | undefined
  const p = session.memory.get(PREDICT) as PredictState | undefined
  const key = t?.key ?? p?.key
  return key === undefined ? fail(session, stage, "MissingState", "no threshold key yet") : Effect.succeed(key)
}
export const engineOf = (key: Key) => Secure.engine(key.tpk, key.policy)
export const indexOf = (session: ParticipantSession, party: string) => session.participants.indexOf(party)

/**
 * This party's own batch of partial decryptions of the decrypt rounds it will combine, keyed by the round's label
 * with a digest of the ciphertexts it decrypted: it combines this copy, never the one the coordinator relays back
 * (collectPartials).
 */
const OWN_PARTIALS = "vertical/own-partials"
type OwnPartials = Map<string, { readonly ciphertexts: string; readonly batch: PartialDecryptionBatch }>

/** Keeps this party's batch of the decrypt round `round` over the encoded `ciphertexts` until it combines the round. */
export const keepOwnPartials = (session: ParticipantSession, round: string, ciphertexts: Uint8Array, batch: PartialDecryptionBatch) => {
  let kept = session.memory.get(OWN_PARTIALS) as OwnPartials | undefined
  if (kept === undefined) session.memory.set(OWN_PARTIALS, kept = new Map())
  kept.set(round, { ciphertexts: bytesToHex(sha256(ciphertexts)), batch })
}

/**
 * This party's kept batch of `round`, forgotten as it is taken; undefined when it made none (it answered late or
 * not at all: the others' proven batches must do). A batch kept for other ciphertexts than those to combine means
 * the coordinator asked for the round twice, or relays another round's ciphertexts: CoordinatorTampering.
 */
const takeOwnPartials = (session: ParticipantSession, stage: string, round: string, ciphertexts: Uint8Array) => {
  const kept = session.memory.get(OWN_PARTIALS) as OwnPartials | undefined
  const own = kept?.get(round)
  kept?.delete(round)
  if (own === undefined || own.ciphertexts === bytesToHex(sha256(ciphertexts))) return Effect.succeed(own?.batch)
  return fail(session, stage, "CoordinatorTampering", `the coordinator has this party combine ${round} over other ciphertexts than it had it decrypt`)
}

/** A decrypt round to combine: its label, the encoded ciphertexts, and whether the batches come sealed to this party. */
export interface Round {
  readonly label: string
  readonly ciphertexts: Uint8Array
  readonly sealed: boolean
}

/**
 * Opens (when sealed) and checks each other party's batch of partial decryptions of all of `cs` (one proof per
 * party and round, ThresholdPaillier.ts "Batched proof"), and adds this party's own batch as it kept it
 * (keepOwnPartials): the copy relayed under its own name is ignored, as it is not proven to it — sealed to itself
 * it carries no proof (Secure.UNPROVED), and otherwise its proof is not checked here — so a coordinator that
 * altered it would change the plaintexts unnoticed. Returns t verified batches or the cheaters.
 */
export const collectPartials = (session: ParticipantSession, stage: string, key: Key, cs: ReadonlyArray<Paillier.Ciphertext>, relayed: ReadonlyArray<Spec.Sealed>, round: Round) =>
  Effect.gen(function*() {
    const engine = yield* engineOf(key)
    const byParty: Array<{ party: string; batch: PartialDecryptionBatch }> = []
    const cheaters = new Set<string>()
    const own = yield* takeOwnPartials(session, stage, round.label, round.ciphertexts)
    if (own !== undefined) byParty.push({ party: session.self, batch: own })
    for (const { participant, payload } of relayed) {
      if (participant === session.self) continue
      const bytes = round.sealed ? yield* open(session, stage, participant, `decrypt|${round.label}`, payload) : payload
      const index = indexOf(session, participant) + 1
      const decoded = yield* Effect.result(attempt(session, stage, "InvalidPartialDecryption", () => Secure.decodePartials(key.tpk, bytes)))
      if (decoded._tag === "Failure" || decoded.success.values.length !== cs.length || decoded.success.index !== index) cheaters.add(participant)
      else byParty.push({ party: participant, batch: decoded.success })
    }
    // Every proof but our own (kept here, never relayed) is checked (PROTOCOLS.md §6.1 "for malicious security, add ZK proofs").
    const others = byParty.filter((b) => b.party !== session.self)
    const flags = yield* compute(session, stage, Secure.verify(engine, cs, others.map((b) => b.batch)))
    others.forEach((b, i) => {
      if (flags[i] !== true) cheaters.add(b.party)
    })
    const valid = byParty.filter((b) => !cheaters.has(b.party)).sort((a, b) => (a.party === session.self ? -1 : b.party === session.self ? 1 : 0))
    return { engine, cheaters: [...cheaters], valid: valid.slice(0, key.tpk.threshold).map((b) => b.batch) }
  })
