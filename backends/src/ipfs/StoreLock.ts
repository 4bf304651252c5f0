/**
 * One IPFS store directory, two processes: a running participant's node and `jointly files` / `jointly certify`
 * beside it share the block store and pins on purpose (what `files share` puts, the participant serves). Each
 * block and datastore key is written atomically (a temporary file renamed), but a pin is a read-modify-write of
 * several keys (the pin, each block's "pinned by" record) that Helia serializes only within its own process, so two
 * processes pinning or unpinning at once could lose one's update — a block later unpinned while the other still
 * needs it. Every change to the store therefore takes an inter-process lock on the directory first
 * (`proper-lockfile`: an atomic `mkdir` of `<directory>/store.lock`, refreshed while held, taken over when stale).
 *
 * A change that cannot take the lock within `timeoutMs` (another process holding it that long) fails with a
 * `BlockStoreFailed` whose operation is `lock`, naming the directory; reads take no lock.
 */
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import { Duration, Effect, Schedule } from "effect"
import lockfile from "proper-lockfile"
import { BlockStoreFailed } from "@jointly/core/internal/artifacts/Blocks"

export const lockPathOf = (directory: string) => join(directory, "store.lock")

/** How long a change waits for the lock by default. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000

/** A lock not refreshed for this long is taken for a crashed holder's and taken over. */
const STALE_MS = 20_000

const isLocked = (error: unknown) => (error as NodeJS.ErrnoException).code === "ELOCKED"

/** Runs `effect` holding the directory's store lock (no lock for a store in memory: nobody else can reach it). */
export const make = (directory: string | undefined, timeoutMs = DEFAULT_LOCK_TIMEOUT_MS) =>
<A, E>(operation: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E | BlockStoreFailed> => {
  if (directory === undefined) return effect
  const acquire = Effect.tryPromise({
    try: async () =>
      // The lock lives in the directory, which a new store has not made yet.
      (await mkdir(directory, { recursive: true }), lockfile.lock(directory, {
        lockfilePath: lockPathOf(directory),
        realpath: false,
        stale: STALE_MS,
        // A held lock is refreshed on a timer; if a blocked event loop let it go stale and another process took it,
        // the change in hand still completes: throwing here (the library's default) would crash the process.
        onCompromised: () => {}
      })),
    catch: (error) => error
  }).pipe(
    Effect.retry({ schedule: Schedule.spaced(Duration.millis(25)).pipe(Schedule.upTo({ duration: Duration.millis(timeoutMs) })), while: isLocked }),
    Effect.mapError((error) =>
      new BlockStoreFailed({
        operation: "lock",
        message: isLocked(error)
          ? `${operation}: the IPFS store ${directory} is locked by another process (a running participant or jointly files) for more than ${timeoutMs} ms`
          : `${operation}: the IPFS store ${directory} could not be locked: ${error instanceof Error ? error.message : String(error)}`
      }))
  )
  return Effect.acquireUseRelease(acquire, () => effect, (release) => Effect.promise(() => release().catch(() => undefined)))
}

export type StoreLock = ReturnType<typeof make>
