/**
 * The model runtime on a job pool, on any platform (Node worker threads, a page's Web Workers): every
 * `ModelRuntime` call is forwarded to the pool's `fl.*` jobs (FlJobs.ts), so training never blocks the protocol
 * thread. Compute.ts composes it on Node; the browser participant's runner does in a page.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import type { JobRunnerService } from "@jointly/core/internal/compute/JobRunner"
import type { LocalMatrix, ModelRuntimeApi } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { ModelRuntimeError } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import { bytesFloat32, float32Bytes, Jobs, type MatrixRef, type Reply } from "./FlJobs.ts"

const reasons: ReadonlyArray<ModelRuntimeError["reason"]> = ["InvalidModel", "ShapeMismatch", "ComputeFailed"]

export interface PoolRuntime extends ModelRuntimeApi {
  /** How many times a local matrix was sent to a seat (tests check that rounds reuse the seat's copy). */
  readonly matricesSent: () => number
}

/**
 * A ModelRuntime on the worker pool. Seats cache matrices by key (FlJobs.ts); the key sent is the
 * protocol's key plus a hash of the content, so two participants sharing one pool in a test, or a key reused
 * for other rows, can never pick up each other's matrix. The first job on a matrix sends it; later jobs
 * send only the key and resend on a seat's `missing` (at most once per seat).
 */
export const poolRuntime = (runner: JobRunnerService): PoolRuntime => {
  const keys = new WeakMap<LocalMatrix, string>()
  const sent = new Set<string>()
  let matricesSent = 0

  const keyOf = (m: LocalMatrix) => {
    let key = keys.get(m)
    if (key === undefined) {
      const h = sha256.create().update(float32Bytes(m.features)).update(float32Bytes(m.labels)).update(new TextEncoder().encode(`${m.rows}x${m.width}`))
      key = `${m.key}#${bytesToHex(h.digest()).slice(0, 32)}`
      keys.set(m, key)
    }
    return key
  }

  const refOf = (m: LocalMatrix, withData: boolean): MatrixRef => {
    const key = keyOf(m)
    if (!withData) return { key, rows: m.rows, width: m.width }
    sent.add(key)
    matricesSent++
    return { key, rows: m.rows, width: m.width, features: float32Bytes(m.features), labels: float32Bytes(m.labels) }
  }

  const run = (job: string, input: JobCodec.JobValue): Effect.Effect<Reply, ModelRuntimeError> =>
    Effect.flatMap(
      Effect.mapError(runner.runAll(job, [JobCodec.encode(input)]), (e) => new ModelRuntimeError({ reason: "ComputeFailed", detail: e.detail })),
      ([bytes]) =>
        Effect.try({
          try: () => JobCodec.decode(bytes!) as Reply,
          catch: (e) => new ModelRuntimeError({ reason: "ComputeFailed", detail: `${job} replied with undecodable bytes: ${String(e)}` })
        })
    )

  const answer = (job: string, reply: Reply): Effect.Effect<JobCodec.JobValue, ModelRuntimeError> => {
    if ("ok" in reply) return Effect.succeed(reply.ok)
    if ("error" in reply) {
      const reason = reasons.includes(reply.error.reason as never) ? (reply.error.reason as ModelRuntimeError["reason"]) : "ComputeFailed"
      return Effect.fail(new ModelRuntimeError({ reason, detail: reply.error.detail }))
    }
    return Effect.fail(new ModelRuntimeError({ reason: "ComputeFailed", detail: `${job}: the seat asked again for matrix ${reply.missing}` }))
  }

  /** Runs a job on a matrix: by key when some seat already has it, with the data on a seat's `missing`. */
  const withMatrix = (job: string, data: LocalMatrix, input: (ref: MatrixRef) => JobCodec.JobValue) =>
    Effect.gen(function*() {
      const first = yield* run(job, input(refOf(data, !sent.has(keyOf(data)))))
      return yield* answer(job, "missing" in first ? yield* run(job, input(refOf(data, true))) : first)
    })

  const weightsOf = (job: string) => (value: JobCodec.JobValue) =>
    Effect.try({ try: () => bytesFloat32(`${job} output`, value), catch: (e) => e as ModelRuntimeError })

  return {
    matricesSent: () => matricesSent,
    initialize: (topology, seed) =>
      Effect.flatMap(run(Jobs.initialize, { topology: JSON.stringify(topology), seed }), (r) => Effect.flatMap(answer(Jobs.initialize, r), weightsOf(Jobs.initialize))),
    train: ({ topology, weights, config, data }) =>
      Effect.flatMap(
        withMatrix(Jobs.train, data, (ref) => ({ topology: JSON.stringify(topology), weights: float32Bytes(weights), config: { ...config }, data: { ...ref } })),
        weightsOf(Jobs.train)
      ),
    evaluate: ({ topology, weights, loss, data }) =>
      Effect.map(
        withMatrix(Jobs.evaluate, data, (ref) => ({ topology: JSON.stringify(topology), weights: float32Bytes(weights), loss, data: { ...ref } })),
        (value) => value as { lossSum: number; correct: number; samples: number }
      ),
    predict: ({ topology, weights, features, rows }) =>
      Effect.flatMap(
        Effect.flatMap(run(Jobs.predict, { topology: JSON.stringify(topology), weights: float32Bytes(weights), features: float32Bytes(features), rows }), (r) => answer(Jobs.predict, r)),
        weightsOf(Jobs.predict)
      )
  }
}
