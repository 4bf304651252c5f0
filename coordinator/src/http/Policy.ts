/**
 * The API's access rules (core/src/api/Access.ts) evaluated for one caller: roles from the chain (Roles.ts), the
 * task spec (initiator, parties, recipients), the model's task, an artifact's uploader and references, and grants
 * on chain for prediction. Each rule is decided here and nowhere else; handlers filter lists with the same
 * predicates (`seesTask`). Refusals are the API's tagged errors: `Forbidden` with a reason, or the resource's
 * `Unknown…` when it does not exist (ids are digests, so answering 404 leaks nothing a caller could not hash).
 */
import { Effect, Schema } from "effect"
import { getAddress } from "ethers"
import type { Rule } from "@jointly/core/internal/api/Access"
import type { CallerShape } from "@jointly/core/internal/api/Api"
import { Forbidden, type ForbiddenReason, UnknownArtifact, UnknownModel, UnknownTask } from "@jointly/core/internal/api/Errors"
import type { GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import { resultRecipientsOfSpec as recipientsOf } from "@jointly/core/internal/protocols/Protocols"
import { participantsOf, type TaskSpec } from "@jointly/core/internal/task/TaskSpec"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import type { ChainIndex } from "../governance/ChainIndex.ts"
import type { ModelStore } from "../models/ModelStore.ts"
import type { Sql } from "../store/Sql.ts"
import type { TaskRow, TaskStoreShape } from "../store/TaskStore.ts"

export interface Deps {
  readonly store: Pick<TaskStoreShape, "get">
  readonly models?: ModelStore
  readonly artifacts?: ArtifactStore
  readonly index?: ChainIndex
  readonly governance?: GovernanceLedger
  readonly sql: Sql
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

const orgRefusal: Record<string, ForbiddenReason> = { None: "NotAMember", ToAudit: "OrgNotAudited", Suspended: "OrgSuspended", Revoked: "OrgRevoked" }

/** The refusal for an account that is no audited member, naming its org's state on chain. */
export const notAMember = (caller: CallerShape) =>
  new Forbidden({
    reason: orgRefusal[caller.roles.orgState] ?? "NotAMember",
    message: caller.roles.orgState === "None"
      ? `${caller.address} is not bound to any audited organisation of this consortium`
      : `organisation ${caller.roles.org ?? "?"} of ${caller.address} is ${caller.roles.orgState} on chain`
  })

/** Initiator, party or result recipient of a task (as a current audited member). */
export const involved = (caller: CallerShape, spec: TaskSpec) =>
  caller.roles.member &&
  (same(spec.initiator, caller.address) || participantsOf(spec).some((p) => same(p, caller.address)) || recipientsOf(spec).some((r) => same(r, caller.address)))

/** Sees a task's metadata: its initiator, parties and recipients; the supervisor and operators see every task. */
export const seesTask = (caller: CallerShape, spec: TaskSpec) => caller.roles.supervisor || caller.roles.operator || involved(caller, spec)

export const isParty = (caller: CallerShape, spec: TaskSpec) => caller.roles.member && participantsOf(spec).some((p) => same(p, caller.address))
export const isRecipient = (caller: CallerShape, spec: TaskSpec) => caller.roles.member && recipientsOf(spec).some((r) => same(r, caller.address))

export interface ModelGrant {
  readonly tokenId: string
  readonly maxUses: number
  readonly used: number
}

/** What a resource rule refuses with: Forbidden with a reason, or the resource's Unknown… when it does not exist. */
export type Refusal = Forbidden | UnknownTask | UnknownModel | UnknownArtifact

/** The grant reads on chain and the predictions table (`grant_predictions`) the policy makes. */
export const PolicyOperation = Schema.Literals(["byContentHash", "latestGrant", "checkGrant", "getGrant", "countedUses", "recordPrediction", "predictions", "task", "model", "artifact"])
export type PolicyOperation = typeof PolicyOperation.Type

/** The chain or the store did not answer a read (or write) of the policy's; `operation` names it. No refusal of the caller's. */
export class PolicyReadFailed extends Schema.TaggedError<PolicyReadFailed>()("PolicyReadFailed", {
  operation: PolicyOperation,
  detail: Schema.String
}) {
  override get message() {
    return `the access policy could not read what it needs (${this.operation}): ${this.detail}`
  }
}

export const make = (deps: Deps) => {
  /**
   * The chain's grant reads, the chain index's catalogue read and the predictions table not answering fail as
   * PolicyReadFailed naming the operation (the guard, the predict and grants routes answer 503); so do the task store
   * and the model and artifact stores (operations task, model, artifact): never the caller's refusal.
   */
  const read = <A>(operation: PolicyOperation, f: () => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (cause) => new PolicyReadFailed({ operation, detail: cause instanceof Error ? cause.message : String(cause) }) })
  const stored = <A>(operation: PolicyOperation, effect: Effect.Effect<A, { readonly message: string }>) =>
    Effect.mapError(effect, (error) => new PolicyReadFailed({ operation, detail: error.message }))
  const taskOf = (id: string | undefined) =>
    Effect.gen(function*() {
      const task = id === undefined ? undefined : yield* stored("task", deps.store.get(id))
      if (task === undefined) return yield* new UnknownTask({ message: `no task ${id}` })
      return task
    })
  const modelTask = (modelId: string | undefined) =>
    Effect.gen(function*() {
      const model = modelId === undefined || deps.models === undefined ? undefined : yield* stored("model", deps.models.get(modelId))
      if (model === undefined) return yield* new UnknownModel({ message: `no model ${modelId}` })
      return model.taskId === null ? undefined : yield* stored("task", deps.store.get(model.taskId))
    })

  /** Predictions already served under a grant here (uses the owner's on-chain log cannot count). */
  const countedUses = (tokenId: string) =>
    Effect.map(read("countedUses", () => deps.sql.query<{ n: string }>(`select count(*) as n from grant_predictions where token_id = $1`, [tokenId])), (rows) => Number(rows[0]!.n))

  /**
   * A grant of `caller` for the model: a catalogue entry describing it (content hash = model id) published by a
   * party that trained it — no one else may open a model to others — with an approved, unexpired, unrevoked grant
   * whose purpose names `predict` and whose uses, on chain and counted here, are not exhausted. None is no refusal
   * (the caller decides what to answer); the chain, the index or the predictions table not answering is PolicyReadFailed.
   */
  const modelGrant = (caller: string, modelId: string, trainers: ReadonlyArray<string>): Effect.Effect<ModelGrant | undefined, PolicyReadFailed> =>
    Effect.gen(function*() {
      const { index, governance } = deps
      if (index === undefined || governance === undefined) return undefined
      const entries = yield* Effect.mapError(index.byContentHash(modelId), (failed) => new PolicyReadFailed({ operation: "byContentHash", detail: failed.detail }))
      for (const entry of entries) {
        if (!trainers.some((t) => same(t, entry.owner))) continue
        const tokenId = yield* read("latestGrant", () => governance.latestGrant(entry.datasetId, caller))
        if (tokenId === undefined || (yield* read("checkGrant", () => governance.checkGrant(tokenId))) !== "Valid") continue
        const grant = yield* read("getGrant", () => governance.getGrant(tokenId))
        if (grant === undefined || !grant.purpose.split(",").map((p) => p.trim()).includes("predict")) continue
        const used = grant.uses + (yield* countedUses(tokenId))
        if (used < grant.maxUses) return { tokenId, maxUses: grant.maxUses, used }
      }
      return undefined
    })

  const refuse = (reason: ForbiddenReason, message: string) => Effect.fail(new Forbidden({ reason, message }))
  const allowed = Effect.succeed(undefined)

  /**
   * Decides whether `caller` may call an endpoint with `rule` on these raw path parameters: fails with the
   * refusal; for a task rule succeeds with the task it loaded. A role rule is decided without reading anything.
   */
  const authorize = (rule: Rule | undefined, caller: CallerShape, params: Readonly<Record<string, string | undefined>>): Effect.Effect<TaskRow | undefined, Refusal | PolicyReadFailed> => {
    if (rule === undefined) return refuse("NotAllowed", "this route declares no access rule, so nobody may call it")
    const { roles } = caller
    const known = roles.member || roles.supervisor || roles.operator
    switch (rule._tag) {
      case "Public":
      case "SignedIn":
        return allowed
      case "Member":
        return !roles.member && !roles.supervisor ? Effect.fail(notAMember(caller)) : allowed
      case "Supervisor":
        return roles.supervisor ? allowed : refuse("NotSupervisor", `${caller.address} is not the consortium's supervisor`)
    }
    if (!known) return Effect.fail(notAMember(caller))
    if (rule._tag === "Known") return allowed
    return authorizeResource(rule, caller, params)
  }

  const authorizeResource = (rule: Rule, caller: CallerShape, params: Readonly<Record<string, string | undefined>>): Effect.Effect<TaskRow | undefined, Refusal | PolicyReadFailed> =>
    Effect.gen(function*() {
      const { roles } = caller
      switch (rule._tag) {
        case "TaskViewer": {
          const task = yield* taskOf(params[rule.param])
          if (!seesTask(caller, task.spec)) return yield* refuse("NotAParty", `${caller.address} is neither the initiator, a party nor a recipient of task ${task.id}`)
          return task
        }
        case "TaskCanceller": {
          const task = yield* taskOf(params[rule.param])
          if (!(roles.supervisor || roles.operator || (roles.member && same(task.spec.initiator, caller.address)))) {
            return yield* refuse("NotInitiator", `only the initiator of task ${task.id}, an operator or the supervisor may cancel it`)
          }
          return task
        }
        case "ResultRecipient": {
          const task = yield* taskOf(params[rule.param])
          if (!isRecipient(caller, task.spec)) return yield* refuse("NotARecipient", `the result of task ${task.id} is for ${recipientsOf(task.spec).join(", ")} alone`)
          return task
        }
        case "ModelViewer": {
          const task = yield* modelTask(params[rule.param])
          if (!(roles.supervisor || roles.operator || (task !== undefined && involved(caller, task.spec)))) {
            return yield* refuse("NotAParty", `${caller.address} took no part in the task that trained model ${params[rule.param]}`)
          }
          return undefined
        }
        case "ModelTrainer": {
          const task = yield* modelTask(params[rule.param])
          if (task === undefined || !isParty(caller, task.spec)) return yield* refuse("NotATrainer", `only the parties that trained model ${params[rule.param]} may read its weights`)
          return undefined
        }
        case "ModelPredictor": {
          const modelId = params[rule.param]!
          const task = yield* modelTask(modelId)
          if (task !== undefined && isParty(caller, task.spec)) return undefined
          if (roles.member && task !== undefined && (yield* modelGrant(caller.address, modelId, participantsOf(task.spec))) !== undefined) return undefined
          return yield* refuse("NoGrant", `${caller.address} neither trained model ${modelId} nor holds a valid grant for it on chain`)
        }
        case "ArtifactReader": {
          const cid = params[rule.param] ?? ""
          const about = deps.artifacts === undefined ? undefined : yield* stored("artifact", deps.artifacts.about(cid))
          if (about === undefined) return yield* new UnknownArtifact({ message: `no artifact ${cid}` })
          if (!roles.member) return yield* notAMember(caller)
          if (about.owner !== null && same(about.owner, caller.address)) return undefined
          if (about.requestSides.some((a) => same(a, caller.address))) return undefined
          if (about.taskId !== null) {
            const task = yield* stored("task", deps.store.get(about.taskId))
            if (task !== undefined) {
              // A result artifact holds the result: its recipients alone. A model: the parties that trained it.
              const allowed = about.roles.includes("result") ? isRecipient(caller, task.spec) : about.roles.includes("model") ? isParty(caller, task.spec) : involved(caller, task.spec)
              if (allowed) return undefined
            }
          }
          return yield* refuse("NotAllowed", `${caller.address} neither stored artifact ${cid} nor takes part in what references it`)
        }
      }
      return undefined
    })

  return {
    authorize,
    modelGrant,
    /** Records a prediction served under a grant; the store failing the write is PolicyReadFailed "recordPrediction". */
    countUse: (grant: ModelGrant, modelId: string, caller: string, rows: number): Effect.Effect<void, PolicyReadFailed> =>
      Effect.asVoid(read("recordPrediction", () => deps.sql.query(`insert into grant_predictions(token_id, model_id, caller, rows) values ($1, $2, $3, $4)`, [grant.tokenId, modelId, getAddress(caller), rows]))),
    /** The predictions served under grants here, oldest first (the store not answering: PolicyReadFailed "predictions"). */
    predictions: () =>
      Effect.map(
        read("predictions", () => deps.sql.query<any>(`select token_id, model_id, caller, rows, at from grant_predictions order by id`)),
        (rows) => rows.map((r) => ({ tokenId: r.token_id, modelId: r.model_id, caller: r.caller, rows: r.rows, at: new Date(r.at).toISOString() }))
      )
  }
}

export type Policy = ReturnType<typeof make>
