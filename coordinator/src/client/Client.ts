/**
 * A typed client for the coordinator's HTTP API (`@jointly/coordinator/client`), used by the CLI, the notebooks and
 * embedders: Promise functions over the client `HttpApiClient` derives from the API's declaration
 * (core/src/api/Client.ts), so every request and response is encoded and decoded with the server's own Schemas.
 * Give it the member's signer and it signs in by itself (Sign-In with Ethereum) whenever a route needs it.
 */
import { randomBytes } from "node:crypto"
import { Cause, Duration, Effect, Exit, Schedule, Schema, Stream } from "effect"
import { getBytes } from "ethers"
import * as ApiClient from "@jointly/core/internal/api/Client"
import { fromFailure, RequestFailed } from "@jointly/core/internal/api/RequestFailed"
import type * as S from "@jointly/core/internal/api/Schemas"
import { Progress as ProgressSchema } from "@jointly/core/internal/api/Schemas"
import type * as Endpoint from "@jointly/core/internal/net/Endpoint"
import { isFinal, type Status } from "@jointly/core/internal/task/Lifecycle"
import * as Protocols from "@jointly/core/internal/protocols/Protocols"
import { taskId as taskIdOf, type TaskSpec, TaskSpec as TaskSpecSchema } from "@jointly/core/internal/task/TaskSpec"

/** What signs in and signs submissions: an ethers `Wallet` or any `Signer` (EIP-191). */
export interface Initiator {
  readonly getAddress: () => Promise<string>
  readonly signMessage: (message: Uint8Array | string) => Promise<string>
}

export interface ClientOptions {
  /**
   * The coordinator's base URL, e.g. `https://coordinator.example:8443` (no trailing `/api`); plain `http://`
   * only to a loopback address unless `trust.allowInsecure` (else `make` throws InsecureEndpoint).
   */
  readonly url: string
  /** The CA (PEM) that signs the coordinator's certificate, instead of Node's default store. */
  readonly trust?: Endpoint.Trust
  /** The member's account: signs in, and signs submissions. Without it, only public routes answer. */
  readonly initiator?: Initiator
  readonly fetch?: typeof globalThis.fetch
}

/** What every call rejects with: an API refusal by its `_tag` and status, or the transport or decoding failure named. */
export { RequestFailed }

/** A task without `initiator` (the client's signer) and optionally without `nonce` (random). */
export type TaskDraft = Omit<TaskSpec, "initiator" | "nonce"> & { readonly nonce?: string }
export type TaskDetail = typeof S.TaskDetail.Type
export type TaskRow = typeof S.TaskRow.Type
export type Progress = typeof S.Progress.Type
/** A task's detail with its result once the caller may read it (a recipient); `null` otherwise. */
export type TaskOutcome = TaskDetail & { readonly result: unknown }

export interface WatchOptions {
  /** Each `Progress` event once, in order (PSI chunks, training rounds, secure-aggregation stages). */
  readonly onProgress?: (progress: Progress) => void
  readonly onStatus?: (status: Status) => void
  /** Read the task when the event stream has said nothing for this long (default 5 s). */
  readonly intervalMs?: number
  /** Default 10 minutes. */
  readonly timeoutMs?: number
  /** Also wait until every chain record of the task is confirmed (default true). */
  readonly untilNotarized?: boolean
  readonly signal?: AbortSignal
}

/** An artifact read back: its bytes decoded once here, beside the API's own fields. */
export type ArtifactBytes = typeof S.Artifact.Type & { readonly bytes: Uint8Array }

/**
 * What `make` returns. Named member by member (rather than the type `make` happens to infer) so embedders read one
 * declaration, and the public API report does not reshuffle with the compiler's printing order.
 */
export interface Client {
  readonly url: string
  /** Signs in now (otherwise the first signed call does); resolves with the account. */
  readonly signIn: () => Promise<string>
  /** The current bearer token (e.g. for an SSE reader), if signed in. */
  readonly token: () => string | undefined
  /** Closes the pooled connections of a client that trusts its own CA. */
  readonly close: () => Promise<void>
  readonly me: () => Promise<typeof S.Me.Type>
  readonly health: () => Promise<typeof S.Health.Type>
  readonly nonce: () => Promise<typeof S.Nonce.Type>
  readonly openapi: () => Promise<typeof S.OpenApiDocument.Type>
  /** Signs `draft` as `initiator` and submits it; resolves with the task id (the digest of the signed spec). */
  readonly submit: (draft: TaskDraft, initiator?: Initiator) => Promise<{ readonly taskId: string; readonly spec: TaskSpec }>
  readonly list: (filter?: { readonly status?: Status; readonly limit?: number }) => Promise<ReadonlyArray<TaskRow>>
  readonly get: (id: string) => Promise<TaskDetail>
  readonly result: (id: string) => Promise<typeof S.TaskResult.Type>
  /** Follows the task until it ends (and, by default, until the chain holds every record of it). */
  readonly watch: (id: string, opts?: WatchOptions) => Promise<TaskOutcome>
  /** The task's store record checked against its chain trail (the dashboard's verification). */
  readonly verify: (id: string) => Promise<typeof S.Verification.Type>
  readonly cancel: (id: string, reason?: string) => Promise<typeof S.Cancelled.Type>
  readonly models: () => Promise<typeof S.ModelList.Type["models"]>
  readonly model: (modelId: string) => Promise<typeof S.ModelMeta.Type>
  readonly weights: (modelId: string) => Promise<typeof S.ModelWeights.Type>
  readonly predict: (modelId: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>) => Promise<typeof S.Prediction.Type["predictions"]>
  readonly catalog: (q?: string, opts?: { readonly includeRetired?: boolean }) => Promise<typeof S.Catalog.Type["datasets"]>
  readonly catalogEntry: (datasetId: string) => Promise<{ readonly [x: string]: unknown }>
  readonly grants: () => Promise<typeof S.Grants.Type>
  readonly modelRequests: (to?: string) => Promise<typeof S.ModelRequests.Type["requests"]>
  readonly supervision: () => Promise<typeof S.Supervision.Type>
  readonly members: () => Promise<typeof S.Members.Type["members"]>
  readonly rejections: () => Promise<typeof S.Rejections.Type>
  readonly pendingConsents: () => Promise<typeof S.PendingConsents.Type["pending"]>
  /** Stores bytes on the coordinator's IPFS node; resolves with their CID. */
  readonly putArtifact: (bytes: Uint8Array, codec?: "raw" | "json") => Promise<string>
  readonly getArtifact: (cid: string) => Promise<ArtifactBytes>
}

export const make = (options: ClientOptions): Client => {
  const client = ApiClient.make({
    url: options.url,
    trust: options.trust,
    fetch: options.fetch,
    signer: options.initiator === undefined ? undefined : { getAddress: () => options.initiator!.getAddress(), signMessage: (m) => options.initiator!.signMessage(m) }
  })

  /** Runs one call (signed unless `signed` is false) and throws a RequestFailed for any failure. */
  const run = async <A>(f: (api: ApiClient.Client["api"]) => Effect.Effect<A, unknown, any>, signed = true): Promise<A> => {
    const exit = await Effect.runPromiseExit(client.call(f, signed))
    if (Exit.isSuccess(exit)) return exit.value
    throw fromFailure(Cause.squash(exit.cause))
  }

  const get = (id: string) => run((api) => api.tasks.get({ params: { id } }))
  const result = (id: string) => run((api) => api.tasks.result({ params: { id } }))

  /** Signs `draft` as `initiator` and submits it; resolves with the task id (the digest of the signed spec). */
  const submit = async (draft: TaskDraft, initiator: Initiator | undefined = options.initiator) => {
    if (!initiator) throw new RequestFailed(0, "NoInitiator", "submit needs an initiator (a wallet) to sign the task")
    const spec = { ...draft, initiator: await initiator.getAddress(), nonce: draft.nonce ?? randomBytes(8).toString("hex") } as TaskSpec
    // Refused here, by the kind's declaration, before anything is signed or sent: UnknownTaskKind or InvalidTaskParams.
    Protocols.decodeTaskOrThrow(Schema.decodeUnknownSync(TaskSpecSchema)(spec))
    const id = taskIdOf(spec)
    const signature = await initiator.signMessage(getBytes(id))
    const submitted = await run((api) => api.tasks.submit({ payload: { spec, signature } }))
    return { taskId: submitted.taskId, spec }
  }

  /**
   * Follows the task until it ends (and, by default, until the chain holds every record of it); then reads its result
   * if the signed-in account is a recipient (`result` is null otherwise). The coordinator's event stream
   * (`GET /api/events`) says when the task changed, and only then is it read again: a progress event, a status, a
   * chain record. The stream is opened again when it ends (the token's lifetime) or drops; the task is also read
   * when the stream has been silent for `intervalMs`, so an event missed while it was being opened costs a delay,
   * never the outcome. A read that cannot reach the coordinator is tried again (a restart of the coordinator is a
   * pause in the watch, not its end).
   */
  const watch = async (id: string, opts: WatchOptions = {}): Promise<TaskOutcome> => {
    const timeoutMs = opts.timeoutMs ?? 600_000
    let lastStatus: Status | undefined
    let seen = 0
    /** Reads the task, reports what is new, and returns its outcome once it is over. */
    const read = async (): Promise<TaskOutcome | undefined> => {
      const detail = await get(id)
      for (const event of detail.events.filter((e) => e.id > seen)) {
        seen = event.id
        if (event.type === "Progress" && Schema.is(ProgressSchema)(event.data)) opts.onProgress?.(event.data)
      }
      if (detail.status !== lastStatus) {
        lastStatus = detail.status
        opts.onStatus?.(detail.status)
      }
      if (!isFinal(detail.status) || (opts.untilNotarized !== false && !detail.chain.every((c) => c.status === "confirmed" || c.status === "failed"))) return undefined
      const outcome = detail.status === "Succeeded" ? await result(id).catch((e: RequestFailed) => (e.code === "Forbidden" ? undefined : Promise.reject(e))) : undefined
      return { ...detail, result: outcome?.result ?? null }
    }
    // Each time the feed opens, and each of its events about this task (or its heartbeat): read the task again.
    const feed = Stream.unwrap(Effect.map(client.call((api) => api.tasks.events()), (events) => Stream.concat(Stream.succeed(undefined), events))).pipe(
      Stream.filter((event) => event === undefined || event.type === "limits" || event.taskId === id),
      Stream.repeat(Schedule.spaced("100 millis")),
      // The stream only says when to read: whatever stops it (a dropped connection, a failed sign-in) is retried;
      // the reads themselves fail the watch.
      Stream.catchCause((cause) => Stream.fail(cause)),
      Stream.retry(Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")]))
    )
    const quiet = Stream.tick(Duration.millis(opts.intervalMs ?? 5_000))
    const program = Stream.merge(feed, quiet).pipe(
      // Changes that come while the task is being read make one more read, not one each.
      Stream.buffer({ capacity: 1, strategy: "sliding" }),
      // A read the network could not carry (the coordinator restarting, a dropped link) is tried again until the
      // watch's own timeout: only an answer of the API (a refusal, a response that does not decode) ends the watch.
      Stream.mapEffect(() =>
        Effect.tryPromise({ try: read, catch: fromFailure }).pipe(
          Effect.retry({ while: (error) => error.code === "Unreachable", schedule: Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")]) })
        )
      ),
      Stream.filter((outcome): outcome is TaskOutcome => outcome !== undefined),
      Stream.runHead,
      Effect.flatMap((outcome) => (outcome._tag === "Some" ? Effect.succeed(outcome.value) : Effect.die(new Error("the task's event stream ended")))),
      Effect.timeoutOrElse({
        duration: Duration.millis(timeoutMs),
        orElse: () => Effect.fail(new RequestFailed(0, "Timeout", `task ${id} did not end within ${timeoutMs} ms (status ${lastStatus})`))
      })
    )
    const exit = await Effect.runPromiseExit(program, opts.signal === undefined ? undefined : { signal: opts.signal })
    if (Exit.isSuccess(exit)) return exit.value
    opts.signal?.throwIfAborted()
    throw fromFailure(Cause.squash(exit.cause))
  }

  return {
    url: client.url,
    /** Signs in now (otherwise the first signed call does); resolves with the account. */
    signIn: client.signIn,
    /** The current bearer token (e.g. for an SSE reader), if signed in. */
    token: client.token,
    /** Closes the pooled connections of a client that trusts its own CA. */
    close: client.close,
    me: () => run((api) => api.auth.me()),
    health: () => run((api) => api.meta.health(), false),
    nonce: () => run((api) => api.auth.nonce(), false),
    openapi: () => run((api) => api.meta.openapi(), false),
    submit,
    list: (filter: { status?: Status; limit?: number } = {}) => run((api) => api.tasks.list({ query: filter })).then((r) => r.tasks),
    get,
    result,
    watch,
    /** The task's store record checked against its chain trail (the dashboard's verification). */
    verify: (id: string) => run((api) => api.tasks.verify({ params: { id } })),
    cancel: (id: string, reason?: string) => run((api) => api.tasks.cancel({ params: { id }, payload: reason === undefined ? {} : { reason } })),
    models: () => run((api) => api.models.list()).then((r) => r.models),
    model: (modelId: string) => run((api) => api.models.get({ params: { modelId } })),
    weights: (modelId: string) => run((api) => api.models.weights({ params: { modelId } })),
    predict: (modelId: string, rows: ReadonlyArray<ReadonlyArray<number> | Record<string, number>>) =>
      run((api) => api.models.predict({ params: { modelId }, payload: { rows } })).then((r) => r.predictions),
    catalog: (q = "", opts: { includeRetired?: boolean } = {}) =>
      run((api) => api.governance.catalog({ query: { q, all: opts.includeRetired ? "1" : undefined } })).then((r) => r.datasets),
    catalogEntry: (datasetId: string) => run((api) => api.governance.catalogEntry({ params: { datasetId } })),
    grants: () => run((api) => api.governance.grants()),
    modelRequests: (to?: string) => run((api) => api.governance.modelRequests({ query: { to } })).then((r) => r.requests),
    supervision: () => run((api) => api.governance.supervision()),
    members: () => run((api) => api.governance.members()).then((r) => r.members),
    rejections: () => run((api) => api.governance.rejections()),
    pendingConsents: () => run((api) => api.governance.pendingConsents()).then((r) => r.pending),
    putArtifact: (bytes: Uint8Array, codec: "raw" | "json" = "raw") =>
      run((api) => api.artifacts.put({ payload: { codec, base64: Buffer.from(bytes).toString("base64") } })).then((r) => r.cid),
    getArtifact: (cid: string) =>
      run((api) => api.artifacts.get({ params: { cid: cid.replace(/^cid:/, "") } })).then((r) => ({ ...r, bytes: new Uint8Array(Buffer.from(r.base64, "base64")) }))
  }
}

