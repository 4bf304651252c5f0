/**
 * Where a protocol run's time goes, stage by stage: wraps a coordinator session so that every round adds its wall
 * time and the CPU time of this process (main thread and worker threads: the in-memory host runs every party here)
 * to its stage's totals. Rounds of one session run one after another, so the CPU deltas do not overlap.
 */
import { Effect } from "effect"
import type { CoordinatorSession } from "@jointly/core/internal/protocols/Protocol"

export interface StageTime {
  readonly stage: string
  readonly rounds: number
  readonly wallMs: number
  readonly cpuMs: number
}

export const make = () => {
  const totals = new Map<string, { rounds: number; wallMs: number; cpuMs: number }>()
  const wrap = (session: CoordinatorSession): CoordinatorSession => ({
    ...session,
    round: (stage, requests, options) => {
      const end = (started: number, cpu: NodeJS.CpuUsage) =>
        Effect.sync(() => {
          const used = process.cpuUsage(cpu)
          const t = totals.get(stage.name) ?? { rounds: 0, wallMs: 0, cpuMs: 0 }
          t.rounds++
          t.wallMs += performance.now() - started
          t.cpuMs += (used.user + used.system) / 1000
          totals.set(stage.name, t)
        })
      return Effect.suspend(() => Effect.ensuring(session.round(stage, requests, options), end(performance.now(), process.cpuUsage())))
    }
  })
  /** The stages, most CPU first. */
  const report = (): Array<StageTime> => [...totals].map(([stage, t]) => ({ stage, ...t })).sort((a, b) => b.cpuMs - a.cpuMs)
  return { wrap, report }
}
