/**
 * Drives each task through its life (DESIGN.md §3): submission checks, consent collection, running the
 * protocol's coordinator side, storing and notarizing the result — and picking up (`adopt`) every task its
 * instance claims: at start over an embedded store, or an orphan whose owner died (coordinator/src/cluster/).
 * Every transition goes through the store, which queues its chain record in the same transaction, and carries
 * this instance's claim on the task: once another instance has claimed it, the write is refused (LeaseLost) and
 * the task is dropped here without a trace in the store.
 */
import { Cause, Context, Effect, Exit, Fiber, Layer, Result, Schedule, Schema } from "effect"
import type * as Backends from "@jointly/backends/internal/Backends"
import { getAddress, getBytes } from "ethers"
import { verify } from "@jointly/core/internal/crypto/Signatures"
import { DuplicateTask, InvalidTask, type Tampered, Unavailable, UnknownTask } from "@jointly/core/internal/api/Errors"
import type * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import { reasonHash } from "@jointly/core/internal/ledger/Ledger"
import { AttemptSuspended, ProtocolError, SessionStateFailed } from "@jointly/core/internal/protocols/Protocol"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import { RoundEngine } from "@jointly/core/internal/runtime/RoundEngine"
import type { Status } from "@jointly/core/internal/task/Lifecycle"
import { isFinal } from "@jointly/core/internal/task/Lifecycle"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { defaultConsentTimeoutMs, participantsOf, taskId as taskIdOf } from "@jointly/core/internal/task/TaskSpec"
import { digest } from "@jointly/core/internal/wire/Canonical"
import type { TaskConsent } from "@jointly/core/internal/wire/Messages"
import { type Auth, untilChainAnswers } from "../auth/Auth.ts"
import type { Log } from "../Log.ts"
import type { Claim, StoreFailed, TaskRow, TaskStoreShape } from "../store/TaskStore.ts"
import { TaskStore } from "../store/TaskStore.ts"
import type { Adoption } from "../cluster/Cluster.ts"
import { LeaseLost } from "../store/TaskStore.ts"
import type { ModelStore, ModelStoreFailed } from "../models/ModelStore.ts"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import { jsonBytes } from "../artifacts/ArtifactStore.ts"
import { phaseOf, type Published, type SealedArtifacts } from "../artifacts/SealedArtifacts.ts"
import type * as CheckpointChain from "../artifacts/CheckpointChain.ts"
import { resultRecipientsOfSpec } from "@jointly/core/internal/protocols/Protocols"
import type { TaskArtifact } from "@jointly/core/internal/wire/Messages"
import { Hub, type HubShape } from "../transport/Hub.ts"
import { WireRefusal } from "@jointly/core/internal/wire/Messages"

export interface ConsentVerifier {
  /** Recovers the signer of the EIP-712 Consent the TaskLedger contract will check again. */
  readonly recover: (consent: { taskId: string; specHash: string; approve: boolean; reasonHash: string }, signature: string) => string
}


export interface Options {
  /** How long a Scheduled task waits for all its participants to be online before failing. */
  readonly startTimeoutMs?: number
  /** How often a Scheduled task that waits for participants looks at who is online again (default 1 s). */
  readonly startCheckMs?: number
  /**
   * How often the tasks this instance owns that still await consents are offered again to the parties that have
   * not answered (default 5 s): an offer or a consent lost on its way (a dropped socket, a NOTIFY the adapter's
   * listener missed while it reconnected, an owner that changed) costs this long, not the task's consent deadline.
   */
  readonly reofferMs?: number
}

export const defaultReofferMs = 5_000

/** A task whose attempts keep being suspended (AttemptSuspended) fails at this attempt rather than wait forever. */
const maxSuspendedAttempts = 5


/**
 * A result carrying a trained model (`model` + `modelId`, e.g. modeling.horizontal-fl) has the model moved into
 * the model store; the stored result keeps `modelId`, the content hash, so the notarized digest covers it.
 */
const storeModel = (
  models: ModelStore | undefined,
  taskId: string,
  result: unknown
): Effect.Effect<{ readonly result: unknown; readonly model?: { readonly value: unknown; readonly id: string } }, Tampered | ModelStoreFailed> => {
  if (models === undefined || typeof result !== "object" || result === null || !("model" in result) || !("modelId" in result)) return Effect.succeed({ result })
  const { model, ...rest } = result as { model: unknown; modelId: string }
  return Effect.as(models.put(model, { taskId, expectedId: rest.modelId }), { result: rest, model: { value: model, id: rest.modelId } })
}

export interface Deps {
  readonly store: TaskStoreShape
  readonly hub: Pick<HubShape, "ended" | "offer" | "isOnline">
  readonly rounds: RoundEngine["Service"]
  readonly auth: Auth
  readonly consent: ConsentVerifier
  /**
   * Whether a key other than the account may sign its consents: a consent key its DID names now
   * (identity/DidIdentity.ts), the same rule TaskLedger applies when the consent reaches the chain. Without it only
   * the account signs.
   */
  readonly consentKey?: (account: string, signer: string) => Promise<DidIdentity.KeyVerdict>
  readonly log: Log
  /** This coordinator instance (coordinator/src/cluster/Cluster.ts): the owner its claims name. */
  readonly instance: string
  /** Tells the instance that owned a task before a cancel took it from it (the cluster bridge). */
  readonly released?: (taskId: string, from: string) => void
  /** The coordinator's compute backends, built once (Coordinator.ts): every task's program runs over them. */
  readonly backends: Layer.Layer<Backends.Services>
  readonly models?: ModelStore
  readonly artifacts?: ArtifactStore
  /** The coordinator's IPFS node, with its readers' keys: results and models go there sealed to their readers. */
  readonly sealed?: SealedArtifacts
  /** The task's checkpoints linked in a chain on that node, superseded bodies released (with `sealed`). */
  readonly checkpoints?: CheckpointChain.CheckpointChain
  /**
   * The coordinator's account when it has an encryption key (keys/EncryptionKey.ts): a reader, beside the task's
   * parties, of every checkpoint of the tasks it runs — never of a result or a model.
   */
  readonly checkpointReader?: string
  readonly options?: Options
}

/** What the model and artifact stores refused while a result was being kept. */
class OutcomeNotStored extends Schema.TaggedError<OutcomeNotStored>()("OutcomeNotStored", { detail: Schema.String }) {}

/** The chain did not answer for a party's standing (its node down, a 503): nothing is known of the party. */
class ChainUnreadable extends Schema.TaggedError<ChainUnreadable>()("ChainUnreadable", { detail: Schema.String }) {
  override get message() {
    return `the chain could not be read to check the parties' standing (${this.detail})`
  }
}

export const make = (deps: Deps): SchedulerShape => {
  const { store, hub, rounds, auth, log, instance } = deps
  const startTimeoutMs = deps.options?.startTimeoutMs ?? 60_000
  const startCheckMs = deps.options?.startCheckMs ?? 1_000
  const reofferMs = deps.options?.reofferMs ?? defaultReofferMs
  const running = new Map<string, Fiber.Fiber<unknown, unknown>>()
  /** The tasks this instance owns, with the fencing token of its claim. */
  const claims = new Map<string, Claim>()
  const timers = new Map<string, NodeJS.Timeout>()
  /** Scheduled tasks waiting for participants: their parties, and when the wait gives up (set once per wait). */
  const waiting = new Map<string, { readonly parties: ReadonlyArray<string>; readonly deadline: number }>()
  /** Scheduled tasks whose parties are all online, waiting for the chain to answer for their standing: the fiber asking. */
  const awaitingChain = new Map<string, Fiber.Fiber<void>>()
  const listeners = new Set<(taskId: string, status: Status) => void>()
  /** Tasks decoded by their kind's declaration: at submit, or once when read back from the store after a restart. */
  const decoded = new Map<string, Protocols.Task>()
  const taskOf = (row: TaskRow): Result.Result<Protocols.Task, Protocols.TaskRefused> => {
    const found = decoded.get(row.id)
    if (found !== undefined) return Result.succeed(found)
    const task = Protocols.decodeTask(row.spec)
    if (Result.isSuccess(task)) decoded.set(row.id, task.success)
    return task
  }

  const notify = (taskId: string, status: Status) => {
    for (const listener of listeners) listener(taskId, status)
  }

  /** A timer's work runs detached: its failure is logged, never thrown into the timer queue. */
  const later = (what: string, work: Effect.Effect<unknown, unknown>) => () =>
    void Effect.runFork(Effect.catchCause(work, (cause) => Effect.sync(() => log.error(`${what} failed`, { error: String(Cause.squash(cause)) }))))

  const clearTimer = (taskId: string) => {
    clearTimeout(timers.get(taskId))
    timers.delete(taskId)
    waiting.delete(taskId)
  }

  /** Forgets a task locally (its run interrupted, its timers cleared) without writing anything. */
  const drop = (taskId: string) =>
    Effect.gen(function*() {
      clearTimer(taskId)
      claims.delete(taskId)
      decoded.delete(taskId)
      const asking = awaitingChain.get(taskId)
      awaitingChain.delete(taskId)
      if (asking) yield* Fiber.interrupt(asking)
      yield* rounds.taskEnded(taskId)
      const fiber = running.get(taskId)
      running.delete(taskId)
      if (fiber) yield* Fiber.interrupt(fiber)
    })

  /** Another instance holds the task now: stop here, write nothing more. */
  const lost = (error: LeaseLost) =>
    Effect.sync(() => {
      log.warn("task taken by another instance; stopping here", { taskId: error.subject, holder: error.holder, fence: error.fence, current: error.current })
      // Not awaited: the run being dropped may be the very fiber that met the lost lease.
      Effect.runFork(drop(error.subject))
    })

  const ended = (task: TaskRow, status: Status, reason?: string, artifacts?: ReadonlyArray<TaskArtifact>) =>
    Effect.gen(function*() {
      clearTimer(task.id)
      claims.delete(task.id)
      yield* rounds.taskEnded(task.id)
      decoded.delete(task.id)
      // Every party is told of the task's sealed artifacts on IPFS, to pin them: what it cannot open it still keeps available.
      const named = artifacts === undefined || artifacts.length === 0 ? {} : { artifacts }
      for (const p of participantsOf(task.spec)) hub.ended(p, { taskId: task.id, status, reason, ...named })
    })

  /**
   * A transition that lost a race is not an error: someone else already moved the task on. Without a claim (the
   * task is not this instance's) or with a stale one, nothing is written.
   */
  const move = (task: TaskRow, to: Status, reason?: string, bumpAttempt = false): Effect.Effect<boolean, StoreFailed> =>
    Effect.gen(function*() {
      const claim = claims.get(task.id)
      if (claim === undefined) return false
      yield* store.transition(claim, task.status, to, { reason, reasonHash: reasonHash(reason ?? to), bumpAttempt })
      log.info("task transition", { taskId: task.id, from: task.status, to, reason })
      notify(task.id, to)
      if (isFinal(to)) yield* ended(task, to, reason)
      return true
    }).pipe(
      Effect.catchTags({
        StaleTransition: () => Effect.succeed(false),
        LeaseLost: (error) => Effect.as(lost(error), false)
      })
    )

  /** The task as stored now; it exists (the caller has just written it under its claim). */
  const current = (id: string) => Effect.map(store.get(id), (task) => task!)

  const offer = (task: TaskRow, participant: string, rejoin = false) =>
    hub.offer(participant, { taskId: task.id, specHash: task.id, spec: task.spec, ...(rejoin ? { rejoin } : {}) })

  /** Offers the task to each party that has not answered yet (an answer recorded is never asked for again). */
  const offerUnanswered = (task: TaskRow) =>
    Effect.gen(function*() {
      const answered = new Set((yield* store.consents(task.id)).map((c) => c.participant))
      for (const p of participantsOf(task.spec)) if (!answered.has(p)) offer(task, p)
    })

  const startConsent = (task: TaskRow) =>
    Effect.gen(function*() {
      yield* offerUnanswered(task)
      const deadline = Date.parse(task.createdAt) + (task.spec.consentTimeoutMs ?? defaultConsentTimeoutMs)
      clearTimeout(timers.get(task.id))
      timers.set(task.id, setTimeout(later("consent timeout", consentTimedOut(task.id)), Math.max(0, deadline - Date.now())))
    })

  /**
   * A Submitted task this instance holds opens for consents: moved to AwaitingConsent, then offered and timed —
   * only by whoever made the move, so the offers go out once and never before the store says consent is open.
   */
  const openConsent = (task: TaskRow) =>
    Effect.gen(function*() {
      if (yield* move(task, "AwaitingConsent")) yield* startConsent(yield* current(task.id))
    })

  const consentTimedOut = (id: string) =>
    Effect.gen(function*() {
      const task = yield* store.get(id)
      if (!task || task.status !== "AwaitingConsent") return
      const answered = new Set((yield* store.consents(id)).map((c) => c.participant))
      const silent = participantsOf(task.spec).filter((p) => !answered.has(p))
      // Every answer in, the task not moved on (its owner changed in between): it goes on, it did not time out.
      if (silent.length === 0) return void (yield* consentsIn(task))
      yield* move(task, "TimedOut", `no consent in time from ${silent.join(", ")}`)
    })

  const offlineAmong = (parties: ReadonlyArray<string>) => parties.filter((p) => !hub.isOnline(p))

  /**
   * Runs the protocol once every participant is online (or fails naming those that never came). A wait is
   * level-triggered: who is online is looked at again every `startCheckMs`, not only when a participant's
   * connection is announced. Across instances the announcement is an edge that can miss — handled while the task
   * was still awaiting consent, lost with a store read that failed under load, or never made at all when an
   * instance that had been taken for dead comes back and its participants with it — and a task whose every
   * party was online again but heard of none of it stayed Scheduled for ever (its give-up found nobody missing).
   */
  const schedule = (task: TaskRow): Effect.Effect<void, StoreFailed> =>
    Effect.gen(function*() {
      // Its start is under way already, waiting for the chain to answer.
      if (awaitingChain.has(task.id)) return
      const parties = participantsOf(task.spec)
      const deadline = waiting.get(task.id)?.deadline ?? Date.now() + startTimeoutMs
      if (offlineAmong(parties).length > 0) {
        clearTimeout(timers.get(task.id))
        waiting.set(task.id, { parties, deadline })
        timers.set(task.id, setTimeout(later("start check", startCheck(task.id)), Math.max(0, Math.min(startCheckMs, deadline - Date.now()))))
        return
      }
      clearTimer(task.id)
      // PROTOCOLS.md §2.1 (d): a member suspended since it consented must not take part; ask the chain now.
      const accounts = [task.spec.initiator, ...parties]
      const standing = yield* Effect.result(suspendedAmong(accounts))
      if (Result.isSuccess(standing)) return yield* start(task, standing.success)
      // A chain that does not answer (a node restarting) says nothing of the parties: asked again until the start
      // deadline, in a fiber of its own so the caller (a consent, a participant's reconnection) is not held up.
      const asking = Effect.runFork(startOnceChainAnswers(task, accounts, deadline))
      awaitingChain.set(task.id, asking)
      asking.addObserver(() => void (awaitingChain.get(task.id) === asking && awaitingChain.delete(task.id)))
    })

  /** Fails the task naming the barred party, or runs it. */
  const start = (task: TaskRow, barred: string | undefined): Effect.Effect<void, StoreFailed> =>
    Effect.gen(function*() {
      if (barred !== undefined) return void (yield* move(task, "Failed", barred))
      if (!(yield* move(task, "Running"))) return
      yield* run(yield* current(task.id))
    })

  /** `start` once the chain answers for every account; failed naming the unreadable chain when it has not by `deadline`. */
  const startOnceChainAnswers = (task: TaskRow, accounts: ReadonlyArray<string>, deadline: number): Effect.Effect<void> =>
    suspendedAmong(accounts, deadline).pipe(
      Effect.matchEffect({
        onFailure: (unreadable) => Effect.asVoid(move(task, "Failed", `${unreadable.message} until the start deadline; the task stops`)),
        onSuccess: (barred) => start(task, barred)
      }),
      Effect.catchCause((cause) => Effect.sync(() => log.error("task start failed", { taskId: task.id, error: String(Cause.squash(cause)) })))
    )

  /** A waiting task's check: started once all are online, failed at its deadline; nothing is read until one of them. */
  const startCheck = (id: string) =>
    Effect.gen(function*() {
      const wait = waiting.get(id)
      if (wait === undefined || !claims.has(id) || running.has(id)) return
      const offline = offlineAmong(wait.parties)
      if (offline.length > 0 && Date.now() < wait.deadline) {
        timers.set(id, setTimeout(later("start check", startCheck(id)), Math.max(0, Math.min(startCheckMs, wait.deadline - Date.now()))))
        return
      }
      const now = yield* store.get(id)
      if (now?.status !== "Scheduled") return void waiting.delete(id)
      // Looked at again after the read: one may have come or gone meanwhile.
      const missing = offlineAmong(wait.parties)
      if (missing.length === 0) return yield* schedule(now)
      yield* move(now, "Failed", `participants offline: ${missing.join(", ")}`)
    })

  /**
   * Seals an artifact to its readers and puts it on the coordinator's IPFS node, committing the sealed block's
   * hash on chain as the task's phase `ipfs:<role>`. A node or key lookup that fails leaves the artifact off IPFS
   * (logged): the result itself is kept and served by the API either way.
   */
  const publish = (task: TaskRow, claim: Claim, role: TaskArtifact["role"], value: unknown, readers: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const published = yield* sealedCopy(task, role, value, readers)
      if (published !== undefined) yield* store.commitPhase(claim, phaseOf(role), published.root)
      return published
    })

  /** Seals `value` to `readers` and puts it on the coordinator's IPFS node; undefined (logged) when it could not. */
  const sealedCopy = (task: TaskRow, role: TaskArtifact["role"], value: unknown, readers: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const sealed = deps.sealed
      if (sealed === undefined) return undefined
      const outcome = yield* sealed.publish(task.id, role, jsonBytes(value), readers).pipe(
        Effect.catch((error) => Effect.sync(() => void log.warn("artifact not put on IPFS", { taskId: task.id, role, error: String(error) })))
      )
      if (outcome === undefined) return undefined
      if (outcome.missing.length > 0) log.warn("artifact sealed without some readers (no encryption key)", { taskId: task.id, role, missing: outcome.missing })
      return outcome.published
    })

  /** The task's `CheckpointSealed` events, in order. */
  const sealedCheckpoints = (taskId: string) =>
    Effect.map(store.events(taskId), (events) => events.flatMap((e) => (e.type === "CheckpointSealed" ? [e.data as CheckpointChain.Sealed] : [])))

  /**
   * Puts the link of a checkpoint just sealed, after the task's earlier ones (CheckpointChain.ts); `{}` (logged)
   * when there is no chain or the link could not be put: the checkpoint is saved either way.
   */
  const linkCheckpoint = (task: TaskRow, key: string, sealed: Published): Effect.Effect<{ readonly link?: string }> =>
    Effect.gen(function*() {
      const chain = deps.checkpoints
      if (chain === undefined) return {}
      const previous = yield* sealedCheckpoints(task.id)
      const link = yield* chain.link(task.id, previous, { key, attempt: task.attempt, cid: sealed.cid, root: sealed.root })
      return { link: link.cid }
    }).pipe(Effect.catch((error) => Effect.sync(() => (log.warn("checkpoint link not put on IPFS", { taskId: task.id, error: String(error) }), {}))))

  /** Once a checkpoint is saved, the coordinator's node releases the bodies it supersedes (all but the newest kept). */
  const releaseSuperseded = (task: TaskRow) =>
    Effect.gen(function*() {
      const chain = deps.checkpoints
      if (chain === undefined) return
      const { released, failures } = yield* chain.release(yield* sealedCheckpoints(task.id))
      for (const { cid, error } of failures) log.warn("superseded checkpoint not unpinned", { taskId: task.id, cid, error: error.message })
      if (released.length === 0) return
      log.info("superseded checkpoints unpinned", { taskId: task.id, released })
      // Unpinned is not deleted: the node's garbage collection removes the bodies from its store (now, or when
      // its minimum interval has passed: `collectOwedEvery`).
      const deleted = yield* chain.collect()
      if (deleted > 0) log.info("IPFS garbage collected", { taskId: task.id, deleted })
    }).pipe(Effect.catch((error) => Effect.sync(() => void log.warn("superseded checkpoints not released or collected", { taskId: task.id, error: String(error) }))))

  /**
   * The task's checkpoints on IPFS, committed on chain once as phase `ipfs:checkpoint` when the task succeeds: the
   * hash of the last checkpoint's link, which chains every checkpoint's CID and ciphertext hash (CheckpointChain.ts),
   * or, for a task whose checkpoints were sealed without links, the last sealed block's hash. The chain gets one
   * hash per task; the parties pin the last checkpoint.
   */
  const lastCheckpoint = (task: TaskRow, claim: Claim) =>
    Effect.gen(function*() {
      if (deps.sealed === undefined) return undefined
      const all = yield* sealedCheckpoints(task.id)
      const last = all.at(-1)
      if (last === undefined) return undefined
      const anchored = all.every((c) => c.link !== undefined) && deps.checkpoints !== undefined
        ? yield* Effect.orElseSucceed(deps.checkpoints.anchorOf(last.link!), () => last.root)
        : last.root
      yield* store.commitPhase(claim, phaseOf("checkpoint"), anchored)
      // The parties pin the last checkpoint and the head of the links (which keeps the whole chain on their nodes).
      return [{ role: "checkpoint" as const, cid: last.cid }, ...(last.link === undefined ? [] : [{ role: "checkpoint-chain" as const, cid: last.link }])]
    })

  /** Keeps the result (its model in the model store, both content-addressed, sealed copies on IPFS) and records the task's success. */
  const succeed = (task: TaskRow, claim: Claim, value: unknown) =>
    Effect.gen(function*() {
      const keep = <A>(effect: Effect.Effect<A, { readonly message: string }>) => Effect.mapError(effect, (error) => new OutcomeNotStored({ detail: error.message }))
      const { result, model } = yield* keep(storeModel(deps.models, task.id, value))
      const artifacts = deps.artifacts
      // Content-addressed too, so an audit can check the model's bytes without trusting the model table.
      const modelCid = model === undefined || artifacts === undefined ? undefined : yield* keep(artifacts.putJson(model.value, task.id))
      const resultCid = artifacts === undefined ? undefined : yield* keep(artifacts.putJson(result, task.id))
      // Before the success: a phase is committed while the task runs. The result to its recipients, the model to the parties that trained it.
      const sealedResult = resultCid === undefined ? undefined : yield* publish(task, claim, "result", result, resultRecipientsOfSpec(task.spec))
      const sealedModel = modelCid === undefined ? undefined : yield* publish(task, claim, "model", model!.value, participantsOf(task.spec))
      const sealedCheckpoint = yield* lastCheckpoint(task, claim)
      yield* store.succeed(claim, result, digest(result), reasonHash("Succeeded"))
      if (modelCid !== undefined) yield* keep(artifacts!.link(task.id, "model", modelCid, model!.id, sealedModel?.cid))
      if (resultCid !== undefined) yield* keep(artifacts!.link(task.id, "result", resultCid, digest(result), sealedResult?.cid))
      log.info("task succeeded", { taskId: task.id })
      notify(task.id, "Succeeded")
      const onIpfs = [sealedResult, sealedModel, ...(sealedCheckpoint ?? [])].flatMap((p: Pick<Published, "role" | "cid"> | undefined) => (p === undefined ? [] : [{ role: p.role, cid: p.cid }]))
      yield* ended(task, "Succeeded", undefined, onIpfs)
    })

  /** What the run's exit means for the task: success recorded, failure recorded, interruption left alone. */
  const outcome = (task: TaskRow, claim: Claim, exit: Exit.Exit<unknown, unknown>) =>
    Effect.gen(function*() {
      running.delete(task.id)
      if (Exit.isSuccess(exit)) return yield* succeed(task, claim, exit.value)
      if (Cause.hasInterruptsOnly(exit.cause)) return
      const error = Cause.squash(exit.cause)
      if (error instanceof AttemptSuspended && task.attempt + 1 < maxSuspendedAttempts) return yield* suspend(task, error)
      const reason = error instanceof Error ? error.message : String(error)
      yield* move({ ...task, status: "Running" }, "Failed", reason)
    }).pipe(
      Effect.catchTags({
        LeaseLost: lost,
        StaleTransition: () => Effect.void
      }),
      Effect.catchCause((cause) => Effect.sync(() => log.error("could not record task outcome", { taskId: task.id, error: String(Cause.squash(cause)) })))
    )

  /**
   * Parties left mid-task and the protocol kept what resuming needs: the task goes back to Scheduled as a new
   * attempt, which `schedule` starts once every party is online again (or fails after startTimeoutMs).
   */
  const suspend = (task: TaskRow, error: AttemptSuspended) =>
    Effect.gen(function*() {
      const reason = `${error.message}; attempt ${task.attempt} suspended, the task resumes from its checkpoint once they are back`
      if (!(yield* move({ ...task, status: "Running" }, "Scheduled", reason, true))) return
      log.warn("task suspended", { taskId: task.id, waitingFor: error.waitingFor })
      yield* schedule(yield* current(task.id))
    })

  const run = (task: TaskRow): Effect.Effect<void, StoreFailed> =>
    Effect.gen(function*() {
      const found = taskOf(task)
      if (Result.isFailure(found)) return void (yield* move(task, "Failed", found.failure.message))
      const claim = claims.get(task.id)
      if (claim === undefined) return
      const { protocol, params } = found.success
      yield* rounds.taskStarted(task.id)
      // A write refused because another instance claimed the task interrupts the run (`lost`), nothing else.
      const stopIfLost = <A, E>(write: Effect.Effect<A, E>) => Effect.tapError(write, (error) => error instanceof LeaseLost ? lost(error) : Effect.void)
      // The session's state goes to the store: a store that fails a commit or a checkpoint (after its own retries)
      // fails the run as SessionStateFailed naming what was not kept, which `outcome` records as the task's reason
      // (a lost lease drops the task first, and the failure is then recorded nowhere).
      const kept = <A>(operation: SessionStateFailed["operation"], key: string, write: Effect.Effect<A, StoreFailed | LeaseLost>) =>
        Effect.mapError(stopIfLost(write), (error) => new SessionStateFailed({ operation, key, detail: error.message }))
      const session = rounds.session({
        taskId: task.id,
        attempt: task.attempt,
        participants: found.success.parties,
        stages: protocol.stages.map((s) => s.stage.name),
        roundTimeoutMs: found.success.roundTimeoutMs,
        // Progress is not waited for: the next round does not depend on its event being written.
        progress: (event) => Effect.sync(() => void Effect.runFork(Effect.ignore(stopIfLost(store.event(claim, "Progress", event))))),
        commit: (phase, root) => kept("commit", phase, store.commitPhase(claim, phase, root)),
        checkpoint: {
          // A copy sealed to the task's parties goes to IPFS first; its CID is recorded with the checkpoint itself.
          // The coordinator is a reader too when it has an encryption key: a checkpoint is its own state of the run
          // (it holds it in its store already), which it or another instance reads back when the task resumes.
          save: (key, value) =>
            Effect.flatMap(sealedCopy(task, "checkpoint", value, [...participantsOf(task.spec), ...(deps.checkpointReader === undefined ? [] : [deps.checkpointReader])]), (sealed) =>
              sealed === undefined
                ? kept("checkpoint.save", key, store.saveCheckpoint(claim, key, task.attempt, value))
                : Effect.flatMap(linkCheckpoint(task, key, sealed), (link) =>
                  kept("checkpoint.save", key, store.saveCheckpoint(claim, key, task.attempt, value, { cid: sealed.cid, root: sealed.root, readers: sealed.readers, ...link })).pipe(
                    // Not waited for: the next round does not depend on the old bodies' pins.
                    Effect.andThen(Effect.sync(() => void Effect.runFork(releaseSuperseded(task))))
                  ))),
          load: (key) => kept("checkpoint.load", key, store.loadCheckpoint(task.id, key))
        }
      })
      // The result is stored as its Schema encodes it: a protocol that returns something else fails the task.
      const program = protocol.coordinator(session, params, found.success).pipe(
        Effect.flatMap((result) =>
          Effect.mapError(Schema.encodeUnknownEffect(protocol.result)(result), (error) =>
            new ProtocolError({ protocol: protocol.kind, reason: "InvalidResult", detail: String(error) })))
      )
      // The backends: federated learning's "ckks" aggregation adds ciphertexts here (it never holds a CKKS key),
      // secure aggregation recovers dropouts' masks with their key agreement and PRG. The run is a detached fiber:
      // it outlives the request or event that started it, and `drop`, `cancel` and `close` interrupt it.
      const fiber = Effect.runFork(Effect.provide(program, deps.backends))
      running.set(task.id, fiber)
      fiber.addObserver((exit) => void Effect.runFork(outcome(task, claim, exit)))
    })

  /**
   * The reason naming the first account whose org is not Audited on chain, or undefined when all are; with a
   * `deadline`, a read the chain does not answer is made again until then. ChainUnreadable when the chain did not
   * answer for an account and no other account is barred: a party's standing that cannot be shown is not a refusal.
   */
  const suspendedAmong = (accounts: ReadonlyArray<string>, deadline?: number): Effect.Effect<string | undefined, ChainUnreadable> =>
    Effect.flatMap(
      // Asked at once (each is a chain read), reported for the first account in the task's order.
      Effect.forEach(accounts, (account) => {
        const check = auth.checkOrg(getAddress(account))
        return Effect.flip(deadline === undefined ? check : untilChainAnswers(check, deadline)).pipe(Effect.option)
      }, { concurrency: "unbounded" }),
      (answers) => {
        const refusals = answers.flatMap((answer) => (answer._tag === "Some" ? [answer.value] : []))
        const barred = refusals.find((refusal) => refusal.code !== "Unavailable")
        if (barred !== undefined) return Effect.succeed(`${barred.message}; the task stops`)
        return refusals.length === 0 ? Effect.succeed(undefined) : Effect.fail(new ChainUnreadable({ detail: refusals[0]!.detail }))
      }
    )

  /**
   * The supervisor suspended or revoked an org (seen on chain): every open task that names one of its accounts
   * fails at once, naming the org, and a running protocol is interrupted before its next round.
   */
  const suspended = (accounts: ReadonlyArray<string>, reason: string) =>
    Effect.gen(function*() {
      const barred = new Set(accounts.map((a) => getAddress(a)))
      for (const task of yield* store.owned(instance)) {
        const involved = [task.spec.initiator, ...participantsOf(task.spec)].some((a) => barred.has(getAddress(a)))
        if (!involved) continue
        const fiber = running.get(task.id)
        if (yield* move(task, "Failed", reason)) log.warn("task stopped: member suspended", { taskId: task.id, reason })
        if (fiber) yield* Fiber.interrupt(fiber)
      }
    })

  /** Checks a submission and records it (AwaitingConsent, the consents asked for); its id, the digest of the signed spec. */
  const submit = (spec: TaskSpec, signature: string): Effect.Effect<string, InvalidTask | DuplicateTask | Unavailable | StoreFailed> =>
    Effect.gen(function*() {
      // The one decode of the params on the coordinator: the typed task is kept for the run.
      const checked = Protocols.decodeTask(spec)
      if (Result.isFailure(checked)) {
        return yield* new InvalidTask({ reason: checked.failure._tag === "UnknownTaskKind" ? "UnknownKind" : "InvalidParams", message: checked.failure.message })
      }
      const parties = participantsOf(spec)
      if (new Set(parties).size !== parties.length) return yield* new InvalidTask({ reason: "InvalidSpec", message: "a participant is named twice" })
      const named = spec.recipients ?? []
      if (new Set(named).size !== named.length) return yield* new InvalidTask({ reason: "InvalidSpec", message: "a recipient is named twice" })
      const recipients = Protocols.resultRecipients(checked.success)
      const id = taskIdOf(spec)
      // The initiator signs the task id (EIP-191), which commits to the whole spec.
      if (!verify(spec.initiator, getBytes(id), signature)) {
        return yield* new InvalidTask({ reason: "BadSignature", message: `the submission is not signed by the initiator ${getAddress(spec.initiator)}` })
      }
      for (const account of new Set([getAddress(spec.initiator), ...parties, ...recipients])) {
        // The org's refusal (not registered, awaiting audit, suspended, revoked) names the account. A chain that did
        // not answer is the coordinator's failure, not the party's: nothing is recorded and the same signed
        // submission may be sent again.
        yield* Effect.mapError(auth.checkOrg(account), (refusal) =>
          refusal.code === "Unavailable"
            ? new Unavailable({ message: `the standing of ${account} could not be read (${refusal.detail}); nothing was recorded, submit again later` })
            : new InvalidTask({ reason: "PartyNotAudited", message: refusal.message }))
      }
      if (yield* store.get(id)) return yield* new DuplicateTask({ message: `task ${id} exists already` })
      // From the insert on, the task exists for everyone: a submitter that goes away (its HTTP request interrupted)
      // must not leave it recorded but never offered, with no consent timer — it would wait for consents forever.
      return yield* Effect.uninterruptible(Effect.gen(function*() {
        // The instance that accepts a task owns it (token 1) until it ends or this instance dies.
        claims.set(id, yield* store.insert(id, spec, id, parties, instance))
        decoded.set(id, checked.success)
        // Not offered when the move did not land (the lease lost meanwhile): offers before the store says
        // AwaitingConsent drew consents that were refused as closed. The task's holder opens it (adopt, reoffer).
        yield* openConsent(yield* current(id))
        return id
      }))
    })

  /** Whether `account`'s answer to the task is recorded with this very signature. */
  const keptAlready = (taskId: string, account: string, signature: string) =>
    Effect.map(store.consents(taskId), (kept) => kept.some((c) => c.participant === account && c.signature === signature))

  /** A participant's signed answer to an offer; a refusal goes back to it as a `wire.error`. */
  const consent = (account: string, message: TaskConsent): Effect.Effect<void, WireRefusal | StoreFailed> =>
    Effect.gen(function*() {
      const task = yield* store.get(message.taskId)
      if (!task) return yield* new WireRefusal({ code: "UnknownTask", detail: `no task ${message.taskId}` })
      const parties = participantsOf(task.spec)
      if (!parties.includes(account)) return yield* new WireRefusal({ code: "NotAuthorized", detail: `${account} is not a participant of task ${task.id}` })
      // Still Submitted: its holder had not opened it when the answer came (an offer made before the move landed,
      // or a claim taken just now). The holder opens it here and keeps the answer; elsewhere it is refused without
      // being lost — the holder offers the task again and the participant sends the same answer.
      let now = task
      if (now.status === "Submitted" && claims.has(now.id)) {
        yield* openConsent(now)
        now = yield* current(now.id)
      }
      if (now.status === "Submitted") return yield* new WireRefusal({ code: "UnknownTask", detail: `task ${task.id} is not open for consent yet; it will be offered again` })
      if (now.status !== "AwaitingConsent") {
        // The answer kept already, sent again (to an offer repeated while it was on its way): nothing to refuse.
        if (yield* keptAlready(task.id, account, message.signature)) return
        return yield* new WireRefusal({ code: "Replayed", detail: `task ${task.id} is ${now.status}; consent is closed` })
      }
      const hash = reasonHash(message.reason)
      const signer = yield* Effect.try({
        try: () => getAddress(deps.consent.recover({ taskId: task.id, specHash: task.id, approve: message.approve, reasonHash: hash }, message.signature)),
        catch: () => new WireRefusal({ code: "Malformed", detail: "the consent signature does not parse" })
      })
      if (signer !== account) {
        if (deps.consentKey === undefined) return yield* new WireRefusal({ code: "NotAuthorized", detail: `the consent is signed by ${signer}, not ${account}` })
        const verdict = yield* Effect.tryPromise({
          try: () => deps.consentKey!(account, signer),
          catch: (error) => new WireRefusal({ code: "Internal", detail: `the DID of ${account} could not be resolved: ${error instanceof Error ? error.message : String(error)}` })
        })
        if (!verdict.valid) return yield* new WireRefusal({ code: "KeyNotAuthorized", detail: `${verdict.reason}: ${verdict.detail}` })
      }
      const claim = claims.get(task.id)
      if (claim === undefined) return yield* new WireRefusal({ code: "UnknownTask", detail: `task ${task.id} is not run by this coordinator instance` })
      const fresh = yield* store.recordConsent(claim, { participant: account, approve: message.approve, reason: message.reason, signature: message.signature }, hash).pipe(
        Effect.catchTag("LeaseLost", (error) =>
          Effect.andThen(
            lost(error),
            Effect.fail(new WireRefusal({ code: "UnknownTask", detail: `task ${task.id} moved to another coordinator instance; send the consent again` }))
          ))
      )
      if (!fresh) {
        // The same signed answer again (the participant answering an offer made again because its first answer
        // seemed lost): already kept, nothing to do. A different answer is a replay.
        if (yield* keptAlready(task.id, account, message.signature)) return
        return yield* new WireRefusal({ code: "Replayed", detail: `${account} already answered task ${task.id}` })
      }
      log.info("consent recorded", { taskId: task.id, participant: account, approve: message.approve })
      // The consent is kept: a move that fails now is not the sender's failure. Refused, it would be told to send
      // again an answer that is never asked for again (a refusal changes no state; this one did). The task's holder
      // makes the move on its periodic pass (`reoffer`).
      yield* Effect.catchTag(consentsIn(now), "StoreFailed", (error) =>
        Effect.sync(() => log.warn("consent recorded, the task not moved on; its periodic pass moves it", { taskId: task.id, error: error.message })))
    })

  /**
   * An AwaitingConsent task whose consents are in moves on: Rejected at the first refusal, Scheduled (and started
   * when everyone is online) once every party approved; otherwise it waits on. Called after each consent, and
   * whenever an instance takes the task: the consents a previous owner recorded before it could move the task
   * (its lease ran out in between) must not leave the task waiting for answers that were all given — nor must a
   * move that failed in the store after the last consent was kept (`reoffer` makes it again). A move made already
   * (by another path, or another instance now holding the task) is not made twice. Whether it still waits.
   */
  const consentsIn = (task: TaskRow): Effect.Effect<boolean, StoreFailed> =>
    Effect.gen(function*() {
      const consents = yield* store.consents(task.id)
      const refusal = consents.find((c) => !c.approve)
      if (refusal !== undefined) {
        yield* move(task, "Rejected", `participant ${refusal.participant} rejected the task: ${refusal.reason}`)
        return false
      }
      if (consents.length < participantsOf(task.spec).length) return true
      if (yield* move(task, "Scheduled")) {
        clearTimeout(timers.get(task.id))
        yield* schedule(yield* current(task.id))
      }
      return false
    })

  /** A participant came online (on any instance): offer it what awaits its consent, start what waited for it. */
  const online = (account: string) =>
    Effect.gen(function*() {
      for (const task of yield* store.owned(instance)) {
        if (!participantsOf(task.spec).includes(account)) continue
        if (task.status === "AwaitingConsent") {
          const answered = (yield* store.consents(task.id)).some((c) => c.participant === account)
          if (!answered) offer(task, account)
        } else if (task.status === "Scheduled" && !running.has(task.id)) {
          // A later attempt (a suspended one, or one rescheduled by a restart) may wait for a participant whose
          // process died and forgot the task: offer it again before the attempt's first stage reaches it.
          if (task.attempt > 0 && (yield* store.consents(task.id)).some((c) => c.participant === account && c.approve)) offer(task, account, true)
          yield* schedule(task)
        } else if (task.status === "Running" && running.has(task.id)) {
          // A participant back after a restart has forgotten the task: offer it again so it can serve the rounds
          // still to come (the rounds it missed settled without it). Harmless to one that only reconnected.
          const approved = (yield* store.consents(task.id)).some((c) => c.participant === account && c.approve)
          if (approved) offer(task, account, true)
        }
      }
    })

  /** One task's share of the periodic pass (`reoffer`). */
  const reofferTask = (task: TaskRow): Effect.Effect<void, StoreFailed> =>
    Effect.gen(function*() {
      if (task.status === "Submitted") yield* openConsent(task)
      else if (task.status === "AwaitingConsent" && (yield* consentsIn(task))) yield* offerUnanswered(task)
      else if (task.status === "Scheduled" && !running.has(task.id)) yield* schedule(task)
    })

  /**
   * Offers every task this instance holds that awaits consents again to the parties that have not answered, and
   * opens one left Submitted (its move to AwaitingConsent failed in the store). An offer is an edge — a socket that
   * drops with it, a NOTIFY the adapter's listener misses while it reconnects, a consent lost the same ways —
   * and the level is in the store: who has not answered. Repeating it costs an answered participant nothing: it
   * sends its same signed answer, which is kept once. A task whose answers are all in (or one refused) but which
   * still awaits them — its move failed in the store after the last consent was kept — is moved on instead: nobody
   * is asked again, and no answer will come to move it. A Scheduled task that is not running here is scheduled
   * again: its move to Running may have failed in the store, and with every party online no start check is armed
   * to retry it (one already started elsewhere is not started twice: the store refuses a move from a stale status).
   * Each task's store failure is its own: logged, the pass goes on with the others, the next pass tries it again.
   */
  const reoffer = Effect.gen(function*() {
    for (const task of yield* store.owned(instance)) {
      if (!claims.has(task.id)) continue
      yield* Effect.catchTag(reofferTask(task), "StoreFailed", (error) =>
        Effect.sync(() =>
          log.warn("periodic pass: task not moved on; the next pass tries again", {
            taskId: task.id,
            status: task.status,
            error: error._tag,
            operation: error.operation,
            detail: error.detail
          })
        ))
    }
  })

  /**
   * A task this instance has just claimed (after a restart over an embedded store, or an orphan whose owner
   * died) resumes from its stored state.
   */
  const adopt = (listed: TaskRow, claim: Claim, why: Adoption) =>
    Effect.gen(function*() {
      yield* drop(listed.id)
      // The row as it is now, under the new claim: the listing the claim was made from may predate the previous
      // owner's last write (a lapsed owner goes on writing until the claim fences it), and a transition from a
      // stale status is refused as stale and silently drops the task — left Running or Scheduled with nobody on it.
      const task = yield* store.get(listed.id)
      if (task === undefined || isFinal(task.status)) return
      claims.set(task.id, claim)
      // Whose task it was: the listing's owner (the row read now names this instance).
      const previous = why === "takeover" && listed.owner !== null && listed.owner !== instance
        ? `coordinator instance ${listed.owner} stopped; taken over by ${instance}`
        : why === "rejoined"
        ? `coordinator instance ${instance} lost its lease and rejoined`
        : "coordinator restarted"
      log.info("resuming task", { taskId: task.id, status: task.status, fence: claim.fence })
      if (task.status === "Submitted") {
        yield* openConsent(task)
      } else if (task.status === "AwaitingConsent") {
        yield* startConsent(task)
        yield* consentsIn(task)
      } else if (task.status === "Running") {
        // The protocol's in-flight state died with the old process; a fresh attempt re-runs it from the start
        // with new keys and masks, which the participants key their memory by.
        yield* move(task, "Scheduled", `${previous} during attempt ${task.attempt}; rescheduled`, true)
        yield* schedule(yield* current(task.id))
      } else if (task.status === "Scheduled") {
        yield* schedule(task)
      }
    })

  /**
   * Cancels a task. One another instance owns is taken from it first (a new token: its next write is refused and
   * it is told to stop), so a cancel works from whichever instance the caller reached.
   */
  const cancel = (id: string, reason: string): Effect.Effect<Status, UnknownTask | StoreFailed> =>
    Effect.gen(function*() {
      let task = yield* store.get(id)
      if (!task) return yield* new UnknownTask({ message: `no task ${id}` })
      if (isFinal(task.status)) return task.status
      if (!claims.has(id)) {
        const claim = yield* store.claim(id, instance, { force: true })
        const now = yield* store.get(id)
        if (claim === undefined || now === undefined) return now?.status ?? task.status
        if (task.owner !== null && task.owner !== instance) deps.released?.(id, task.owner)
        claims.set(id, claim)
        task = now
      }
      const fiber = running.get(id)
      yield* move(task, "Cancelled", reason)
      if (fiber) yield* Fiber.interrupt(fiber)
      return "Cancelled" as const
    })

  return {
    submit,
    consent,
    reoffer,
    reofferEvery: Effect.repeat(
      Effect.catchCause(reoffer, (cause) => Effect.sync(() => log.warn("offering tasks again failed", { error: String(Cause.squash(cause)) }))),
      Schedule.spaced(`${reofferMs} millis`)
    ),
    collectOwedEvery: deps.checkpoints === undefined
      ? Effect.void
      : Effect.repeat(
        Effect.matchCause(deps.checkpoints.collectOwed(), {
          onFailure: (cause) => log.warn("IPFS garbage collection failed", { error: String(Cause.squash(cause)) }),
          onSuccess: (deleted) => (deleted > 0 ? log.info("IPFS garbage collected (owed)", { deleted }) : undefined)
        }),
        Schedule.spaced(`${Math.max(1_000, deps.checkpoints.minIntervalMs)} millis`)
      ),
    online: (account) => Effect.catch(online(account), (error) => Effect.sync(() => log.error("online handling failed", { error: String(error) }))),
    adopt,
    // This instance's lease had expired: every task may be another instance's now. Stop them all, write nothing.
    lostAll: Effect.suspend(() => Effect.forEach([...claims.keys()], drop, { discard: true })),
    release: drop,
    owns: (taskId) => claims.has(taskId),
    cancel,
    suspended,
    close: Effect.suspend(() => {
      for (const timer of timers.values()) clearTimeout(timer)
      return Effect.forEach([...running.values(), ...awaitingChain.values()], (fiber) => Fiber.interrupt(fiber), { discard: true, concurrency: "unbounded" })
    }),
    onStatus: (listener) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    }
  }
}

/** The scheduler as the API, the hub and the cluster use it; every operation is an Effect. */
export interface SchedulerShape {
  /** Checks a submission and records it (AwaitingConsent, the consents asked for); its id. */
  readonly submit: (spec: TaskSpec, signature: string) => Effect.Effect<string, InvalidTask | DuplicateTask | Unavailable | StoreFailed>
  /** A participant's signed answer to an offer; a refusal goes back to it as a `wire.error`. */
  readonly consent: (account: string, message: TaskConsent) => Effect.Effect<void, WireRefusal | StoreFailed>
  /**
   * Offers the tasks this instance holds that await consents again to whoever has not answered, and moves on those
   * whose answers are all in (once).
   */
  readonly reoffer: Effect.Effect<void, StoreFailed>
  /** `reoffer` every `reofferMs`, failures logged, until interrupted (the layer runs it in its scope): a failed move is made again there. */
  readonly reofferEvery: Effect.Effect<unknown>
  /** The IPFS collection a release left owed, run once its minimum interval has passed; until interrupted. */
  readonly collectOwedEvery: Effect.Effect<unknown>
  /** A participant came online (on any instance): offered what awaits its consent; a failure is logged. */
  readonly online: (account: string) => Effect.Effect<void>
  /** A task this instance has just claimed resumes from its stored state. */
  readonly adopt: (task: TaskRow, claim: Claim, why: Adoption) => Effect.Effect<void, StoreFailed>
  /** This instance's lease had expired: every task stops here, nothing is written. */
  readonly lostAll: Effect.Effect<void>
  /** Another instance took the task (a cancel there): stop it here. */
  readonly release: (taskId: string) => Effect.Effect<void>
  /** Whether this instance runs the task now. */
  readonly owns: (taskId: string) => boolean
  readonly cancel: (id: string, reason: string) => Effect.Effect<Status, UnknownTask | StoreFailed>
  /** An org was suspended or revoked: its open tasks fail, their runs are interrupted. */
  readonly suspended: (accounts: ReadonlyArray<string>, reason: string) => Effect.Effect<void, StoreFailed>
  /** Interrupts every run of this instance (another instance or a restart resumes them). */
  readonly close: Effect.Effect<void>
  /** Hears every status change this instance writes; returns the unsubscribe function. */
  readonly onStatus: (listener: (taskId: string, status: Status) => void) => () => void
}

export class Scheduler extends Context.Service<Scheduler, SchedulerShape>()("jointly/coordinator/Scheduler") {}

/**
 * The scheduler as a Layer over the task store, the socket hub and the round engine; its runs are interrupted when
 * the layer's scope closes.
 */
export const layer = (deps: Omit<Deps, "store" | "hub" | "rounds">): Layer.Layer<Scheduler, never, TaskStore | Hub | RoundEngine> =>
  Layer.effect(
    Scheduler,
    Effect.gen(function*() {
      const scheduler = make({ ...deps, store: yield* TaskStore, hub: yield* Hub, rounds: yield* RoundEngine })
      yield* Effect.addFinalizer(() => scheduler.close)
      yield* Effect.forkScoped(scheduler.reofferEvery)
      yield* Effect.forkScoped(scheduler.collectOwedEvery)
      return scheduler
    })
  )
