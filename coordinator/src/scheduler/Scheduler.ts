/**
 * Drives each task through its life (DESIGN.md §3): submission checks, consent collection, running the
 * protocol's coordinator side, storing and notarizing the result — and picking up (`adopt`) every task its
 * instance claims: at start over an embedded store, or an orphan whose owner died (coordinator/src/cluster/).
 * Every transition goes through the store, which queues its chain record in the same transaction, and carries
 * this instance's claim on the task: once another instance has claimed it, the write is refused (LeaseLost) and
 * the task is dropped here without a trace in the store.
 */
import { Cause, Effect, Exit, Fiber, type Layer, Result, Schema } from "effect"
import type * as Backends from "@jointly/backends/internal/Backends"
import { getAddress, getBytes } from "ethers"
import { verify } from "@jointly/core/internal/crypto/Signatures"
import { DuplicateTask, InvalidTask, UnknownTask } from "@jointly/core/internal/api/Errors"
import { reasonHash } from "@jointly/core/internal/ledger/Ledger"
import { AttemptSuspended, ProtocolError } from "@jointly/core/internal/protocols/Protocol"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import type { RoundEngine } from "@jointly/core/internal/runtime/RoundEngine"
import type { Status } from "@jointly/core/internal/task/Lifecycle"
import { isFinal } from "@jointly/core/internal/task/Lifecycle"
import type { TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import { defaultConsentTimeoutMs, participantsOf, taskId as taskIdOf } from "@jointly/core/internal/task/TaskSpec"
import { digest } from "@jointly/core/internal/wire/Canonical"
import type { TaskConsent } from "@jointly/core/internal/wire/Messages"
import type { Auth } from "../auth/Auth.ts"
import type { Log } from "../Log.ts"
import type { Claim, StoreFailed, TaskRow, TaskStoreShape } from "../store/TaskStore.ts"
import type { Adoption } from "../cluster/Cluster.ts"
import { LeaseLost, StaleTransition } from "../store/TaskStore.ts"
import type { ModelStore } from "../models/ModelStore.ts"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import type { Hub } from "../transport/Hub.ts"
import { WireRefusal } from "@jointly/core/internal/wire/Messages"

export interface ConsentVerifier {
  /** Recovers the signer of the EIP-712 Consent the TaskLedger contract will check again. */
  readonly recover: (consent: { taskId: string; specHash: string; approve: boolean; reasonHash: string }, signature: string) => string
}


export interface Options {
  /** How long a Scheduled task waits for all its participants to be online before failing. */
  readonly startTimeoutMs?: number
}

/** A task whose attempts keep being suspended (AttemptSuspended) fails at this attempt rather than wait forever. */
const maxSuspendedAttempts = 5


/**
 * A result carrying a trained model (`model` + `modelId`, e.g. modeling.horizontal-fl) has the model moved into
 * the model store; the stored result keeps `modelId`, the content hash, so the notarized digest covers it.
 */
const storeModel = async (models: ModelStore | undefined, taskId: string, result: unknown, artifacts?: ArtifactStore): Promise<unknown> => {
  if (models === undefined || typeof result !== "object" || result === null || !("model" in result) || !("modelId" in result)) return result
  const { model, ...rest } = result as { model: unknown; modelId: string }
  await models.put(model, { taskId, expectedId: rest.modelId })
  // Also content-addressed by CID, so an audit can check the model's bytes without trusting the model table.
  if (artifacts) {
    const cid = await artifacts.putJson(model, taskId)
    await artifacts.link(taskId, "model", cid, rest.modelId)
  }
  return rest
}

export const make = (deps: {
  store: TaskStoreShape
  hub: Pick<Hub, "ended" | "offer" | "isOnline">
  rounds: RoundEngine["Service"]
  auth: Auth
  consent: ConsentVerifier
  log: Log
  /** This coordinator instance (coordinator/src/cluster/Cluster.ts): the owner its claims name. */
  instance: string
  /** Tells the instance that owned a task before a cancel took it from it (the cluster bridge). */
  released?: (taskId: string, from: string) => void
  /** The coordinator's compute backends, built once (Coordinator.ts): every task's program runs over them. */
  backends: Layer.Layer<Backends.Services>
  models?: ModelStore
  artifacts?: ArtifactStore
  options?: Options
}) => {
  const { store, hub, rounds, auth, log, instance } = deps
  const startTimeoutMs = deps.options?.startTimeoutMs ?? 60_000
  const running = new Map<string, Fiber.Fiber<unknown, unknown>>()
  /** The tasks this instance owns, with the fencing token of its claim. */
  const claims = new Map<string, Claim>()
  const timers = new Map<string, NodeJS.Timeout>()
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

  /** Forgets a task locally (its run interrupted, its timers cleared) without writing anything. */
  const drop = async (taskId: string) => {
    clearTimeout(timers.get(taskId))
    timers.delete(taskId)
    claims.delete(taskId)
    decoded.delete(taskId)
    Effect.runSync(rounds.taskEnded(taskId))
    const fiber = running.get(taskId)
    running.delete(taskId)
    if (fiber) await Effect.runPromise(Fiber.interrupt(fiber))
  }

  /** Another instance holds the task now: stop here, write nothing more. */
  const lost = (error: LeaseLost) => {
    log.warn("task taken by another instance; stopping here", { taskId: error.subject, holder: error.holder, fence: error.fence, current: error.current })
    void drop(error.subject)
  }

  /**
   * A transition that lost a race is not an error: someone else already moved the task on. Without a claim (the
   * task is not this instance's) or with a stale one, nothing is written.
   */
  const move = async (task: TaskRow, to: Status, reason?: string, bumpAttempt = false) => {
    const claim = claims.get(task.id)
    if (claim === undefined) return false
    try {
      await Effect.runPromise(store.transition(claim, task.status, to, { reason, reasonHash: reasonHash(reason ?? to), bumpAttempt }))
      log.info("task transition", { taskId: task.id, from: task.status, to, reason })
      notify(task.id, to)
      if (isFinal(to)) ended(task, to, reason)
      return true
    } catch (error) {
      if (error instanceof StaleTransition) return false
      if (error instanceof LeaseLost) return (lost(error), false)
      throw error
    }
  }

  const ended = (task: TaskRow, status: Status, reason?: string) => {
    clearTimeout(timers.get(task.id))
    timers.delete(task.id)
    claims.delete(task.id)
    Effect.runSync(rounds.taskEnded(task.id))
    decoded.delete(task.id)
    for (const p of participantsOf(task.spec)) hub.ended(p, { taskId: task.id, status, reason })
  }

  const offer = (task: TaskRow, participant: string, rejoin = false) =>
    hub.offer(participant, { taskId: task.id, specHash: task.id, spec: task.spec, ...(rejoin ? { rejoin } : {}) })

  const startConsent = async (task: TaskRow) => {
    const answered = new Set((await Effect.runPromise(store.consents(task.id))).map((c) => c.participant))
    for (const p of participantsOf(task.spec)) if (!answered.has(p)) offer(task, p)
    const deadline = Date.parse(task.createdAt) + (task.spec.consentTimeoutMs ?? defaultConsentTimeoutMs)
    timers.set(task.id, setTimeout(() => void consentTimedOut(task.id), Math.max(0, deadline - Date.now())))
  }

  const consentTimedOut = async (id: string) => {
    const task = await Effect.runPromise(store.get(id))
    if (!task || task.status !== "AwaitingConsent") return
    const answered = new Set((await Effect.runPromise(store.consents(id))).map((c) => c.participant))
    const silent = participantsOf(task.spec).filter((p) => !answered.has(p))
    await move(task, "TimedOut", `no consent in time from ${silent.join(", ")}`)
  }

  /** Runs the protocol once every participant is online (or fails naming those that never came). */
  const schedule = async (task: TaskRow) => {
    const parties = participantsOf(task.spec)
    const offlineNow = () => parties.filter((p) => !hub.isOnline(p))
    if (offlineNow().length > 0) {
      clearTimeout(timers.get(task.id))
      timers.set(task.id, setTimeout(async () => {
        const current = await Effect.runPromise(store.get(task.id))
        if (current?.status === "Scheduled" && offlineNow().length > 0) {
          await move(current, "Failed", `participants offline: ${offlineNow().join(", ")}`)
        }
      }, startTimeoutMs))
      return
    }
    clearTimeout(timers.get(task.id))
    timers.delete(task.id)
    // PROTOCOLS.md §2.1 (d): a member suspended since it consented must not take part; ask the chain now.
    const barred = await suspendedAmong([task.spec.initiator, ...parties])
    if (barred !== undefined) return void (await move(task, "Failed", barred))
    if (!(await move(task, "Running"))) return
    const current = (await Effect.runPromise(store.get(task.id)))!
    run(current)
  }

  const run = (task: TaskRow) => {
    const found = taskOf(task)
    if (Result.isFailure(found)) return void move(task, "Failed", found.failure.message)
    const claim = claims.get(task.id)
    if (claim === undefined) return
    const { protocol, params } = found.success
    Effect.runSync(rounds.taskStarted(task.id))
    // A write refused because another instance claimed the task interrupts the run (`lost`), nothing else.
    const stopIfLost = <A, E>(write: Effect.Effect<A, E>) => Effect.tapError(write, (error) => Effect.sync(() => error instanceof LeaseLost && lost(error)))
    const fenced = <A, E>(write: Effect.Effect<A, E>) => Effect.orDie(stopIfLost(write))
    const session = rounds.session({
      taskId: task.id,
      attempt: task.attempt,
      participants: found.success.parties,
      stages: protocol.stages.map((s) => s.stage.name),
      roundTimeoutMs: found.success.roundTimeoutMs,
      // Progress is not waited for: the next round does not depend on its event being written.
      progress: (event) => Effect.sync(() => void Effect.runFork(Effect.ignore(stopIfLost(store.event(claim, "Progress", event))))),
      commit: (phase, root) => fenced(store.commitPhase(claim, phase, root)),
      checkpoint: {
        save: (key, value) => fenced(store.saveCheckpoint(claim, key, task.attempt, value)),
        load: (key) => Effect.orDie(store.loadCheckpoint(task.id, key))
      }
    })
    // The result is stored as its Schema encodes it: a protocol that returns something else fails the task.
    const program = protocol.coordinator(session, params, found.success).pipe(
      Effect.flatMap((result) =>
        Effect.mapError(Schema.encodeUnknownEffect(protocol.result)(result), (error) =>
          new ProtocolError({ protocol: protocol.kind, reason: "InvalidResult", detail: String(error) })))
    )
    // The backends: federated learning's "ckks" aggregation adds ciphertexts here (it never holds a CKKS key),
    // secure aggregation recovers dropouts' masks with their key agreement and PRG.
    const fiber = Effect.runFork(Effect.provide(program, deps.backends))
    running.set(task.id, fiber)
    fiber.addObserver(async (exit) => {
      running.delete(task.id)
      try {
        if (Exit.isSuccess(exit)) {
          const result = await storeModel(deps.models, task.id, exit.value, deps.artifacts)
          const resultCid = await deps.artifacts?.putJson(result, task.id)
          await Effect.runPromise(store.succeed(claim, result, digest(result), reasonHash("Succeeded")))
          if (resultCid !== undefined) await deps.artifacts!.link(task.id, "result", resultCid, digest(result))
          log.info("task succeeded", { taskId: task.id })
          notify(task.id, "Succeeded")
          ended(task, "Succeeded")
        } else if (!Cause.hasInterruptsOnly(exit.cause)) {
          const error = Cause.squash(exit.cause)
          if (error instanceof AttemptSuspended && task.attempt + 1 < maxSuspendedAttempts) return void (await suspend(task, error))
          const reason = error instanceof Error ? error.message : String(error)
          await move({ ...task, status: "Running" }, "Failed", reason)
        }
      } catch (error) {
        if (error instanceof LeaseLost) lost(error)
        else if (!(error instanceof StaleTransition)) log.error("could not record task outcome", { taskId: task.id, error: String(error) })
      }
    })
  }

  /**
   * Parties left mid-task and the protocol kept what resuming needs: the task goes back to Scheduled as a new
   * attempt, which `schedule` starts once every party is online again (or fails after startTimeoutMs).
   */
  const suspend = async (task: TaskRow, error: AttemptSuspended) => {
    const reason = `${error.message}; attempt ${task.attempt} suspended, the task resumes from its checkpoint once they are back`
    if (!(await move({ ...task, status: "Running" }, "Scheduled", reason, true))) return
    log.warn("task suspended", { taskId: task.id, waitingFor: error.waitingFor })
    await schedule((await Effect.runPromise(store.get(task.id)))!)
  }

  /** The reason naming the first account whose org is not Audited on chain, or undefined when all are. */
  const suspendedAmong = async (accounts: ReadonlyArray<string>): Promise<string | undefined> => {
    // Asked at once (each is a chain read), reported for the first account in the task's order.
    const checked = await Promise.allSettled(accounts.map((account) => auth.checkOrg(getAddress(account))))
    const refused = checked.find((c): c is PromiseRejectedResult => c.status === "rejected")
    return refused === undefined ? undefined : `${(refused.reason as Error).message}; the task stops`
  }

  /**
   * The supervisor suspended or revoked an org (seen on chain): every open task that names one of its accounts
   * fails at once, naming the org, and a running protocol is interrupted before its next round.
   */
  const suspended = async (accounts: ReadonlyArray<string>, reason: string) => {
    const barred = new Set(accounts.map((a) => getAddress(a)))
    for (const task of await Effect.runPromise(store.owned(instance))) {
      const involved = [task.spec.initiator, ...participantsOf(task.spec)].some((a) => barred.has(getAddress(a)))
      if (!involved) continue
      const fiber = running.get(task.id)
      if (await move(task, "Failed", reason)) log.warn("task stopped: member suspended", { taskId: task.id, reason })
      if (fiber) await Effect.runPromise(Fiber.interrupt(fiber))
    }
  }

  /** Checks a submission and records it (AwaitingConsent, the consents asked for); its id, the digest of the signed spec. */
  const submit = (spec: TaskSpec, signature: string): Effect.Effect<string, InvalidTask | DuplicateTask | StoreFailed> =>
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
        // The org's refusal (not registered, awaiting audit, suspended, revoked) names the account.
        yield* Effect.tryPromise({ try: () => auth.checkOrg(account), catch: (refusal) => new InvalidTask({ reason: "PartyNotAudited", message: String((refusal as Error).message ?? refusal) }) })
      }
      if (yield* store.get(id)) return yield* new DuplicateTask({ message: `task ${id} exists already` })
      // The instance that accepts a task owns it (token 1) until it ends or this instance dies.
      claims.set(id, yield* store.insert(id, spec, id, parties, instance))
      decoded.set(id, checked.success)
      const task = (yield* store.get(id))!
      yield* Effect.promise(() => move(task, "AwaitingConsent"))
      const awaiting = (yield* store.get(id))!
      yield* Effect.promise(() => startConsent(awaiting))
      return id
    })

  /** A participant's signed answer to an offer; a refusal goes back to it as a `wire.error`. */
  const consent = (account: string, message: TaskConsent): Effect.Effect<void, WireRefusal | StoreFailed> =>
    Effect.gen(function*() {
      const task = yield* store.get(message.taskId)
      if (!task) return yield* new WireRefusal({ code: "UnknownTask", detail: `no task ${message.taskId}` })
      const parties = participantsOf(task.spec)
      if (!parties.includes(account)) return yield* new WireRefusal({ code: "NotAuthorized", detail: `${account} is not a participant of task ${task.id}` })
      if (task.status !== "AwaitingConsent") return yield* new WireRefusal({ code: "Replayed", detail: `task ${task.id} is ${task.status}; consent is closed` })
      const hash = reasonHash(message.reason)
      const signer = yield* Effect.try({
        try: () => getAddress(deps.consent.recover({ taskId: task.id, specHash: task.id, approve: message.approve, reasonHash: hash }, message.signature)),
        catch: () => new WireRefusal({ code: "Malformed", detail: "the consent signature does not parse" })
      })
      if (signer !== account) return yield* new WireRefusal({ code: "NotAuthorized", detail: `the consent is signed by ${signer}, not ${account}` })
      const claim = claims.get(task.id)
      if (claim === undefined) return yield* new WireRefusal({ code: "UnknownTask", detail: `task ${task.id} is not run by this coordinator instance` })
      const fresh = yield* store.recordConsent(claim, { participant: account, approve: message.approve, reason: message.reason, signature: message.signature }, hash).pipe(
        Effect.catchTag("LeaseLost", (error) => {
          lost(error)
          return Effect.fail(new WireRefusal({ code: "UnknownTask", detail: `task ${task.id} moved to another coordinator instance; send the consent again` }))
        })
      )
      if (!fresh) return yield* new WireRefusal({ code: "Replayed", detail: `${account} already answered task ${task.id}` })
      if (!message.approve) {
        yield* Effect.promise(() => move(task, "Rejected", `participant ${account} rejected the task: ${message.reason}`))
        return
      }
      const approvals = (yield* store.consents(task.id)).filter((c) => c.approve).length
      if (approvals === parties.length && (yield* Effect.promise(() => move(task, "Scheduled")))) {
        clearTimeout(timers.get(task.id))
        const scheduled = (yield* store.get(task.id))!
        yield* Effect.promise(() => schedule(scheduled))
      }
    })

  /** A participant came online (on any instance): offer it what awaits its consent, start what waited for it. */
  const online = async (account: string) => {
    for (const task of await Effect.runPromise(store.owned(instance))) {
      if (!participantsOf(task.spec).includes(account)) continue
      if (task.status === "AwaitingConsent") {
        const answered = (await Effect.runPromise(store.consents(task.id))).some((c) => c.participant === account)
        if (!answered) offer(task, account)
      } else if (task.status === "Scheduled" && !running.has(task.id)) {
        // A later attempt (a suspended one, or one rescheduled by a restart) may wait for a participant whose
        // process died and forgot the task: offer it again before the attempt's first stage reaches it.
        if (task.attempt > 0 && (await Effect.runPromise(store.consents(task.id))).some((c) => c.participant === account && c.approve)) offer(task, account, true)
        await schedule(task)
      } else if (task.status === "Running" && running.has(task.id)) {
        // A participant back after a restart has forgotten the task: offer it again so it can serve the rounds
        // still to come (the rounds it missed settled without it). Harmless to one that only reconnected.
        const approved = (await Effect.runPromise(store.consents(task.id))).some((c) => c.participant === account && c.approve)
        if (approved) offer(task, account, true)
      }
    }
  }

  /**
   * A task this instance has just claimed (after a restart over an embedded store, or an orphan whose owner
   * died) resumes from its stored state.
   */
  const adopt = async (task: TaskRow, claim: Claim, why: Adoption) => {
    await drop(task.id)
    claims.set(task.id, claim)
    {
      const previous = why === "takeover" && task.owner !== null && task.owner !== instance
        ? `coordinator instance ${task.owner} stopped; taken over by ${instance}`
        : why === "rejoined"
        ? `coordinator instance ${instance} lost its lease and rejoined`
        : "coordinator restarted"
      log.info("resuming task", { taskId: task.id, status: task.status, fence: claim.fence })
      if (task.status === "Submitted") {
        await move(task, "AwaitingConsent")
        await startConsent((await Effect.runPromise(store.get(task.id)))!)
      } else if (task.status === "AwaitingConsent") {
        await startConsent(task)
      } else if (task.status === "Running") {
        // The protocol's in-flight state died with the old process; a fresh attempt re-runs it from the start
        // with new keys and masks, which the participants key their memory by.
        await move(task, "Scheduled", `${previous} during attempt ${task.attempt}; rescheduled`, true)
        await schedule((await Effect.runPromise(store.get(task.id)))!)
      } else if (task.status === "Scheduled") {
        await schedule(task)
      }
    }
  }

  /** This instance's lease had expired: every task may be another instance's now. Stop them all, write nothing. */
  const lostAll = async () => {
    for (const taskId of [...claims.keys()]) await drop(taskId)
  }

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
      const cancelling = task
      yield* Effect.promise(() => move(cancelling, "Cancelled", reason))
      if (fiber) yield* Fiber.interrupt(fiber)
      return "Cancelled" as const
    })

  const close = async () => {
    for (const timer of timers.values()) clearTimeout(timer)
    await Promise.all([...running.values()].map((f) => Effect.runPromise(Fiber.interrupt(f))))
  }

  return {
    submit,
    consent,
    online: (account: string) => void online(account).catch((error) => log.error("online handling failed", { error: String(error) })),
    adopt,
    lostAll,
    /** Another instance took the task (a cancel there): stop it here. */
    release: (taskId: string) => drop(taskId),
    /** Whether this instance runs the task now. */
    owns: (taskId: string) => claims.has(taskId),
    cancel,
    suspended,
    close,
    onStatus: (listener: (taskId: string, status: Status) => void) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
}

export type Scheduler = ReturnType<typeof make>
