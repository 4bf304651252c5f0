/**
 * The coordinator's dashboard (DESIGN.md §1): static pages under `/` (plain HTML, CSS and ES modules in
 * `public/`, no build step), live updates on `GET /api/events`, and the read-only routes only the dashboard
 * needs — members with their chain state, a task's verification against the chain, and the consents that
 * wait for a human, whose decisions it relays to the participants (HumanConsents.ts).
 */
import { readFile } from "node:fs/promises"
import type { IncomingMessage, ServerResponse } from "node:http"
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
import { getAddress, isAddress } from "ethers"
import { Schema } from "effect"
import type * as Eip712 from "@jointly/core/ledger/Eip712.ts"
import type { LedgerClient } from "@jointly/core/ledger/Ledger.ts"
import { participantsOf } from "@jointly/core/task/TaskSpec.ts"
import { HexBytes } from "@jointly/core/wire/Messages.ts"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import { ArtifactError } from "../artifacts/ArtifactStore.ts"
import * as Verify from "../audit/Verify.ts"
import type { ChainIndex } from "../governance/ChainIndex.ts"
import { decode, HttpError, readJson, type Route } from "../http/Api.ts"
import type { ModelStore } from "../models/ModelStore.ts"
import type { TaskStore } from "../store/TaskStore.ts"
import type { Hub } from "../transport/Hub.ts"
import type { HumanConsents } from "./HumanConsents.ts"
import type { Bus } from "./Live.ts"
import * as Live from "./Live.ts"

/** A human's decision as the dashboard posts it; `mac` is computed in the browser under the participant's token. */
export const PostedDecision = Schema.Struct({
  approve: Schema.Boolean,
  reason: Schema.String.check(Schema.isMaxLength(1000)),
  mac: HexBytes
})

const publicDir = fileURLToPath(new URL("./public/", import.meta.url))
const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml"
}
/** The only files served: a fixed list, so no request path ever reaches the file system. */
const files: Record<string, string> = {
  "/": "index.html",
  "/index.html": "index.html",
  "/dashboard/app.js": "app.js",
  "/dashboard/chart.js": "chart.js",
  "/dashboard/style.css": "style.css"
}

export interface Deps {
  readonly store: TaskStore
  readonly hub: Hub
  readonly ledger: LedgerClient
  readonly domain: Eip712.Domain
  readonly bus: Bus
  readonly humans: HumanConsents
  readonly artifacts?: ArtifactStore
  readonly models?: ModelStore
  readonly index?: ChainIndex
}

export const make = (deps: Deps) => {
  const { store, hub, ledger } = deps
  const live = Live.sse(deps.bus)

  /**
   * Every org the coordinator has met — named in a task, connected now, or (with governance contracts) in the
   * chain index — with its state read from the registry on chain, not from the coordinator's memory.
   */
  const members = async () => {
    const tasks = await store.list({ limit: 1000 })
    const accounts = new Set<string>()
    for (const t of tasks) for (const a of [t.initiator, ...participantsOf(t.spec)]) accounts.add(getAddress(a))
    for (const a of hub.online()) accounts.add(getAddress(a))
    const indexed = await deps.index?.members().catch(() => []) ?? []
    for (const m of indexed) for (const a of m.addresses as ReadonlyArray<string>) if (isAddress(a)) accounts.add(getAddress(a))
    const orgs = new Map<string, { companyId: string | null; name: string; state: string; accounts: Array<{ address: string; online: boolean; tasks: number }> }>()
    await Promise.all([...accounts].map(async (address) => {
      const tasksOf = tasks.filter((t) => [t.initiator, ...participantsOf(t.spec)].some((a) => getAddress(a) === address)).length
      let companyId: string | null = null
      let name = ""
      let state = "Unknown"
      try {
        const membership = await ledger.companyOf(address)
        state = membership.state
        if (membership.companyId !== undefined) {
          companyId = membership.companyId
          name = (await ledger.getCompany(membership.companyId))?.name ?? ""
        } else if (membership.pendingJoin !== undefined) state = "JoinPending"
      } catch {
        /* the chain did not answer: shown as Unknown */
      }
      const key = companyId ?? address
      const org = orgs.get(key) ?? { companyId, name: name || address, state, accounts: [] }
      org.accounts.push({ address, online: hub.isOnline(address), tasks: tasksOf })
      orgs.set(key, org)
    }))
    return [...orgs.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Verify.ts over the store's copy and the chain's logs: the same checks as `jointly verify`. */
  const verify = async (id: string) => {
    const task = await store.get(id)
    if (!task) throw new HttpError(404, "UnknownTask", `no task ${id}`)
    const [events, consents, outbox, history] = await Promise.all([store.events(id), store.consents(id), store.outbox(id), ledger.taskHistory(id as `0x${string}`)])
    const checks = await Verify.verify({
      domain: deps.domain,
      history,
      task: { ...task, events: events as Verify.StoredTask["events"], consents },
      artifact: async (cid) => {
        if (!deps.artifacts) return undefined
        try {
          return (await deps.artifacts.get(cid)).bytes
        } catch (error) {
          // A tampered artifact must fail its check, a missing one is reported missing.
          if (error instanceof ArtifactError && error.code === "Tampered") return new TextEncoder().encode("tampered")
          return undefined
        }
      },
      model: async (modelId) => (await deps.models?.get(modelId))?.artifact
    })
    const pending = outbox.filter((o) => o.status !== "confirmed").length
    const result = history.find((e) => e._tag === "ResultRecorded")
    return {
      taskId: id,
      ok: pending === 0 && checks.every((c) => c.ok),
      pending,
      resultDigest: task.resultDigest,
      chainResultDigest: result?._tag === "ResultRecorded" ? result.resultDigest : null,
      checks
    }
  }

  const routes: ReadonlyArray<Route> = [
    ["GET", /^\/api\/members$/, async () => [200, { members: await members() }]],
    ["GET", /^\/api\/tasks\/(0x[0-9a-fA-F]{64})\/verify$/, async (_req, m) => [200, await verify(m[1]!)]],
    ["GET", /^\/api\/consents\/pending$/, async () => [200, { pending: deps.humans.list() }]],
    ["POST", /^\/api\/consents\/(0x[0-9a-fA-F]{64})\/(0x[0-9a-fA-F]{40})$/, async (req, m) => {
      const body = decode(PostedDecision, await readJson(req))
      const outcome = await deps.humans.decide(getAddress(m[2]!), { taskId: m[1]!, ...body })
      if (!outcome.ok) throw new HttpError(outcome.code === "Refused" ? 403 : outcome.code === "NotPending" ? 409 : 503, outcome.code!, outcome.detail!)
      return [200, { ok: true }]
    }]
  ]

  /** Static files and the SSE stream; false for anything else. */
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== "GET") return false
    const path = new URL(req.url ?? "/", "http://coordinator").pathname
    if (path === "/api/events") {
      live.handle(req, res)
      return true
    }
    const file = files[path]
    if (file === undefined) return false
    const body = await readFile(publicDir + file)
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" })
    res.end(body)
    return true
  }

  return { routes, handle, close: live.close }
}

export type Dashboard = ReturnType<typeof make>
