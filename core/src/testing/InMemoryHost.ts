/**
 * Test helper: a protocol's coordinator program against participants' handler tables in one process, settled
 * by the round engine deployed coordinators run (`runtime/RoundEngine.ts`) over the in-memory channel
 * (`InMemoryChannel.ts`: faults, JSON round trip, transcript). Only the hooks are local: progress, commitments
 * and checkpoints are kept in arrays and maps the test can read (checkpoints through JSON, as the
 * coordinator's store keeps them, and shared by every attempt). A host that is done with its task `end`s it, so
 * the participants release what they hold of it (a loop of hosts would otherwise keep every task's memory).
 */
import { Effect } from "effect"
import { hexlify, type Wallet } from "ethers"
import type { CoordinatorSession, ProgressEvent } from "../protocols/Protocol.ts"
import { Channel } from "../runtime/Channel.ts"
import * as RoundEngine from "../runtime/RoundEngine.ts"
import * as InMemoryChannel from "./InMemoryChannel.ts"

export type Fault = InMemoryChannel.Fault
export type ParticipantConfig = InMemoryChannel.ParticipantConfig
export type TranscriptEntry = InMemoryChannel.TranscriptEntry
export type AnyStageHandler = InMemoryChannel.AnyStageHandler
export const randomWallet = InMemoryChannel.randomWallet

export interface InMemoryHostOptions {
  readonly taskId?: string
  readonly attempt?: number
  /** The round timeout when a round names none (the engine's default otherwise). */
  readonly roundTimeoutMs?: number
  /** The protocol's stage table (`Protocol.stages`): a round of another stage is then a defect, as deployed. */
  readonly stages?: ReadonlyArray<string>
  /** Record the transcript (default true; `InMemoryChannel.ChannelOptions`). */
  readonly transcript?: boolean
}

export interface InMemoryHost {
  /** Participant ids (checksummed addresses) in the order the configs were given. */
  readonly participants: ReadonlyArray<string>
  readonly wallets: ReadonlyMap<string, Wallet>
  readonly transcript: ReadonlyArray<TranscriptEntry>
  readonly refusals: ReadonlyArray<InMemoryChannel.Refusal>
  readonly progress: ReadonlyArray<ProgressEvent>
  readonly commitments: ReadonlyArray<{ readonly phase: string; readonly digest: string }>
  /** Checkpoints saved by the coordinator program; shared by every attempt, like the coordinator's store. */
  readonly checkpoints: Map<string, unknown>
  /** Participant memory of an attempt (created on first use). */
  readonly memory: (participant: string, attempt?: number) => Map<string, unknown>
  /** The coordinator session of an attempt; participants that dropped out stay dropped across attempts. */
  readonly session: (attempt?: number) => CoordinatorSession
  /** Runs a coordinator program against the participants. */
  readonly run: <A, E, R>(program: (session: CoordinatorSession) => Effect.Effect<A, E, R>, attempt?: number) => Effect.Effect<A, E, R>
  /**
   * Ends the task, as a deployed coordinator does once it succeeds or fails: the round engine stops tracking it and
   * every participant drops its memory of it (releasing what the values hold: SEAL objects, worker handles) and its
   * handler table. What the test reads — transcript, progress, commitments, checkpoints — stays.
   */
  readonly end: () => Effect.Effect<void>
  /** What the participants still hold of the task: attempts with memory plus accepted handler tables (0 once ended). */
  readonly held: () => number
}

export const make = (configs: ReadonlyArray<ParticipantConfig>, options: InMemoryHostOptions = {}): InMemoryHost => {
  const taskId = options.taskId ?? `task-${hexlify(crypto.getRandomValues(new Uint8Array(4))).slice(2)}`
  const defaultAttempt = options.attempt ?? 1
  const channel = InMemoryChannel.make(configs, { transcript: options.transcript })
  const engine = Effect.runSync(Effect.provideService(RoundEngine.make, Channel, channel.channel))
  Effect.runSync(engine.taskStarted(taskId))
  const progress: Array<ProgressEvent> = []
  const commitments: Array<{ phase: string; digest: string }> = []
  const checkpoints = new Map<string, unknown>()

  const session = (attempt = defaultAttempt): CoordinatorSession =>
    engine.session({
      taskId,
      attempt,
      participants: channel.participants,
      roundTimeoutMs: options.roundTimeoutMs,
      stages: options.stages,
      progress: (event) => Effect.sync(() => void progress.push(event)),
      commit: (phase, digest) => Effect.sync(() => void commitments.push({ phase, digest })),
      checkpoint: {
        save: (key, value) => Effect.sync(() => void checkpoints.set(key, JSON.parse(JSON.stringify(value)))),
        load: (key) => Effect.sync(() => checkpoints.get(key))
      }
    })

  return {
    participants: channel.participants,
    wallets: channel.wallets,
    transcript: channel.transcript,
    refusals: channel.refusals,
    progress,
    commitments,
    checkpoints,
    memory: (participant, attempt = defaultAttempt) => channel.memory(participant, taskId, attempt),
    session,
    run: (program, attempt) => program(session(attempt)),
    end: () => Effect.andThen(engine.taskEnded(taskId), Effect.sync(() => channel.end(taskId))),
    held: () => channel.held(taskId)
  }
}
