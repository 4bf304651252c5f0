/**
 * A participant keeps the sealed artifacts its tasks name (issue 16 item 1: "the parties of a task pin what they
 * need"). A pin fetches the block from a connected node first, and that node may not have it yet — the
 * coordinator's node restarting, a peer still dialling back — so a pin is retried on a bounded exponential
 * `Schedule`; each failed try is an event (`pin-retry`), a pin that used up its tries ends as a `pinned` event
 * with `ok: false` and the typed `PinFailed`, and `status()` lists every pin with its state until the agent stops.
 * With `owed` (OwedPins.ts), a pin not yet done — pending or given up — is also kept on disk, and `resume()` on the
 * next start tries each again.
 */
import { Duration, Effect, Schedule, Schema } from "effect"
import type { ArtifactBlocksShape, BlockError } from "@jointly/core/internal/artifacts/Blocks"
import type { TaskArtifact } from "@jointly/core/internal/wire/Messages"
import type { OwedPins } from "./OwedPins.ts"

/** A pin given up after its tries: the last error's tag and message, and how many tries were made. */
export class PinFailed extends Schema.TaggedError<PinFailed>()("PinFailed", {
  cid: Schema.String,
  attempts: Schema.Int,
  /** The last try's error (`BlockNotFound`, `BlockStoreFailed`, `BlockTampered`, `InvalidCid`). */
  lastError: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `pin of ${this.cid} given up after ${this.attempts} tries: ${this.lastError}: ${this.detail}`
  }
}

export interface PinRetry {
  /** The wait after the first failed try, doubled after each (default 1 s). */
  readonly initialMs?: number
  /** The longest wait between two tries (default 60 s). */
  readonly maxDelayMs?: number
  /** Tries in all, the first included (default 12: with the default waits, about six minutes of trying). */
  readonly attempts?: number
}

/** A missing block or a failing node may heal by waiting; an InvalidCid or a BlockTampered will not. */
const retryable = (error: BlockError) => error._tag === "BlockNotFound" || error._tag === "BlockStoreFailed"

const defaults = { initialMs: 1_000, maxDelayMs: 60_000, attempts: 12 } as const

/** Exponential waits from `initialMs`, capped at `maxDelayMs`: the time between tries, not their number. */
export const backoff = (retry: PinRetry = {}) =>
  Schedule.min([
    Schedule.exponential(Duration.millis(retry.initialMs ?? defaults.initialMs)),
    Schedule.spaced(Duration.millis(retry.maxDelayMs ?? defaults.maxDelayMs))
  ])

export type PinState = "pinning" | "pinned" | "failed"

export interface PinStatus {
  readonly taskId: string
  readonly role: TaskArtifact["role"]
  readonly cid: string
  readonly state: PinState
  /** Tries made so far. */
  readonly attempts: number
  /** The last failed try's error, while retrying or once given up. */
  readonly detail?: string
}

export type PinEvent =
  | { readonly type: "pins-not-saved"; readonly cid: string; readonly detail: string }
  | { readonly type: "pin-retry"; readonly taskId: string; readonly role: TaskArtifact["role"]; readonly cid: string; readonly attempt: number; readonly detail: string }
  | {
    readonly type: "pinned"
    readonly taskId: string
    readonly role: TaskArtifact["role"]
    readonly cid: string
    readonly ok: boolean
    readonly attempts: number
    readonly error?: PinFailed
    readonly detail?: string
  }

export interface Options {
  readonly blocks: ArtifactBlocksShape
  /** Run before each try (the agent dials its configured peers again: one may have restarted). */
  readonly beforeTry?: Effect.Effect<void>
  readonly retry?: PinRetry
  readonly emit: (event: PinEvent) => void
  /** The pins still owed, on disk: recorded here, retried by `resume()` after a restart. */
  readonly owed?: OwedPins
}

export const make = (o: Options) => {
  const pins = new Map<string, PinStatus>()
  const attemptsOf = o.retry?.attempts ?? defaults.attempts
  const describe = (error: BlockError) => `${error._tag}: ${error.message}`

  /** Pins one artifact, retrying; never fails (the outcome is the `pinned` event and the status). */
  // Suspended: the status and the try count belong to a run of the effect, not to building it.
  const pin = (taskId: string, artifact: TaskArtifact): Effect.Effect<PinStatus> => Effect.suspend(() => {
    const key = artifact.cid
    const current = pins.get(key)
    // Already held or being fetched (two tasks naming one block, an `ended` heard twice): one pin.
    if (current !== undefined && current.state !== "failed") return Effect.succeed(current)
    let attempts = 0
    const set = (status: Omit<PinStatus, "taskId" | "role" | "cid">) => {
      const next = { taskId, role: artifact.role, cid: artifact.cid, ...status }
      pins.set(key, next)
      return next
    }
    set({ state: "pinning", attempts })
    // The disk record is best effort: a pin is not held back by it, and a failed write is an event.
    const record = (write: (owed: OwedPins) => Effect.Effect<void, { readonly message: string }>) =>
      o.owed === undefined ? Effect.void : Effect.catch(write(o.owed), (error) => Effect.sync(() => o.emit({ type: "pins-not-saved", cid: artifact.cid, detail: error.message })))
    const once = Effect.andThen(o.beforeTry ?? Effect.void, o.blocks.pin(artifact.cid)).pipe(
      Effect.tapError((error) =>
        Effect.sync(() => {
          attempts += 1
          const detail = describe(error)
          set({ state: "pinning", attempts, detail })
          // The last try's error is told once, by the `pinned` event below.
          if (attempts < attemptsOf && retryable(error)) o.emit({ type: "pin-retry", taskId, role: artifact.role, cid: artifact.cid, attempt: attempts, detail })
        })
      ),
      Effect.tap(() => Effect.sync(() => void (attempts += 1)))
    )
    return record((owed) => owed.owe({ taskId, artifact, state: "pending" })).pipe(
      Effect.andThen(once),
      Effect.retry({ schedule: backoff(o.retry), times: attemptsOf - 1, while: retryable }),
      Effect.matchEffect({
        onSuccess: () =>
          record((owed) => owed.settle(artifact.cid)).pipe(Effect.map(() => {
            o.emit({ type: "pinned", taskId, role: artifact.role, cid: artifact.cid, ok: true, attempts })
            return set({ state: "pinned", attempts })
          })),
        onFailure: (error) =>
          record((owed) => owed.owe({ taskId, artifact, state: "failed", detail: describe(error) })).pipe(Effect.map(() => {
            const failed = new PinFailed({ cid: artifact.cid, attempts, lastError: error._tag, detail: error.message })
            o.emit({ type: "pinned", taskId, role: artifact.role, cid: artifact.cid, ok: false, attempts, error: failed, detail: failed.message })
            return set({ state: "failed", attempts, detail: describe(error) })
          }))
      })
    )
  })

  /** Tries again every pin the disk says is still owed (pending when the participant stopped, or given up). */
  const resume = (): Effect.Effect<ReadonlyArray<PinStatus>> =>
    Effect.forEach(o.owed?.list() ?? [], (entry) => pin(entry.taskId, entry.artifact), { concurrency: "unbounded" })

  return {
    pin,
    resume,
    /** Every pin this agent started, with its state (a failed one stays listed until tried again). */
    status: (): ReadonlyArray<PinStatus> => [...pins.values()]
  }
}

export type Pinner = ReturnType<typeof make>
