/**
 * Handlers of the `governance` group: catalogue, grants and model requests (each member sees its own side; the
 * supervisor sees all), the supervisor's view, members, the abuse-limit counters, and the consents that wait for a
 * human, whose decisions are relayed to the participant that checks them.
 */
import { Effect } from "effect"
import { getAddress } from "ethers"
import { HttpApiBuilder } from "effect/http-api"
import { Api, Caller, type CallerShape } from "@jointly/core/internal/api/Api"
import { UnknownDataset } from "@jointly/core/internal/api/Errors"
import { participantsOf } from "@jointly/core/internal/task/TaskSpec"
import { seesTask } from "../Policy.ts"
import { Index, Parts, querier, Tasks, unavailable } from "../Services.ts"

const mine = (caller: CallerShape, ...accounts: ReadonlyArray<unknown>) =>
  caller.roles.supervisor || accounts.some((a) => typeof a === "string" && a.toLowerCase() === caller.address.toLowerCase())

export const governance = HttpApiBuilder.group(Api, "governance", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    const tasks = yield* Tasks
    const query = querier(yield* Index)

    return handlers
      .handle("catalog", ({ query: q }) => Effect.map(query((index) => index.search(q.q ?? "", { includeRetired: q.all === "1" })), (datasets) => ({ datasets: datasets.map((d) => ({ ...d })) })))
      .handle("catalogEntry", ({ params }) =>
        Effect.flatMap(query((index) => index.dataset(params.datasetId)), (dataset) =>
          dataset === undefined ? Effect.fail(new UnknownDataset({ message: `no dataset ${params.datasetId} in the catalogue` })) : Effect.succeed({ ...dataset })))
      .handle("grants", () =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const grants = (yield* query((index) => index.grants())).filter((g) => mine(caller, g.requester, g.owner))
          const tokens = new Set(grants.map((g) => g.tokenId))
          const uses = (yield* query((index) => index.grantUses())).filter((u) => tokens.has(u.tokenId))
          const predictions = (yield* Effect.mapError(parts.policy.predictions(), unavailable)).filter((p) => tokens.has(p.tokenId))
          return { grants, uses, predictions }
        }))
      .handle("modelRequests", ({ query: q }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const [requests, members] = yield* Effect.all([query((index) => index.modelRequests({ to: q.to })), query((index) => index.members())])
          // A request addressed to any account of the caller's organisation is the caller's to see (and, for its
          // humans, to decide on chain: ModelRequests.decide checks the same binding).
          const accountsOf = (m: (typeof members)[number]) => (m.addresses as ReadonlyArray<string>).map((a) => a.toLowerCase())
          const own = new Set(members.map(accountsOf).find((accounts) => accounts.includes(caller.address.toLowerCase())) ?? [])
          return { requests: requests.filter((r) => mine(caller, r.from, r.to) || own.has(String(r.to).toLowerCase())) }
        }))
      .handle("supervision", () =>
        Effect.gen(function*() {
          const all = yield* tasks.list({ limit: 1000 })
          const [members, grants, grantUses, modelRequests] = yield* Effect.all([
            query((index) => index.members()),
            query((index) => index.grants()),
            query((index) => index.grantUses()),
            query((index) => index.modelRequests())
          ])
          const { counts } = parts.rejections.snapshot()
          return {
            members,
            tasks: all.map((t) => ({ id: t.id, kind: t.kind, status: t.status, initiator: t.initiator, participants: participantsOf(t.spec), reason: t.reason, createdAt: t.createdAt })),
            grants,
            grantUses,
            modelRequests,
            rejections: Object.entries(counts).map(([kind, count]) => ({ kind, count }))
          }
        }))
      .handle("members", () => parts.dashboard.members().pipe(Effect.mapError(unavailable), Effect.map((members) => ({ members }))))
      .handle("rejections", () => Effect.sync(() => parts.rejections.snapshot()))
      .handle("pendingConsents", () =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const pending = []
          for (const p of parts.humans.list()) {
            // A task gone from the store shows none of its consents; a store that cannot say is Unavailable.
            const task = yield* Effect.catchTag(tasks.get(p.taskId), "UnknownTask", () => Effect.succeed(undefined))
            if (task !== undefined && seesTask(caller, task.spec)) pending.push({ ...p })
          }
          return { pending }
        }))
      .handle("decideConsent", ({ params, payload }) =>
        Effect.as(
          parts.humans.decide(getAddress(params.participant), { taskId: params.id, ...payload }),
          { ok: true }
        ))
  }))
