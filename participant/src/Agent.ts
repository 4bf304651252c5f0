/**
 * The participant agent: what a bank, hospital or shop embeds next to its data. It proves its org's identity to
 * the coordinator, answers task offers with signed consent decided by its local policy, and runs the
 * participant side of every accepted task against its own datasets. Raw rows and keys never leave it.
 *
 * Two facades over one implementation: `start` (Promise) for embedders without Effect, `scoped` (Effect,
 * closed with its Scope) for those with it.
 */
import { Effect, Layer, Schema } from "effect"
import { getAddress, type Wallet } from "ethers"
import { io, type Socket } from "socket.io-client"
import type { TabularData } from "@jointly/core/data/Tabular.ts"
import { LocalData } from "@jointly/core/data/Tabular.ts"
import * as Eip712 from "@jointly/core/ledger/Eip712.ts"
import { reasonHash } from "@jointly/core/ledger/Ledger.ts"
import { ParticipantFailure } from "@jointly/core/protocols/Protocol.ts"
import { lookup } from "@jointly/core/protocols/registry.ts"
import { TaskSpec, taskId as taskIdOf } from "@jointly/core/task/TaskSpec.ts"
import type { WireError } from "@jointly/core/wire/Messages.ts"
import { events, StageRequest, TaskEnded, TaskOffer, WireError as WireErrorSchema } from "@jointly/core/wire/Messages.ts"
import * as CsvDataset from "./datasets/CsvDataset.ts"
import type { Dataset, DatasetSpec } from "./datasets/Dataset.ts"
import * as ProtocolHost from "./host/ProtocolHost.ts"

/** What the consent policy is asked about a task (participant/src/policy). */
export interface ConsentQuestion {
  readonly taskId: string
  readonly kind: string
  readonly initiator: string
  readonly parties: number
  readonly dataset: string
  readonly columns: ReadonlyArray<string>
  readonly params: unknown
}

export interface ConsentDecision {
  readonly decision: "approve" | "reject"
  readonly reason: string
}

export type ConsentPolicy = (question: ConsentQuestion) => Promise<ConsentDecision> | ConsentDecision

export interface AgentConfig {
  readonly coordinatorUrl: string
  /** The org's chain account (from the keystore). */
  readonly wallet: Wallet
  /** Datasets to serve, each from a file with a declared schema; all are loaded and checked at start. */
  readonly datasets: ReadonlyArray<DatasetSpec>
  readonly policy: ConsentPolicy
}

export type AgentEvent =
  | { readonly type: "connected" }
  | { readonly type: "disconnected"; readonly reason: string }
  | { readonly type: "refused"; readonly code: string; readonly message: string }
  | { readonly type: "offer"; readonly taskId: string; readonly kind: string }
  | { readonly type: "consent"; readonly taskId: string; readonly approve: boolean; readonly reason: string }
  | { readonly type: "stage"; readonly taskId: string; readonly stage: string; readonly ok: boolean; readonly detail?: string }
  | { readonly type: "ended"; readonly taskId: string; readonly status: string; readonly reason?: string }
  | { readonly type: "wire-error"; readonly error: WireError }

export class AdmissionRefused extends Schema.TaggedError<AdmissionRefused>()("AdmissionRefused", {
  code: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `the coordinator refused this participant: ${this.detail}`
  }
}

/** Protocols read datasets through this view; `strings` also serves numeric columns as text. */
export const tabular = (dataset: Dataset): TabularData => ({
  name: dataset.name,
  rowCount: dataset.rowCount,
  columnNames: dataset.columns.map((c) => c.name),
  isNumeric: (column) => {
    const type = dataset.typeOf(column)
    return type === "number" || type === "integer"
  },
  numeric: (column) => dataset.numeric(column),
  strings: (column) => {
    const type = dataset.typeOf(column)
    return type === "number" || type === "integer" ? Array.from(dataset.numeric(column), String) : dataset.strings(column)
  }
})

const decodeOr = <A, I>(schema: Schema.Codec<A, I>, raw: unknown): A | undefined => {
  const decoded = Schema.decodeUnknownExit(schema)(raw)
  return decoded._tag === "Success" ? decoded.value : undefined
}

export const start = async (config: AgentConfig) => {
  const wallet = config.wallet
  const self = getAddress(wallet.address)
  // A bad file stops the agent here, naming file, row and column, before it connects to anyone.
  const loaded = await Promise.all(config.datasets.map((spec) => CsvDataset.loadPromise(spec)))
  const datasets = new Map(loaded.map((d) => [d.name, tabular(d)] as const))
  const localData = Layer.succeed(LocalData, {
    dataset: (name: string) => {
      const data = datasets.get(name)
      return data
        ? Effect.succeed(data)
        : Effect.fail(new ParticipantFailure({ participant: self, stage: "dataset", code: "UnknownDataset", detail: `no dataset named ${name} is registered here` }))
    }
  })
  const host = ProtocolHost.make(wallet, localData)
  const accepted = new Map<string, ProtocolHost.AcceptedTask>()
  const listeners = new Set<(event: AgentEvent) => void>()
  const emitEvent = (event: AgentEvent) => {
    for (const listener of listeners) listener(event)
  }
  let domain: Eip712.Domain | undefined

  const base = config.coordinatorUrl.replace(/\/$/, "")
  /** A fresh nonce and signature at every (re)connection attempt. */
  const login = async () => {
    const response = await fetch(`${base}/api/auth/nonce`)
    if (!response.ok) throw new Error(`nonce request failed with HTTP ${response.status}`)
    const challenge = (await response.json()) as { nonce: string; coordinator: string; chainId: string; ledger: string }
    domain = Eip712.domain(BigInt(challenge.chainId), challenge.ledger)
    const issuedAt = Math.floor(Date.now() / 1000)
    const signature = await Eip712.signLogin(wallet, domain, {
      account: self,
      nonce: challenge.nonce,
      coordinator: challenge.coordinator,
      issuedAt: BigInt(issuedAt)
    })
    return { account: self, nonce: challenge.nonce, issuedAt, signature }
  }

  const socket: Socket = io(`${base}/participants`, {
    transports: ["websocket"],
    reconnectionDelay: 250,
    reconnectionDelayMax: 2_000,
    auth: (cb) => {
      login().then(cb, (error) => {
        emitEvent({ type: "disconnected", reason: String(error) })
        cb({})
      })
    }
  })

  const decide = async (offer: TaskOffer): Promise<ConsentDecision & { task?: ProtocolHost.AcceptedTask }> => {
    const spec = decodeOr(TaskSpec, offer.spec)
    if (!spec) return { decision: "reject", reason: "the task spec does not decode" }
    // Never trust the coordinator's id: the consent signs the id, so it must commit to this very spec.
    if (taskIdOf(spec) !== offer.taskId) return { decision: "reject", reason: "the task id does not match the spec" }
    const party = spec.parties.find((p) => getAddress(p.participant) === self)
    if (!party) return { decision: "reject", reason: "this participant is not named in the task" }
    const definition = lookup(spec.kind)
    if (!definition) return { decision: "reject", reason: `task kind ${spec.kind} is not supported here` }
    const checked = definition.checkParams(spec)
    if (!checked.ok) return { decision: "reject", reason: checked.problem }
    if (!datasets.has(party.dataset)) return { decision: "reject", reason: `no dataset named ${party.dataset} is registered here` }
    const answer = await config.policy({
      taskId: offer.taskId,
      kind: spec.kind,
      initiator: getAddress(spec.initiator),
      parties: spec.parties.length,
      dataset: party.dataset,
      columns: definition.columns(checked.params),
      params: checked.params
    })
    return answer.decision === "approve"
      ? { ...answer, task: ProtocolHost.accept(offer.taskId, spec, party, definition, checked.params) }
      : answer
  }

  socket.on(events.offer, async (raw: unknown) => {
    const offer = decodeOr(TaskOffer, raw)
    if (!offer || !domain) return
    emitEvent({ type: "offer", taskId: offer.taskId, kind: String((offer.spec as { kind?: unknown })?.kind) })
    const { decision, reason, task } = await decide(offer).catch((error) => ({
      decision: "reject" as const,
      reason: `policy failed: ${error instanceof Error ? error.message : String(error)}`,
      task: undefined
    }))
    const approve = decision === "approve"
    if (task) accepted.set(offer.taskId, task)
    const signature = await Eip712.signConsent(wallet, domain, { taskId: offer.taskId, specHash: offer.taskId, approve, reasonHash: reasonHash(reason) })
    socket.emit(events.consent, { taskId: offer.taskId, approve, reason, signature })
    emitEvent({ type: "consent", taskId: offer.taskId, approve, reason })
  })

  socket.on(events.request, async (raw: unknown) => {
    const request = decodeOr(StageRequest, raw)
    if (!request) return
    const task = accepted.get(request.taskId)
    const outcome = task
      ? await host.handle(task, request)
      : { ok: false as const, code: "UnknownTask", detail: `this participant has not accepted task ${request.taskId}` }
    socket.emit(events.reply, { requestId: request.requestId, taskId: request.taskId, stage: request.stage, outcome })
    emitEvent({ type: "stage", taskId: request.taskId, stage: request.stage, ok: outcome.ok, detail: outcome.ok ? undefined : `${outcome.code}: ${outcome.detail}` })
  })

  socket.on(events.ended, (raw: unknown) => {
    const ended = decodeOr(TaskEnded, raw)
    if (!ended) return
    accepted.delete(ended.taskId)
    host.forget(ended.taskId)
    emitEvent({ type: "ended", taskId: ended.taskId, status: ended.status, reason: ended.reason })
  })

  socket.on(events.error, (raw: unknown) => {
    const error = decodeOr(WireErrorSchema, raw)
    if (error) emitEvent({ type: "wire-error", error })
  })

  socket.on("disconnect", (reason) => emitEvent({ type: "disconnected", reason }))

  /** Resolves on the first admission; rejects with AdmissionRefused when the coordinator refuses this org. */
  const connected = new Promise<void>((resolve, reject) => {
    socket.on("connect", () => {
      emitEvent({ type: "connected" })
      resolve()
    })
    socket.on("connect_error", (error: Error & { data?: { code?: string } }) => {
      const code = error.data?.code
      if (code === undefined) return // transport trouble: socket.io retries by itself
      emitEvent({ type: "refused", code, message: error.message })
      reject(new AdmissionRefused({ code, detail: error.message }))
      // A refusal by the middleware stops socket.io's own retries; try again later in case the org is restored.
      setTimeout(() => {
        if (!closed) socket.connect()
      }, 5_000).unref()
    })
  })
  connected.catch(() => {})

  let closed = false
  return {
    address: self,
    datasets: loaded.map((d) => ({ name: d.name, rows: d.rowCount, contentHash: d.contentHash })),
    connected,
    isConnected: () => socket.connected,
    on: (listener: (event: AgentEvent) => void) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    /** For tests and tools: send a raw event as this participant (the coordinator must refuse anything bad). */
    rawEmit: (event: string, payload: unknown) => socket.emit(event, payload),
    close: async () => {
      closed = true
      socket.close()
    }
  }
}

export type Agent = Awaited<ReturnType<typeof start>>

/** The agent as a scoped Effect resource. */
export const scoped = (config: AgentConfig) =>
  Effect.acquireRelease(Effect.promise(() => start(config)), (agent) => Effect.promise(() => agent.close()))
