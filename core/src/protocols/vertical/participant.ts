/**
 * Participant side of vertical training and joint prediction (the protocol, its stages and leakage: spec.ts).
 *
 * The first phase is the aligned PSI join of joint-query (its handlers are part of this table); its state in
 * `session.memory` ("query/psi": the common order of this party's rows, the alignment digest, and the signed
 * X25519 channel keys of every party) is read here, and the same channel seals the dealer's key shares and the
 * partial decryptions meant for one party. Secrets (key share, RPIs, blinding factors, masks, the partial
 * model) stay in `session.memory` under "vertical/…"; the partial model (after training) and the training
 * progress at each iteration boundary (for a coordinator restart) are sealed in the PartialModels store.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { Primes, randomBelow, randomBits } from "../../compute/Primes.ts"
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
import type * as PsiSpec from "../joint-query/psi/spec.ts"
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
interface PsiView {
  readonly channel: { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array }
  readonly peers?: ReadonlyMap<string, Channel.Advertisement>
  readonly aligned?: { readonly positions: ReadonlyArray<number>; readonly digest: string }
  readonly set: { readonly ids: ReadonlyArray<string>; readonly rows: ReadonlyArray<number> }
}
const PSI_MEMORY = "query/psi"

interface Key {
  readonly tpk: ThresholdPublicKey
  readonly share: KeyShare
  readonly policy: { readonly unsafeAllowTestKeySizes?: boolean }
}

interface Rpi {
  readonly rpi: bigint
  readonly salt: Uint8Array
}

interface TrainState {
  readonly hyper: Linear.Hyper
  readonly ids: ReadonlyArray<string>
  readonly block: Linear.Block
  readonly positive?: ReadonlyArray<boolean>
  readonly split: ReturnType<typeof Linear.split>
  w: Float64Array
  next: Rpi
  key?: Key
  features?: ReadonlyArray<number>
  batch?: ReadonlyArray<number>
  masks?: Map<number, Map<number, bigint>>
  evaluation?: { readonly ids: ReadonlyArray<string>; readonly scores: ReadonlyArray<number>; readonly positive: ReadonlyArray<boolean> }
}

interface PredictState {
  readonly model: PartialModels.PartialModel
  readonly key: Key
  readonly ids: ReadonlyArray<string>
  readonly rows: ReadonlyArray<Float64Array>
}

const TRAIN = "vertical/train"
const PREDICT = "vertical/predict"

const failure = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })
const fail = (session: ParticipantSession, stage: string, code: string, detail: string) => Effect.fail(failure(session, stage, code, detail))

/** Runs crypto code that throws typed errors (PaillierError, ThresholdPaillierError, …) as a ParticipantFailure. */
const attempt = <A>(session: ParticipantSession, stage: string, code: string, f: () => A) =>
  Effect.try({ try: f, catch: (error) => failure(session, stage, code, error instanceof Error ? error.message : String(error)) })
const compute = <A>(session: ParticipantSession, stage: string, effect: Effect.Effect<A, Secure.ComputeFailure>) =>
  Effect.mapError(effect, (error) => failure(session, stage, "ComputeFailed", error.message))

const rpiCommit = Linear.rpiCommit
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

const numericColumn = (session: ParticipantSession, stage: string, data: TabularData, column: string) => {
  if (!data.columnNames.includes(column)) return fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${column}`)
  if (!data.isNumeric(column)) return fail(session, stage, "NotNumeric", `column ${column} of dataset ${data.name} is not numeric`)
  return Effect.succeed({ name: column, values: data.numeric(column) })
}

export const handlers = (datasetName: string, task: Task, parties: ReadonlyArray<string>, options: Options = {}) => {
  const psiParams: PsiSpec.Params = {
    idColumn: task.params.idColumn,
    receivers: (task.kind === "train" ? parties : [task.params.requester]) as unknown as PsiSpec.Params["receivers"],
    maxIds: task.kind === "train" ? task.params.maxIds : 10_000_000
  }
  const psi = PsiParticipant.handlers(datasetName, "aligned", psiParams)
  /** The RPI this party commits to for `iteration` (§6.4). */
  const drawRpi = (session: ParticipantSession, iteration: number): Rpi =>
    options.testSchedule === undefined ? randomRpi() : seededRpi(options.testSchedule, session.self, iteration)

  const psiState = (session: ParticipantSession, stage: string) => {
    const found = session.memory.get(PSI_MEMORY) as PsiView | undefined
    return found?.peers === undefined ? fail(session, stage, "MissingState", "no channel keys: the alignment phase did not run") : Effect.succeed(found as PsiView & { peers: ReadonlyMap<string, Channel.Advertisement> })
  }
  const seal = (session: ParticipantSession, stage: string, to: string, label: string, bytes: Uint8Array) =>
    Effect.flatMap(psiState(session, stage), (s) => {
      const peer = s.peers.get(to)
      return peer === undefined ? fail(session, stage, "UnknownParty", to) : Channel.seal(session, stage, s.channel.secretKey, to, peer.channelPublicKey, `vertical|${label}`, bytes)
    })
  const open = (session: ParticipantSession, stage: string, from: string, label: string, box: Uint8Array) =>
    Effect.flatMap(psiState(session, stage), (s) => {
      const peer = s.peers.get(from)
      return peer === undefined ? fail(session, stage, "UnknownParty", from) : Channel.open(session, stage, s.channel.secretKey, from, peer.channelPublicKey, `vertical|${label}`, box)
    })

  const train = (session: ParticipantSession, stage: string) => {
    const s = session.memory.get(TRAIN) as TrainState | undefined
    return s === undefined ? fail(session, stage, "MissingState", "prepare has not run") : Effect.succeed(s)
  }
  const keyed = (session: ParticipantSession, stage: string) => {
    const t = session.memory.get(TRAIN) as TrainState | undefined
    const p = session.memory.get(PREDICT) as PredictState | undefined
    const key = t?.key ?? p?.key
    return key === undefined ? fail(session, stage, "MissingState", "no threshold key yet") : Effect.succeed(key)
  }
  const engineOf = (key: Key) => Secure.engine(key.tpk, key.policy)
  const trainParams = task.kind === "train" ? task.params : undefined
  const shape = (session: ParticipantSession) => shapeOf(task.kind === "train" ? task.model : "svm", trainParams!, session.participants.length)
  const indexOf = (session: ParticipantSession, party: string) => session.participants.indexOf(party)

  /**
   * Opens (when sealed) and checks each party's batch of partial decryptions of all of `cs` (one proof per party
   * and round, ThresholdPaillier.ts "Batched proof"); returns t verified batches or the cheaters.
   */
  const collectPartials = (session: ParticipantSession, stage: string, key: Key, cs: ReadonlyArray<Paillier.Ciphertext>, sealed: ReadonlyArray<Spec.Sealed>, label: string | undefined) =>
    Effect.gen(function*() {
      const engine = yield* engineOf(key)
      const byParty: Array<{ party: string; batch: PartialDecryptionBatch }> = []
      const cheaters = new Set<string>()
      for (const { participant, payload } of sealed) {
        const bytes = label === undefined ? payload : yield* open(session, stage, participant, label, payload)
        const index = indexOf(session, participant) + 1
        const decoded = yield* Effect.result(attempt(session, stage, "InvalidPartialDecryption", () => Secure.decodePartials(key.tpk, bytes)))
        if (decoded._tag === "Failure" || decoded.success.values.length !== cs.length || decoded.success.index !== index) cheaters.add(participant)
        else byParty.push({ party: participant, batch: decoded.success })
      }
      // Every proof but our own is checked (PROTOCOLS.md §6.1 "for malicious security, add ZK proofs").
      const others = byParty.filter((b) => b.party !== session.self)
      const flags = yield* compute(session, stage, Secure.verify(engine, cs, others.map((b) => b.batch)))
      others.forEach((b, i) => {
        if (flags[i] !== true) cheaters.add(b.party)
      })
      const valid = byParty.filter((b) => !cheaters.has(b.party)).sort((a, b) => (a.party === session.self ? -1 : b.party === session.self ? 1 : 0))
      return { engine, cheaters: [...cheaters], valid: valid.slice(0, key.tpk.threshold).map((b) => b.batch) }
    })

  // ---- training -----------------------------------------------------------------------------------------

  const prepare = handler(Spec.prepare, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.prepare.name
      if (trainParams === undefined || task.kind !== "train") return yield* fail(session, stage, "UnexpectedStage", "not a training task")
      const existing = session.memory.get(TRAIN) as TrainState | undefined
      if (existing !== undefined) return yield* fail(session, stage, "DuplicateStage", "already prepared")
      const aligned = (session.memory.get(PSI_MEMORY) as PsiView | undefined)?.aligned
      const psiSet = (session.memory.get(PSI_MEMORY) as PsiView | undefined)?.set
      if (aligned === undefined || psiSet === undefined) return yield* fail(session, stage, "MissingAlignment", "the aligned PSI join has not finished")
      const data = yield* (yield* LocalData).dataset(datasetName)
      // A resumed attempt trains on the order of the first (this attempt's PSI keys give another one).
      const progress = request.resumeAt === undefined
        ? undefined
        : yield* Effect.mapError(PartialModels.loadProgress(session.self, session.taskId, request.resumeAt), (e) =>
          failure(session, stage, e.reason === "Missing" ? "NoProgress" : `Progress${e.reason}`, e.message))
      let order = options.testSchedule === undefined ? aligned.positions : [...aligned.positions].sort((a, b) => (psiSet.ids[a]! < psiSet.ids[b]! ? -1 : psiSet.ids[a]! > psiSet.ids[b]! ? 1 : 0))
      if (progress !== undefined) {
        const positionOf = new Map(aligned.positions.map((i) => [psiSet.ids[i]!, i] as const))
        if (progress.taskId !== session.taskId || progress.iteration !== request.resumeAt) {
          return yield* fail(session, stage, "ResumeMismatch", `the saved progress is of ${progress.taskId} at iteration ${progress.iteration}, not ${session.taskId} at ${request.resumeAt}`)
        }
        if (progress.ids.length !== positionOf.size || progress.ids.some((id) => !positionOf.has(id))) {
          return yield* fail(session, stage, "ResumeMismatch", "this attempt's join differs from the one the saved progress was trained on")
        }
        order = progress.ids.map((id) => positionOf.get(id)!)
      }
      const rows = order.map((i) => psiSet.rows[i]!)
      const ids = order.map((i) => psiSet.ids[i]!)
      if (rows.length < 4) return yield* fail(session, stage, "TooFewRows", `${rows.length} shared rows`)
      const split = Linear.split(rows.length, trainParams.testFraction ?? Spec.defaults.testFraction, trainParams.splitSeed ?? Spec.defaults.splitSeed)
      const mine = trainParams.features.find((f) => f.party.toLowerCase() === session.self.toLowerCase())?.columns ?? []
      const columns = []
      for (const c of mine) columns.push(yield* numericColumn(session, stage, data, c))
      const isHolder = trainParams.labelHolder.toLowerCase() === session.self.toLowerCase()
      let positive: Array<boolean> | undefined
      if (isHolder) {
        const column = trainParams.label.column
        if (!data.columnNames.includes(column)) return yield* fail(session, stage, "MissingColumn", `dataset ${data.name} has no label column ${column}`)
        const text = data.strings(column)
        const want = String(trainParams.label.positive)
        const numeric = typeof trainParams.label.positive === "number" && data.isNumeric(column) ? data.numeric(column) : undefined
        const empty = rows.filter((r) => text[r] === undefined || text[r]!.trim() === "").length
        if (empty > 0) return yield* fail(session, stage, "InvalidLabel", `${empty} aligned row(s) have no label`)
        positive = rows.map((r) => (numeric ? numeric[r] === trainParams.label.positive : text[r]!.trim() === want))
      }
      const block = Linear.block(columns, rows, split.train, trainParams.featureBound ?? Spec.defaults.featureBound, isHolder)
      if (Linear.isProblem(block)) return yield* fail(session, stage, "InvalidFeature", `column ${block.column}: ${block.detail}`)
      if (progress !== undefined && progress.weights.length !== block.columns.length) return yield* fail(session, stage, "ResumeMismatch", "the saved weights do not fit this party's columns")
      const start = request.resumeAt ?? 0
      const next = progress === undefined ? drawRpi(session, 0) : { rpi: BigInt(progress.rpi), salt: progress.salt }
      const w = progress === undefined ? new Float64Array(block.columns.length) : Float64Array.from(progress.weights)
      const state: TrainState = { hyper: Spec.hyperOf(task.model, trainParams), ids, block, positive, split, w, next }
      session.memory.set(TRAIN, state)
      return {
        alignment: aligned.digest,
        rows: rows.length,
        features: block.columns.length,
        constantColumns: block.constantColumns,
        clipped: block.clipped,
        commit: rpiCommit(session.taskId, start, session.self, next),
        ...(progress === undefined ? {} : { resumed: PartialModels.resumeDigest(session.taskId, progress.iteration, ids) })
      }
    })
  )

  const deal = handler(Spec.deal, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.deal.name
      if (trainParams === undefined) return yield* fail(session, stage, "UnexpectedStage", "not a training task")
      const s = yield* psiState(session, stage)
      const kernels = yield* Secure.kernels
      const primes = (yield* Primes).generate
      const sealTo = (recipient: string, plaintext: Uint8Array) => {
        const peer = s.peers.get(recipient)
        if (peer === undefined) throw new Error(`no channel key for ${recipient}`)
        return Effect.runPromise(Channel.seal(session, stage, s.channel.secretKey, recipient, peer.channelPublicKey, `vertical|share|${recipient}`, plaintext))
      }
      const ceremony = yield* Effect.tryPromise({
        try: () =>
          Dealer.runDealerCeremony({
            bits: trainParams.keyBits ?? Spec.defaults.keyBits,
            threshold: trainParams.threshold ?? session.participants.length,
            parties: session.participants,
            encryptTo: sealTo,
            context: utf8ToBytes(session.taskId),
            unsafeAllowTestKeySizes: trainParams.unsafeAllowTestKeySizes,
            primes,
            kernels
          }),
        catch: (error) => failure(session, stage, "CeremonyFailed", error instanceof Error ? error.message : String(error))
      })
      return {
        publicKey: ThresholdSerialization.encodePublicKey(ceremony.publicKey),
        shares: ceremony.encryptedShares.map((e) => ({ recipient: e.recipient, index: e.index, box: e.ciphertext })),
        transcriptDigest: ceremony.transcriptDigest
      }
    })
  )

  const keys = handler(Spec.keys, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.keys.name
      const t = yield* train(session, stage)
      if (t.key !== undefined) return yield* fail(session, stage, "DuplicateStage", "key already accepted")
      const policy = { unsafeAllowTestKeySizes: trainParams!.unsafeAllowTestKeySizes === true }
      const tpk = yield* attempt(session, stage, "InvalidKey", () => ThresholdSerialization.decodePublicKey(request.publicKey, policy))
      const index = indexOf(session, session.self) + 1
      if (tpk.parties !== session.participants.length || tpk.threshold !== (trainParams!.threshold ?? session.participants.length)) {
        return yield* fail(session, stage, "InvalidKey", `key for ${tpk.threshold} of ${tpk.parties}, task needs ${trainParams!.threshold ?? session.participants.length} of ${session.participants.length}`)
      }
      const bits = trainParams!.keyBits ?? Spec.defaults.keyBits
      if (tpk.publicKey.bits !== bits) return yield* fail(session, stage, "InvalidKey", `${tpk.publicKey.bits}-bit key, task asks ${bits}`)
      const own = request.shares.find((x) => x.recipient === session.self)
      if (own === undefined || own.index !== index) return yield* fail(session, stage, "MissingShare", "the dealer sent no share for this party")
      const bytes = yield* open(session, stage, request.dealer, `share|${session.self}`, own.box)
      const kernels = yield* Secure.kernels
      const share = yield* attempt(session, stage, "ShareMismatch", () => Dealer.acceptShare(tpk, bytes, index, kernels))
      bytes.fill(0)
      const transcriptDigest = Dealer.transcriptDigestOf(tpk, session.participants, request.shares.map((x) => ({ recipient: x.recipient, index: x.index, ciphertext: x.box })), utf8ToBytes(session.taskId))
      if (request.features.length !== session.participants.length) return yield* fail(session, stage, "InvalidRequest", "feature counts of every party expected")
      if (request.features[index - 1] !== t.block.columns.length) return yield* fail(session, stage, "InvalidRequest", "own feature count misreported")
      t.key = { tpk, share, policy }
      t.features = request.features
      // The key must support every layout before the first iteration (§6.3 item 5 headroom).
      yield* attempt(session, stage, "HeadroomExceeded", () => {
        Secure.judgeLayout(tpk.publicKey, shape(session))
        Secure.gradientLayout(tpk.publicKey, shape(session))
      })
      return { transcriptDigest, reveal: { rpi: t.next.rpi.toString(), salt: t.next.salt } }
    })
  )

  const score = handler(Spec.score, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.score.name
      const t = yield* train(session, stage)
      if (t.key === undefined) return yield* fail(session, stage, "MissingState", "no key")
      // PROTOCOLS.md §6.4 (ours): every reveal must open the commitment made before anyone revealed.
      const rpis: Array<bigint> = []
      for (const party of session.participants) {
        const reveal = request.reveals[party]
        const commit = request.commits[party]
        if (reveal === undefined || commit === undefined) return yield* fail(session, stage, "CommitMismatch", `no commitment or reveal of ${party}`)
        if (rpiCommit(session.taskId, request.iteration, party, reveal) !== commit) return yield* fail(session, stage, "CommitMismatch", `${party}'s reveal does not open its commitment`)
        rpis.push(BigInt(reveal.rpi))
      }
      const seed = Linear.batchSeed(session.taskId, request.iteration, rpis)
      const batch = Linear.batchOf(seed, t.split.train.length, t.hyper.batchSize).map((i) => t.split.train[i]!)
      t.batch = batch
      t.next = drawRpi(session, request.iteration + 1)
      const s = shape(session)
      const engine = yield* engineOf(t.key)
      const limit = 1n << BigInt(Secure.zBits(s) - 4)
      const S2 = 1n << BigInt(2 * t.hyper.scaleBits)
      const values: Array<bigint> = []
      for (const j of batch) {
        const z = Linear.partialScore(t.w, t.block.rows[j]!, t.hyper.scaleBits)
        if (z >= limit || -z >= limit) return yield* fail(session, stage, "ScoreOverflow", `a partial score exceeds 2^${Secure.zBits(s) - 4 - 2 * t.hyper.scaleBits}: lower eta or featureBound`)
        if (t.hyper.model === "svm") {
          // §6.3 with the label at its holder: v = 2z − 2y·S² + y, and u = y·v is the corrected odd judge value.
          const y = t.positive === undefined ? 0n : t.positive[j] ? 1n : -1n
          values.push(2n * z - 2n * y * S2 + y)
        } else {
          values.push(t.positive === undefined ? z : z + 2n * S2 - (t.positive[j] ? 4n * S2 : 0n))
        }
      }
      let plaintexts = values
      if (t.hyper.model === "svm") {
        const layout = Secure.judgeLayout(engine.pk, s, trainParams!.slotsPerComparison)
        plaintexts = []
        for (let i = 0; i < values.length; i += layout.slots) plaintexts.push(Packing.pack(layout, values.slice(i, i + layout.slots)))
      }
      const cs = yield* compute(session, stage, Secure.encryptSigned(engine, plaintexts))
      return { ciphertexts: Secure.encodeCiphertexts(engine.pk, cs), commit: rpiCommit(session.taskId, request.iteration + 1, session.self, t.next) }
    })
  )

  const blindHandler = handler(Spec.blind, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.blind.name
      const t = yield* train(session, stage)
      if (t.key === undefined) return yield* fail(session, stage, "MissingState", "no key")
      const engine = yield* engineOf(t.key)
      const s = shape(session)
      const layout = Secure.judgeLayout(engine.pk, s, trainParams!.slotsPerComparison)
      const cs = yield* attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(engine.pk, request.ciphertexts))
      // §6.3 (2): c ← c^ρ·[[η]] with secret ρ ∈ [2^κ, 2^(κ+1)), η ∈ [0, ρ) per slot; the fresh encryption of η re-randomises.
      const rhos = cs.map(() => (1n << BigInt(s.kappa)) + randomBelow(1n << BigInt(s.kappa)))
      const etas = rhos.map((rho) => Packing.pack(layout, Array.from({ length: layout.slots }, () => randomBelow(rho))))
      const noise = yield* compute(session, stage, Secure.encryptSigned(engine, etas))
      const out = cs.map((c, i) => Paillier.add(Paillier.multiplyScalar(c, rhos[i]!, engine.kernels), noise[i]!))
      return { ciphertexts: Secure.encodeCiphertexts(engine.pk, out) }
    })
  )

  const decryptHandler = handler(Spec.decrypt, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.decrypt.name
      const key = yield* keyed(session, stage)
      const engine = yield* engineOf(key)
      const cs = yield* attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(engine.pk, request.ciphertexts))
      let partials = yield* compute(session, stage, Secure.partialDecrypt(engine, key.share, cs))
      // One forged value in an otherwise honest batch: the batch proof must still catch it.
      if (options.cheat === "partial-decryption") partials = { ...partials, values: partials.values.map((v, j) => (j === partials.values.length - 1 ? (v * 4n) % engine.pk.n2 : v)) }
      const bytes = Secure.encodePartials(key.tpk, partials)
      return { partials: request.sealTo === undefined ? bytes : yield* seal(session, stage, request.sealTo, `decrypt|${request.label}`, bytes) }
    })
  )

  const judgeHandler = handler(Spec.judge, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.judge.name
      const t = yield* train(session, stage)
      if (t.key === undefined || t.batch === undefined || t.positive === undefined) return yield* fail(session, stage, "NotLabelHolder", "only the label holder judges")
      const key = t.key
      const cs = yield* attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(key.tpk.publicKey, request.ciphertexts))
      const { engine, cheaters, valid } = yield* collectPartials(session, stage, key, cs, request.partials, `decrypt|judge/${request.iteration}`)
      if (cheaters.length > 0 || valid.length < key.tpk.threshold) return { cheaters, factors: new Uint8Array(0) }
      const layout = Secure.judgeLayout(engine.pk, shape(session), trainParams!.slotsPerComparison)
      const plain = yield* attempt(session, stage, "DecryptionFailed", () => Secure.combineAll(engine, cs, valid))
      const v = plain.flatMap((x) => Packing.unpack(layout, x)).slice(0, t.batch.length)
      // I_j = [u_j < 0] with u_j = y_j·v_j (§6.3 "Correct condition"); the gradient factor is d_j = I_j·y_j.
      const factors = t.batch.map((j, i) => {
        const y = t.positive![j] ? 1n : -1n
        return y * v[i]! < 0n ? y : 0n
      })
      const encrypted = yield* compute(session, stage, Secure.encryptSigned(engine, factors))
      return { cheaters: [], factors: Secure.encodeCiphertexts(engine.pk, encrypted) }
    })
  )

  const gradientHandler = handler(Spec.gradient, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.gradient.name
      const t = yield* train(session, stage)
      if (t.key === undefined || t.batch === undefined || t.features === undefined) return yield* fail(session, stage, "MissingState", "no batch")
      const engine = yield* engineOf(t.key)
      const s = shape(session)
      const lists = yield* attempt(session, stage, "InvalidCiphertext", () => request.inputs.map((b) => Secure.decodeCiphertexts(engine.pk, b)))
      if (lists.length === 0 || lists.some((l) => l.length !== t.batch!.length)) return yield* fail(session, stage, "InvalidRequest", `expected ${t.batch.length} factors per input`)
      // SVM: the judge's [[I_j·y_j]]; logistic: [[D_j]] = Π_p [[s_j^p]] = [[4S²(½ + z_j/4 − y_j)]].
      const factors = lists.length === 1 ? lists[0]! : Secure.sumLists(lists)
      const bases = factors.map((c) => c.value)
      const layout = Secure.gradientLayout(engine.pk, s)
      const me = indexOf(session, session.self)
      const byCiphertext = new Map<number, Array<{ slot: number; value: bigint }>>()
      for (let k = 0; k < t.block.columns.length; k++) {
        const exponents = t.batch.map((j) => Linear.quantize(t.block.rows[j]![k]!, t.hyper.scaleBits))
        const g = Secure.multiExp(bases, exponents, engine.pk.n2, engine.kernels)
        const { ciphertext, slot } = Secure.gradientSlot(t.features, me, k, layout.slots)
        if (!byCiphertext.has(ciphertext)) byCiphertext.set(ciphertext, [])
        byCiphertext.get(ciphertext)!.push({ slot, value: g })
      }
      const masks = new Map<number, Map<number, bigint>>()
      const maskBits = Secure.gradientBits(s) + s.kappa
      const indices = [...byCiphertext.keys()]
      const packedMasks: Array<bigint> = []
      for (const index of indices) {
        const slots = byCiphertext.get(index)!
        const m = new Map(slots.map(({ slot }) => [slot, Secure.mask(maskBits)] as const))
        masks.set(index, m)
        packedMasks.push(Packing.pack(layout, Array.from({ length: Math.max(...slots.map((x) => x.slot)) + 1 }, (_, i) => m.get(i) ?? 0n)))
      }
      const maskCiphertexts = yield* compute(session, stage, Secure.encryptSigned(engine, packedMasks))
      t.masks = masks
      const out = indices.map((index, i) => {
        let acc = 1n
        for (const { slot, value } of byCiphertext.get(index)!) acc = (acc * Secure.shift(engine, value, slot * layout.slotBits)) % engine.pk.n2
        const c = Paillier.add(Paillier.ciphertext(engine.pk, acc), maskCiphertexts[i]!)
        return { index, ciphertext: Secure.encodeCiphertexts(engine.pk, [c]) }
      })
      return { ciphertexts: out }
    })
  )

  const updateHandler = handler(Spec.update, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.update.name
      const t = yield* train(session, stage)
      if (t.key === undefined || t.batch === undefined || t.masks === undefined || t.features === undefined) return yield* fail(session, stage, "MissingState", "no gradient pending")
      const key = t.key
      const all = yield* attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(key.tpk.publicKey, request.ciphertexts))
      const mine = [...t.masks.keys()].sort((a, b) => a - b)
      if (mine.some((i) => i >= all.length)) return yield* fail(session, stage, "InvalidRequest", "a gradient ciphertext is missing")
      // Each party's batch proof covers every gradient ciphertext, so all are checked; only ours are combined.
      const { engine, cheaters, valid } = yield* collectPartials(session, stage, key, all, request.partials, undefined)
      if (cheaters.length > 0 || valid.length < key.tpk.threshold) return { cheaters }
      const layout = Secure.gradientLayout(engine.pk, shape(session))
      const plain = yield* attempt(session, stage, "DecryptionFailed", () => Secure.combineAll(engine, all, valid, mine))
      const me = indexOf(session, session.self)
      const totals: Array<bigint> = []
      for (let k = 0; k < t.block.columns.length; k++) {
        const { ciphertext, slot } = Secure.gradientSlot(t.features, me, k, layout.slots)
        const slots = Packing.unpack(layout, plain[mine.indexOf(ciphertext)]!)
        totals.push(slots[slot]! - t.masks.get(ciphertext)!.get(slot)!)
      }
      t.w = Linear.step(t.hyper, t.w, totals, t.batch.length)
      t.batch = undefined
      t.masks = undefined
      // The iteration boundary a restarted coordinator resumes from, sealed before anyone learns it was reached.
      const progress = { taskId: session.taskId, iteration: request.iteration + 1, weights: Array.from(t.w), rpi: t.next.rpi.toString(), salt: t.next.salt, ids: t.ids }
      yield* Effect.mapError(PartialModels.saveProgress(session.self, progress), (e) => failure(session, stage, "ProgressNotSaved", e.message))
      return { cheaters: [], reveal: { rpi: t.next.rpi.toString(), salt: t.next.salt } }
    })
  )

  const finishHandler = handler(Spec.finish, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.finish.name
      const t = yield* train(session, stage)
      if (t.key === undefined) return yield* fail(session, stage, "MissingState", "no key")
      const model: PartialModels.PartialModel = {
        modelId: session.taskId,
        kind: Spec.kinds[t.hyper.model],
        parties: session.participants,
        labelHolder: trainParams!.labelHolder,
        idColumn: trainParams!.idColumn,
        columns: t.block.columns,
        mean: t.block.mean,
        std: t.block.std,
        weights: Array.from(t.w),
        featureBound: trainParams!.featureBound ?? Spec.defaults.featureBound,
        scaleBits: t.hyper.scaleBits,
        ids: t.ids,
        test: t.split.test,
        publicKey: ThresholdSerialization.encodePublicKey(t.key.tpk),
        share: ThresholdSerialization.encodeKeyShare(t.key.share),
        unsafeAllowTestKeySizes: t.key.policy.unsafeAllowTestKeySizes === true
      }
      const stored = yield* Effect.mapError(PartialModels.put(session.self, model), (e) => failure(session, stage, "ModelNotStored", e.message))
      // The owner's own record of its partial model (never sent anywhere); the label holder adds its test predictions.
      const output = {
        taskId: session.taskId,
        kind: model.kind,
        columns: model.columns,
        weights: model.weights,
        scaling: { mean: model.mean, std: model.std },
        constantColumns: t.block.constantColumns,
        /** This party's own ids in the common aligned order (what its weights were trained over). */
        alignedIds: t.ids,
        /** Content hash of the sealed partial model this party stored (PartialModels.digestOf). */
        modelDigest: stored.digest,
        evaluation: t.evaluation
      }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { digest, location }
    })
  )

  // Stateless: a later attempt (or a failed task's coordinator) may send it without any training memory.
  const cleanupHandler = handler(Spec.cleanup, (_request, session) =>
    Effect.map(
      Effect.mapError(PartialModels.removeProgress(session.self, session.taskId), (e) => failure(session, Spec.cleanup.name, "ProgressNotRemoved", e.message)),
      (removed) => ({ removed })
    ))

  // ---- joint prediction (training evaluation and the prediction kinds) -----------------------------------

  const predictRows = (session: ParticipantSession, stage: string) =>
    Effect.gen(function*() {
      const t = session.memory.get(TRAIN) as TrainState | undefined
      if (t !== undefined) {
        if (t.key === undefined) return yield* fail(session, stage, "MissingState", "no key")
        return { key: t.key, scaleBits: t.hyper.scaleBits, ids: t.split.test.map((i) => t.ids[i]!), rows: t.split.test.map((i) => t.block.rows[i]!), w: Array.from(t.w), modelId: session.taskId }
      }
      const found = session.memory.get(PREDICT) as PredictState | undefined
      if (found !== undefined) return { key: found.key, scaleBits: found.model.scaleBits, ids: found.ids, rows: found.rows, w: found.model.weights, modelId: found.model.modelId }
      if (task.kind === "train") return yield* fail(session, stage, "MissingState", "prepare has not run")
      const params = task.params
      const model = yield* Effect.mapError(PartialModels.get(session.self, params.model), (e) =>
        failure(session, stage, e.reason === "Missing" ? "UnknownModel" : `PartialModel${e.reason}`, e.message))
      if (model.parties.length !== session.participants.length || model.parties.some((p, i) => p !== session.participants[i])) {
        return yield* fail(session, stage, "ModelMismatch", "the prediction task must name the training task's parties in the same order")
      }
      const policy = { unsafeAllowTestKeySizes: model.unsafeAllowTestKeySizes }
      const tpk = yield* attempt(session, stage, "InvalidKey", () => ThresholdSerialization.decodePublicKey(model.publicKey, policy))
      const share = yield* attempt(session, stage, "InvalidKey", () => ThresholdSerialization.decodeKeyShare(tpk, model.share))
      const ids = task.kind === "online" ? [...task.params.ids] : task.params.subset === "all" ? [...model.ids] : model.test.map((i) => model.ids[i]!)
      const data = yield* (yield* LocalData).dataset(datasetName)
      if (!data.columnNames.includes(params.idColumn)) return yield* fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${params.idColumn}`)
      const text = data.strings(params.idColumn)
      const rowOf = new Map<string, number>()
      text.forEach((id, r) => {
        if (!rowOf.has(id)) rowOf.set(id, r)
      })
      const missing = ids.filter((id) => !rowOf.has(id))
      if (missing.length > 0) return yield* fail(session, stage, "UnknownId", `${missing.length} requested id(s) are not in dataset ${data.name}`)
      const columns: Array<Float64Array | undefined> = []
      for (const c of model.columns) columns.push(c === Linear.BIAS ? undefined : (yield* numericColumn(session, stage, data, c)).values)
      const rows: Array<Float64Array> = []
      for (const id of ids) {
        const r = rowOf.get(id)!
        const x = new Float64Array(model.columns.length)
        for (let k = 0; k < x.length; k++) {
          const col = columns[k]
          if (col === undefined) {
            x[k] = 1
            continue
          }
          const raw = col[r]!
          if (!Number.isFinite(raw)) return yield* fail(session, stage, "InvalidFeature", `column ${model.columns[k]} of id ${id} is empty or not finite`)
          x[k] = Math.max(-model.featureBound, Math.min(model.featureBound, (raw - model.mean[k]!) / model.std[k]!))
        }
        rows.push(x)
      }
      const key: Key = { tpk, share, policy }
      session.memory.set(PREDICT, { model, key, ids, rows } satisfies PredictState)
      return { key, scaleBits: model.scaleBits, ids, rows, w: model.weights, modelId: model.modelId }
    })

  const predictScore = handler(Spec.predictScore, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.predictScore.name
      const p = yield* predictRows(session, stage)
      const engine = yield* engineOf(p.key)
      const layout = Secure.predictionLayout(engine.pk, { parties: session.participants.length, scaleBits: p.scaleBits })
      const limit = 1n << BigInt(layout.valueBits - 1)
      const values = p.rows.map((x) => Linear.partialScore(p.w, x, p.scaleBits))
      if (values.some((z) => z >= limit || -z >= limit)) return yield* fail(session, stage, "ScoreOverflow", "a partial score is out of range")
      const packed: Array<bigint> = []
      for (let i = 0; i < values.length; i += layout.slots) packed.push(Packing.pack(layout, values.slice(i, i + layout.slots)))
      const cs = yield* compute(session, stage, Secure.encryptSigned(engine, packed))
      return { ciphertexts: Secure.encodeCiphertexts(engine.pk, cs), count: values.length, publicKey: ThresholdSerialization.encodePublicKey(p.key.tpk) }
    })
  )

  const predictOutput = handler(Spec.predictOutput, (request, session) =>
    Effect.gen(function*() {
      const stage = Spec.predictOutput.name
      const p = yield* predictRows(session, stage)
      const cs = yield* attempt(session, stage, "InvalidCiphertext", () => Secure.decodeCiphertexts(p.key.tpk.publicKey, request.ciphertexts))
      const { engine, cheaters, valid } = yield* collectPartials(session, stage, p.key, cs, request.partials, `decrypt|predict/${request.requestId}`)
      if (cheaters.length > 0 || valid.length < p.key.tpk.threshold) return { cheaters, count: 0, digest: "", location: "" }
      const layout = Secure.predictionLayout(engine.pk, { parties: session.participants.length, scaleBits: p.scaleBits })
      const plain = yield* attempt(session, stage, "DecryptionFailed", () => Secure.combineAll(engine, cs, valid))
      const totals = plain.flatMap((x) => Packing.unpack(layout, x)).slice(0, p.ids.length)
      const scale = 2 ** (2 * p.scaleBits)
      const scores = totals.map((z) => Number(z) / scale)
      const positive = totals.map((z) => z >= 0n)
      const t = session.memory.get(TRAIN) as TrainState | undefined
      let confusion: Linear.Confusion | undefined
      if (t !== undefined) {
        t.evaluation = { ids: p.ids, scores, positive }
        if (t.positive !== undefined) confusion = Linear.confusion(positive, t.split.test.map((i) => t.positive![i]!))
        const digest = sha256Digest(t.evaluation)
        return { cheaters: [], count: p.ids.length, digest, location: `memory:${session.taskId}`, confusion }
      }
      const output = { taskId: session.taskId, modelId: p.modelId, ids: p.ids, scores, positive }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { cheaters: [], count: p.ids.length, digest, location }
    })
  )

  const own =
    task.kind === "train"
      ? [prepare, deal, keys, score, blindHandler, decryptHandler, judgeHandler, gradientHandler, updateHandler, finishHandler, cleanupHandler, predictScore, predictOutput]
      : [decryptHandler, predictScore, predictOutput]
  return [...psi, ...own]
}
