/**
 * One federated-learning task in this process, timed round by round (`horizontal.ts` and `fedavg-dropouts.ts`).
 *
 * Both roles run through the in-memory host (every message Schema-encoded and JSON round-tripped, real secure
 * aggregation crypto, no sockets). Per round: wall time, process CPU time (all threads), the process's resident
 * set at the round's end, and a "parallel participants" estimate — handlers run one at a time (a semaphore), so
 * each participant's handler time is measured alone and a round is max over participants of it + everything
 * else in the round (coordinator work and the host's encoding, counted in full); the same split of the process's CPU
 * time (`cpuParallel`: max over participants of the CPU used while its handlers ran + the CPU of the rest, `cpuRest`),
 * which a loaded machine does not inflate the way it inflates wall time. Each round's progress line carries
 * `t=` (the monotonic clock in µs, the clock of `node --cpu-prof` profiles), so a profile of a run can be cut at
 * round boundaries.
 */
import { Effect, Layer, Semaphore } from "effect"
import type { TabularData } from "@jointly/core/internal/data/Tabular"
import { LocalData } from "@jointly/core/internal/data/Tabular"
import { PredictionSink } from "@jointly/core/internal/protocols/batch-prediction/spec"
import * as Coordinator from "@jointly/core/internal/protocols/federated-learning/coordinator"
import { resolved } from "@jointly/core/internal/protocols/federated-learning/index"
import { ModelRuntime, type ModelRuntimeApi } from "@jointly/core/internal/protocols/federated-learning/ModelRuntime"
import * as Participant from "@jointly/core/internal/protocols/federated-learning/participant"
import type { Params } from "@jointly/core/internal/protocols/federated-learning/spec"
import type { ParticipantFailure, StageHandler } from "@jointly/core/internal/protocols/Protocol"
import * as InMemoryHost from "@jointly/core/internal/testing/InMemoryHost"
import type * as Backends from "@jointly/backends/internal/Backends"
import { progress } from "./Report.ts"

export const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

type Handlers = ReturnType<typeof Participant.handlers>

export interface RoundOptions {
  /** Participant i's model runtime (one each: models are stateful). */
  readonly runtime: (i: number) => ModelRuntimeApi
  /** Replaces participant i's handler table (fault injection); the default keeps it. */
  readonly handlers?: (i: number, handlers: Handlers) => Handlers
  /** Keep the in-memory transcript (default true; megabyte vectors turn it off). */
  readonly transcript?: boolean
  readonly timeoutMs?: number
}

export interface RoundTimes {
  readonly wall: ReadonlyArray<number>
  readonly parallel: ReadonlyArray<number>
  readonly cpu: ReadonlyArray<number>
  /** Process CPU (ms) split like `parallel`: max participant handler CPU + the CPU of everything else. */
  readonly cpuParallel: ReadonlyArray<number>
  /** Process CPU (ms) outside participant handlers: the coordinator, the host's encoding, GC between handlers. */
  readonly cpuRest: ReadonlyArray<number>
  /** Process RSS (MB) at each round's end. */
  readonly rss: ReadonlyArray<number>
  /** The coordinator's checkpoints after the run (the last round's weights under "fl/state"). */
  readonly checkpoints: ReadonlyMap<string, unknown>
}

export const roundTimes = async (
  backends: Backends.Built<Backends.Services>,
  params: Params,
  tables: ReadonlyArray<TabularData>,
  options: RoundOptions
): Promise<RoundTimes> => {
  const r = resolved(params, tables.length)
  const oneAtATime = Semaphore.makeUnsafe(1)
  const busy = new Array<number>(tables.length).fill(0)
  const busyCpu = new Array<number>(tables.length).fill(0)
  const cpuNow = () => {
    const used = process.cpuUsage()
    return (used.user + used.system) / 1000
  }
  const timed = (i: number) => (h: StageHandler<any, any, any>): StageHandler<any, any, any> => ({
    ...h,
    handle: (request: unknown, session) =>
      Semaphore.withPermits(oneAtATime, 1)(Effect.suspend(() => {
        const started = performance.now()
        const startedCpu = cpuNow()
        return Effect.ensuring(h.handle(request, session), Effect.sync(() => {
          busy[i]! += performance.now() - started
          busyCpu[i]! += cpuNow() - startedCpu
        }))
      }))
  })
  const host = InMemoryHost.make(tables.map((table, i) => {
    // The process's backends (one machine's), then this participant's own model runtime over them.
    const layer = Layer.mergeAll(
      backends.layer,
      Layer.succeed(LocalData, { dataset: () => Effect.succeed(table) }),
      Layer.succeed(ModelRuntime, options.runtime(i)),
      Layer.succeed(PredictionSink, { write: () => Effect.void })
    )
    const own = Participant.handlers("digits", r)
    const handlers = (options.handlers?.(i, own) ?? own).map(timed(i)) as Handlers
    return { handlers, provide: <A>(e: Effect.Effect<A, ParticipantFailure, any>) => Effect.provide(e, layer) as Effect.Effect<A, ParticipantFailure> }
  }), { transcript: options.transcript })
  const marks: Array<number> = []
  const parallel: Array<number> = []
  const cpu: Array<number> = []
  const cpuParallel: Array<number> = []
  const cpuRest: Array<number> = []
  const rss: Array<number> = []
  let cpuMark = process.cpuUsage()
  await Effect.runPromise(host.run((session) => {
    const marked = {
      ...session,
      // The first mark is the start of round 1 (after prepare/initialize), then one per finished round.
      progress: (event: Parameters<typeof session.progress>[0]) => Effect.sync(() => {
        if (event.stage !== "fl.prepare" && event.stage !== "fl.round") return
        const now = performance.now()
        const used = process.cpuUsage(cpuMark)
        cpuMark = process.cpuUsage()
        if (marks.length > 0) {
          cpu.push((used.user + used.system) / 1000)
          rss.push(process.memoryUsage.rss() / 2 ** 20)
          const wall = now - marks.at(-1)!
          const participants = busy.reduce((a, b) => a + b, 0)
          parallel.push(Math.max(...busy) + (wall - participants))
          const participantsCpu = busyCpu.reduce((a, b) => a + b, 0)
          cpuRest.push(cpu.at(-1)! - participantsCpu)
          cpuParallel.push(Math.max(...busyCpu) + cpuRest.at(-1)!)
          progress(`  round [t=${process.hrtime.bigint() / 1000n}]: wall ${wall.toFixed(0)} ms, cpu ${cpu.at(-1)!.toFixed(0)} ms, rss ${rss.at(-1)!.toFixed(0)} MB, participant handlers Σ ${participants.toFixed(0)} max ${Math.max(...busy).toFixed(0)} (cpu Σ ${participantsCpu.toFixed(0)} max ${Math.max(...busyCpu).toFixed(0)}), coordinator+host ${(wall - participants).toFixed(0)} (cpu ${cpuRest.at(-1)!.toFixed(0)})`)
        }
        marks.push(now)
        busy.fill(0)
        busyCpu.fill(0)
      })
    }
    return Effect.provide(Coordinator.run(marked, r, { timeoutMs: options.timeoutMs ?? 120_000 }), backends.layer)
  }).pipe(Effect.ensuring(host.end())))
  return { wall: marks.slice(1).map((t, i) => t - marks[i]!), parallel, cpu, cpuParallel, cpuRest, rss, checkpoints: host.checkpoints }
}
