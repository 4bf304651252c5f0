/**
 * Coordinator side of vertical training and joint prediction (spec.ts). The coordinator schedules stages,
 * relays ciphertexts, sealed partial decryptions and masked values, adds ciphertexts (public operations), and
 * commits one Merkle root of its round digests per phase. It never holds a key share, a plaintext score, a
 * label or a partial model.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Keys from "../../crypto/paillier/Keys.ts"
import * as PaillierSerialization from "../../crypto/paillier/Serialization.ts"
import type { PublicKey } from "../../crypto/paillier/Keys.ts"
import * as ThresholdSerialization from "../../crypto/threshold-paillier/Serialization.ts"
import * as Merkle from "../federated-learning/Merkle.ts"
import * as PsiCoordinator from "../joint-query/psi/coordinator.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import type { CoordinatorSession, Stage } from "../Protocol.ts"
import { AttemptSuspended, ProtocolError, RoundError, suspendIfLeft } from "../Protocol.ts"
import * as Linear from "./Linear.ts"
import * as Secure from "./Secure.ts"
import * as Spec from "./spec.ts"

export interface Options {
  readonly timeoutMs?: number
  /** The dealer's ceremony draws safe primes (seconds at 2048 bits): its own, longer timeout. */
  readonly ceremonyTimeoutMs?: number
  /** How long to wait for partial decryptions before naming the parties that withheld them (default timeoutMs). */
  readonly decryptTimeoutMs?: number
}

interface Run {
  readonly session: CoordinatorSession
  readonly kind: string
  readonly timeoutMs: number | undefined
  readonly decryptTimeoutMs: number | undefined
  readonly counters: { rounds: number; decryptedCiphertexts: number; partialDecryptions: number; decryptionProofs: number; comparisons: number }
  readonly withheld: Set<string>
  readonly digests: Array<string>
}

const CHECKPOINT = "vertical/train"
/** The finished task's result, checkpointed before the parties are told to remove their progress. */
const RESULT_CHECKPOINT = "vertical/result"
/** Best-effort cleanup waits at most this long for the parties (those that do not answer keep their files). */
const CLEANUP_TIMEOUT_MS = 30_000

/** What the coordinator keeps at each iteration boundary (JSON): enough to continue the loop in a later attempt. */
interface Checkpoint {
  /** The next iteration to run. */
  readonly iteration: number
  readonly commits: Record<string, string>
  readonly schedule: ReadonlyArray<string>
  /** Round digests of the train phase so far: its Merkle root covers every iteration, resumed or not. */
  readonly digests: ReadonlyArray<string>
  readonly counters: Run["counters"]
  readonly withheld: ReadonlyArray<string>
  /**
   * "Training finished": every iteration ran and the train phase's root (`trainRoot`) was committed. A later
   * attempt resumes at the last boundary (the parties still hold that progress) straight into evaluation,
   * without committing the train phase again.
   */
  readonly trained?: boolean
  readonly trainRoot?: string
}

const protocolError = (kind: string, reason: string, detail: string) => new ProtocolError({ protocol: kind, reason, detail })

const all = <A>(session: CoordinatorSession, make: (party: string) => A) => new Map(session.participants.map((p) => [p, make(p)] as const))

/** One round, counted, its replies hashed into the phase's Merkle leaves. */
const round = <Req, Rep>(r: Run, stage: Stage<Req, Rep>, requests: ReadonlyMap<string, Req>, minReplies: number, timeoutMs = r.timeoutMs) =>
  Effect.gen(function*() {
    const replies = yield* r.session.round(stage, requests, { minReplies, timeoutMs })
    r.counters.rounds++
    r.digests.push(Merkle.roundDigest(stage.name, replies))
    return replies
  })

const commitPhase = (r: Run, phase: string, commitments: Record<string, string>) =>
  Effect.gen(function*() {
    const root = Merkle.root(r.digests)
    r.digests.length = 0
    commitments[phase] = root
    yield* r.session.commit(phase, root)
  })

/**
 * Threshold decryption: every party is asked, `threshold` must answer within the round timeout; the others are
 * named as withholding (and tolerated). Fewer than t: the task fails naming them.
 */
const decryptRound = (r: Run, threshold: number, label: string, ciphertexts: Uint8Array, count: number, sealTo?: string) =>
  Effect.gen(function*() {
    const requests = all(r.session, () => ({ label, ciphertexts, sealTo }))
    const replies = yield* round(r, Spec.decrypt, requests, threshold, r.decryptTimeoutMs).pipe(
      Effect.catchTag("RoundError", (e: RoundError) =>
        Effect.fail((e.offline ?? []).length > 0
          ? suspendIfLeft(r.kind, e)
          : protocolError(r.kind, "PartialDecryptionWithheld", `no partial decryption from ${e.missing.join(", ")} within ${r.decryptTimeoutMs ?? "∞"} ms (${threshold} needed)`)))
    )
    for (const p of r.session.participants) if (!replies.has(p)) r.withheld.add(p)
    r.counters.decryptedCiphertexts += count
    r.counters.partialDecryptions += replies.size * count
    // One batch proof per party and round (ThresholdPaillier.ts "Batched proof"), none from the party the round is
    // sealed to (it keeps its own batch and sends an empty payload, Secure.UNPROVED).
    r.counters.decryptionProofs += replies.size - (sealTo !== undefined && replies.has(sealTo) ? 1 : 0)
    return [...replies].map(([participant, reply]) => ({ participant, payload: reply.partials }))
  })

const invalidPartials = (r: Run, cheaters: ReadonlyArray<string>) =>
  protocolError(r.kind, "InvalidPartialDecryption", `the decryption-share proof of ${cheaters.join(", ")} does not verify`)

const decodeList = (r: Run, pk: PublicKey, bytes: Uint8Array, from: string) =>
  Effect.try({ try: () => Secure.decodeCiphertexts(pk, bytes), catch: (e) => protocolError(r.kind, "InvalidCiphertext", `from ${from}: ${String(e)}`) })

/** Joint prediction (PROTOCOLS.md §3 item 6): Σ_p [[w^p·x^p]], threshold-decrypted for the requester only. */
const predictFlow = (r: Run, requester: string, requestId: string) =>
  Effect.gen(function*() {
    const n = r.session.participants.length
    const scored = yield* round(r, Spec.predictScore, all(r.session, () => ({ requestId })), n)
    const counts = new Set([...scored.values()].map((s) => s.count))
    if (counts.size !== 1) return yield* protocolError(r.kind, "CountMismatch", "parties scored different numbers of rows")
    const keys = new Set([...scored.values()].map((s) => bytesToHex(sha256(s.publicKey))))
    if (keys.size !== 1) return yield* protocolError(r.kind, "KeyMismatch", "parties hold different threshold keys")
    const tpk = ThresholdSerialization.decodePublicKey(scored.get(requester)!.publicKey, { unsafeAllowTestKeySizes: true })
    const lists: Array<Array<Paillier.Ciphertext>> = []
    for (const [p, s] of scored) lists.push(yield* decodeList(r, tpk.publicKey, s.ciphertexts, p))
    const total = Secure.encodeCiphertexts(tpk.publicKey, Secure.sumLists(lists))
    const partials = yield* decryptRound(r, tpk.threshold, `predict/${requestId}`, total, lists[0]!.length, requester)
    const out = yield* round(r, Spec.predictOutput, new Map([[requester, { requestId, ciphertexts: total, partials }]]), 1)
    const reply = out.get(requester)!
    if (reply.cheaters.length > 0) return yield* invalidPartials(r, reply.cheaters)
    return reply
  })

/**
 * Masked prediction (spec.ts "Prediction", MaskedSum.ts): every party sends its masked partial scores sealed to the
 * requester, which adds them to its own. Needs every party; nothing is decrypted.
 */
const maskedFlow = (r: Run, requester: string, requestId: string) =>
  Effect.gen(function*() {
    const masked = yield* round(r, Spec.predictMasked, all(r.session, () => ({ requestId })), r.session.participants.length)
    const counts = new Set([...masked.values()].map((s) => s.count))
    if (counts.size !== 1) return yield* protocolError(r.kind, "CountMismatch", "parties scored different numbers of rows")
    const payloads = [...masked].filter(([p]) => p !== requester).map(([participant, s]) => ({ participant, payload: s.payload }))
    const out = yield* round(r, Spec.predictMaskedOutput, new Map([[requester, { requestId, payloads }]]), 1)
    return out.get(requester)!
  })

/**
 * Tells every party to remove its sealed training progress (Spec.cleanup). Best effort: parties that fail or do
 * not answer in time keep their files (sealed; removed by a later cleanup of the same task, or by hand).
 */
const cleanup = (session: CoordinatorSession, timeoutMs: number | undefined) =>
  Effect.ignore(session.round(Spec.cleanup, all(session, () => ({})), { minReplies: 0, timeoutMs: Math.min(timeoutMs ?? CLEANUP_TIMEOUT_MS, CLEANUP_TIMEOUT_MS) }))

/**
 * Vertical training with the parties' progress files managed around it: they are needed until the result is
 * durable (a restart during evaluation or finish resumes from the last boundary's progress), so they are removed
 * only once the result is checkpointed, and, when the task fails, right away (a failed task is never resumed).
 * Two ways lead to a later attempt that resumes from them: a coordinator restart (which does not run this error
 * path), and parties leaving mid-task (AttemptSuspended, which keeps them).
 */
export const runTraining = (session: CoordinatorSession, model: Linear.ModelKind, params: Spec.TrainParams, options: Options = {}) =>
  Effect.gen(function*() {
    const done = (yield* session.checkpoint.load(RESULT_CHECKPOINT)) as Spec.TrainResult | undefined
    if (done !== undefined) {
      // The previous attempt died between checkpointing its result and (finishing) the cleanup: repeat only that.
      yield* cleanup(session, options.timeoutMs)
      return done
    }
    const kind = Spec.kinds[model]
    const result = yield* trainOnce(session, model, params, options).pipe(Effect.catchTag("RoundError", (e: RoundError) => Effect.fail(suspendIfLeft(kind, e))))
    yield* session.checkpoint.save(RESULT_CHECKPOINT, result)
    yield* cleanup(session, options.timeoutMs)
    return result
  }).pipe(Effect.tapError((error) => (error instanceof AttemptSuspended ? Effect.void : cleanup(session, options.timeoutMs))))

const trainOnce = (session: CoordinatorSession, model: Linear.ModelKind, params: Spec.TrainParams, options: Options) =>
  Effect.gen(function*() {
    const kind = Spec.kinds[model]
    // Refused before the join: every later round's layout depends on the version.
    const unsupported = Spec.checkProtocolVersion(params)
    if (unsupported !== undefined) return yield* protocolError(kind, unsupported._tag, unsupported.message)
    const parties = session.participants
    const n = parties.length
    const r: Run = { session, kind, timeoutMs: options.timeoutMs, decryptTimeoutMs: options.decryptTimeoutMs ?? options.timeoutMs, counters: { rounds: 0, decryptedCiphertexts: 0, partialDecryptions: 0, decryptionProofs: 0, comparisons: 0 }, withheld: new Set(), digests: [] }
    const commitments: Record<string, string> = {}
    const labelHolder = parties.find((p) => p === params.labelHolder)
    if (labelHolder === undefined) return yield* protocolError(kind, "InvalidParams", "the label holder is not a party")
    const dealer = params.dealer ?? labelHolder
    const threshold = params.threshold ?? n
    // The coordinator holds no secret of this key: it computes with the size the task names, and each party
    // refuses a size below its own minimum at consent (ProtocolDefinition.keyMaterial).
    const policy = { unsafeAllowTestKeySizes: !Keys.ALLOWED_BITS.includes(params.keyBits ?? Spec.defaults.keyBits) }

    // Phase 1: the aligned PSI join, every party a receiver (PROTOCOLS.md §6.1 "Ours"; §3 item 1).
    const psi = yield* PsiCoordinator.run(session, "aligned", PsiSpec.alignedJoin(params.idColumn, parties, params.maxIds), { timeoutMs: options.timeoutMs })

    // A restarted coordinator resumes at the last iteration boundary it checkpointed: the parties restore w^p, the
    // id order and their committed RPI from their sealed progress, a new key is dealt (key shares live in one
    // attempt's memory only), and the loop continues with the saved commitments and schedule.
    const saved = (yield* session.checkpoint.load(CHECKPOINT)) as Checkpoint | undefined
    const resumeAt = saved?.iteration

    // Phase 2: blocks and split; the alignment digests must agree before anything is trained on them.
    const prepared = yield* round(r, Spec.prepare, all(session, () => (resumeAt === undefined ? {} : { resumeAt })), n)
    const reference = prepared.get(labelHolder)!.alignment
    const mismatched = parties.filter((p) => prepared.get(p)!.alignment !== reference || prepared.get(p)!.rows !== prepared.get(labelHolder)!.rows)
    if (mismatched.length > 0 || reference !== psi.alignment) {
      return yield* protocolError(kind, "AlignmentMismatch", `alignment digest of ${mismatched.join(", ") || "the join"} differs from the label holder's: rows are not in one order`)
    }
    const rows = prepared.get(labelHolder)!.rows
    const features = parties.map((p) => prepared.get(p)!.features)
    let commits: Record<string, string> = Object.fromEntries(parties.map((p) => [p, prepared.get(p)!.commit]))
    if (resumeAt !== undefined) {
      // Every party must restore the same rows in the same order at the same boundary. The reference is the
      // digest most parties report (the label holder's on a tie), so the error names the odd ones out.
      const reported = parties.map((p) => prepared.get(p)!.resumed)
      const votes = new Map<string | undefined, number>()
      for (const d of reported) votes.set(d, (votes.get(d) ?? 0) + 1)
      const top = Math.max(...votes.values())
      const holder = prepared.get(labelHolder)!.resumed
      const expected = votes.get(holder) === top ? holder : [...votes].find(([, v]) => v === top)![0]
      const differ = parties.filter((p) => prepared.get(p)!.resumed !== expected || expected === undefined)
      if (differ.length > 0) {
        return yield* protocolError(kind, "ResumeOrderMismatch", `the restored row order or iteration of ${differ.join(", ")} differs from the other parties' at iteration ${resumeAt}`)
      }
    }
    if (saved !== undefined) {
      // §6.4: a resumed party must commit again to exactly the RPI it committed to before the restart.
      const changed = parties.filter((p) => commits[p] !== saved.commits[p])
      if (changed.length > 0) return yield* protocolError(kind, "ResumeMismatch", `the resumed sample-selection commitment of ${changed.join(", ")} differs from the checkpoint`)
    }
    yield* commitPhase(r, "vertical.prepare", commitments)

    // Phase 3: dealer ceremony; every party checks its share and recomputes the transcript digest.
    const dealt = (yield* round(r, Spec.deal, new Map([[dealer, {}]]), 1, options.ceremonyTimeoutMs ?? Math.max(options.timeoutMs ?? 0, 300_000))).get(dealer)!
    const accepted = yield* round(r, Spec.keys, all(session, () => ({ dealer, publicKey: dealt.publicKey, shares: dealt.shares, features })), n)
    const disagree = parties.filter((p) => accepted.get(p)!.transcriptDigest !== dealt.transcriptDigest)
    if (disagree.length > 0) return yield* protocolError(kind, "KeyTranscriptMismatch", `${disagree.join(", ")} saw another ceremony transcript`)
    const tpk = yield* Effect.try({ try: () => ThresholdSerialization.decodePublicKey(dealt.publicKey, policy), catch: (e) => protocolError(kind, "InvalidKey", String(e)) })
    const pk = tpk.publicKey
    // SVM: the label holder's judge key, under which its factors and the masked gradients travel (spec.ts `keys`).
    const judgeKeyBytes = model === "svm" ? accepted.get(labelHolder)!.judgeKey : undefined
    const judgeKeys = model === "svm" ? accepted.get(labelHolder)!.judgeKeys : undefined
    if (model === "svm" && judgeKeyBytes === undefined) return yield* protocolError(kind, "InvalidKey", "the label holder sent no judge key")
    const judgePk = judgeKeyBytes === undefined
      ? pk
      : yield* Effect.try({ try: () => PaillierSerialization.decodePublicKey(judgeKeyBytes, policy), catch: (e) => protocolError(kind, "InvalidKey", `judge key: ${String(e)}`) })
    yield* session.commit("vertical.key-transcript", "0x" + dealt.transcriptDigest.replace(/^0x/, ""))
    let reveals: Record<string, Spec.Reveal> = Object.fromEntries(parties.map((p) => [p, accepted.get(p)!.reveal]))
    yield* commitPhase(r, "vertical.keys", commitments)

    // Phase 4: training iterations.
    const hyper = { updates: params.updates ?? Spec.defaults.updates, batchSize: params.batchSize ?? Spec.defaults.batchSize }
    const iterations = Linear.iterationsOf(hyper)
    const schedule: Array<string> = [...(saved?.schedule ?? [])]
    if (saved !== undefined) {
      r.digests.push(...saved.digests)
      for (const k of Object.keys(r.counters) as Array<keyof Run["counters"]>) r.counters[k] += saved.counters[k] ?? 0
      for (const p of saved.withheld) r.withheld.add(p)
    }
    let last: Checkpoint | undefined = saved
    for (let iteration = resumeAt ?? 0; iteration < iterations; iteration++) {
      schedule.push(Linear.batchSeed(session.taskId, iteration, parties.map((p) => BigInt(reveals[p]!.rpi))))
      const scored = yield* round(r, Spec.score, all(session, () => ({ iteration, commits, reveals })), n)
      commits = Object.fromEntries(parties.map((p) => [p, scored.get(p)!.commit]))
      let inputs: Array<Uint8Array>
      if (model === "svm") {
        const lists: Array<Array<Paillier.Ciphertext>> = []
        for (const p of parties) lists.push(yield* decodeList(r, pk, scored.get(p)!.ciphertexts, p))
        // §6.3 (2), per slot: every party blinds each row with factors of its own and packs them (Secure.blindPacked);
        // the packed contributions are summed here, so no party sees another's blinded rows.
        const rowsOfBatch = Secure.encodeCiphertexts(pk, Secure.sumLists(lists))
        const blinded = yield* round(r, Spec.blind, all(session, () => ({ iteration, ciphertexts: rowsOfBatch })), n)
        const contributions: Array<Array<Paillier.Ciphertext>> = []
        for (const p of parties) contributions.push(yield* decodeList(r, pk, blinded.get(p)!.ciphertexts, p))
        if (contributions.some((c) => c.length !== contributions[0]!.length)) return yield* protocolError(kind, "InvalidCiphertext", "the parties' blinded batches differ in length")
        const current = Secure.encodeCiphertexts(pk, Secure.sumLists(contributions))
        const partials = yield* decryptRound(r, threshold, `judge/${iteration}`, current, contributions[0]!.length, labelHolder)
        const judged = (yield* round(r, Spec.judge, new Map([[labelHolder, { iteration, ciphertexts: current, partials }]]), 1)).get(labelHolder)!
        if (judged.cheaters.length > 0) return yield* invalidPartials(r, judged.cheaters)
        r.counters.comparisons += Math.min(hyper.batchSize, rows)
        inputs = [judged.factors]
      } else {
        inputs = parties.map((p) => scored.get(p)!.ciphertexts)
      }
      const grads = yield* round(r, Spec.gradient, all(session, (p) => ({ iteration, inputs, judgeKey: judgeKeys?.find((k) => k.participant === p)?.payload })), n)
      const byIndex = new Map<number, Array<Paillier.Ciphertext>>()
      for (const [p, g] of grads) {
        for (const { index, ciphertext } of g.ciphertexts) {
          const [c] = yield* decodeList(r, judgePk, ciphertext, p)
          if (!byIndex.has(index)) byIndex.set(index, [])
          byIndex.get(index)!.push(c!)
        }
      }
      const count = Math.max(...byIndex.keys()) + 1
      if (byIndex.size !== count) return yield* protocolError(kind, "InvalidCiphertext", "a gradient ciphertext has no contribution")
      const gradient = Secure.encodeCiphertexts(judgePk, Array.from({ length: count }, (_, i) => Paillier.sum(byIndex.get(i)!)))
      // SVM: the label holder opens the masked sums under its judge key; logistic: a threshold decryption round.
      const update = model === "svm"
        ? { iteration, ciphertexts: gradient, partials: [], opened: (yield* round(r, Spec.open, new Map([[labelHolder, { iteration, ciphertexts: gradient }]]), 1)).get(labelHolder)!.openings }
        : { iteration, ciphertexts: gradient, partials: yield* decryptRound(r, threshold, `gradient/${iteration}`, gradient, count) }
      const updated = yield* round(r, Spec.update, all(session, () => update), n)
      const cheaters = [...new Set([...updated.values()].flatMap((u) => u.cheaters))]
      if (cheaters.length > 0) return yield* invalidPartials(r, cheaters)
      reveals = Object.fromEntries(parties.map((p) => [p, updated.get(p)!.reveal ?? { rpi: "0", salt: new Uint8Array(0) }]))
      // §6.4 commit–reveal, checked here too: a reveal that does not open its commitment stops the task.
      const broken = iteration + 1 < iterations ? parties.filter((p) => Linear.rpiCommit(session.taskId, iteration + 1, p, reveals[p]!) !== commits[p]) : []
      if (broken.length > 0) return yield* protocolError(kind, "CommitMismatch", `the sample-selection reveal of ${broken.join(", ")} does not open its commitment`)
      last = {
        iteration: iteration + 1,
        commits,
        schedule: [...schedule],
        digests: [...r.digests],
        counters: { ...r.counters },
        withheld: [...r.withheld]
      }
      yield* session.checkpoint.save(CHECKPOINT, last)
      yield* session.progress({ stage: "vertical.train", done: iteration + 1, total: iterations })
    }
    if (saved?.trained === true && saved.trainRoot !== undefined) {
      commitments["vertical.train"] = saved.trainRoot
      r.digests.length = 0
    } else {
      yield* commitPhase(r, "vertical.train", commitments)
      // The "training finished" flag: from here on a restart goes straight to evaluation.
      if (last !== undefined) yield* session.checkpoint.save(CHECKPOINT, { ...last, trained: true, trainRoot: commitments["vertical.train"]! } satisfies Checkpoint)
    }

    // Phase 5: evaluation by joint prediction of the test split for the label holder; then the owners keep their models.
    const evaluation = yield* predictFlow(r, labelHolder, "evaluate")
    yield* round(r, Spec.finish, all(session, () => ({})), n)
    yield* commitPhase(r, "vertical.finish", commitments)
    const c = evaluation.confusion ?? { tp: 0, fp: 0, fn: 0, tn: 0 }
    const split = Linear.split(rows, params.testFraction ?? Spec.defaults.testFraction, params.splitSeed ?? Spec.defaults.splitSeed)
    const result: Spec.TrainResult = {
      kind,
      ...(resumeAt === undefined ? {} : { resumedFromIteration: resumeAt }),
      modelId: session.taskId,
      parties: [...parties],
      labelHolder,
      rows,
      trainRows: split.train.length,
      testRows: split.test.length,
      alignment: reference,
      keyTranscript: dealt.transcriptDigest,
      keyBits: pk.bits,
      threshold,
      iterations,
      batchSize: hyper.batchSize,
      schedule,
      features,
      constantColumns: parties.flatMap((p) => prepared.get(p)!.constantColumns),
      clipped: parties.reduce((s, p) => s + prepared.get(p)!.clipped, 0),
      test: { ...Linear.metrics(c), ...c, ...(evaluation.roc === undefined ? {} : { roc: evaluation.roc.points, auc: evaluation.roc.auc }) },
      withheld: [...r.withheld],
      counters: { ...r.counters },
      commitments
    }
    return result
  })

export const runPrediction = (session: CoordinatorSession, kind: string, params: Spec.OnlineParams | Spec.BatchParams, options: Options = {}) =>
  Effect.gen(function*() {
    const parties = session.participants
    const n = parties.length
    const r: Run = { session, kind, timeoutMs: options.timeoutMs, decryptTimeoutMs: options.decryptTimeoutMs ?? options.timeoutMs, counters: { rounds: 0, decryptedCiphertexts: 0, partialDecryptions: 0, decryptionProofs: 0, comparisons: 0 }, withheld: new Set(), digests: [] }
    const requester = parties.find((p) => p === params.requester)
    if (requester === undefined) return yield* protocolError(kind, "InvalidParams", "the requester is not a party")
    // Signed channel keys (the PSI family's first two stages) seal the partial decryptions to the requester.
    const keys = yield* round(r, PsiSpec.keys, all(session, () => ({})), n)
    const advertisements = parties.map((participant) => ({ participant, ...keys.get(participant)! }))
    yield* round(r, PsiSpec.peers, all(session, () => ({ advertisements })), n)
    const out = (params.aggregation ?? "masks") === "masks" ? yield* maskedFlow(r, requester, session.taskId) : yield* predictFlow(r, requester, session.taskId)
    const commitments: Record<string, string> = {}
    yield* commitPhase(r, "vertical.predict", commitments)
    const result: Spec.PredictResult = {
      kind,
      modelId: params.model,
      requester,
      count: out.count,
      digest: out.digest,
      withheld: [...r.withheld],
      counters: { ...r.counters }
    }
    return result
  })
