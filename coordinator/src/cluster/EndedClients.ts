/**
 * A pool that takes back, as broken, a client whose connection ended while it was checked out.
 *
 * pg's pool drops an idle client whose connection ends, but a checked-out one stays counted until its holder
 * releases it. The socket.io Postgres adapter keeps one client checked out to LISTEN on, and when that connection
 * ends (the database restarted, the backend was terminated) it takes a new one and never gives the dead one back:
 * after a few reconnections the pool had no connection left to publish with, and every message between the
 * instances waited forever. This watches every checkout through pg's public pool events (`acquire`, `release`)
 * and the client's `end`, so it needs nothing of the adapter's insides: whoever holds a client whose connection
 * ended and has not given it back by then, the pool gets it back.
 */
import type { Pool, PoolClient } from "pg"

/** Registers the watch on `pool` (for the pool's life) and returns it. */
export const releasedOnEnd = (pool: Pool): Pool => {
  const out = new Set<PoolClient>()
  pool.on("acquire", (client) => void out.add(client))
  pool.on("release", (_error, client) => void out.delete(client))
  pool.on("connect", (client) => {
    // pg emits a client's `end` a tick after its `error`, which is where `pool.query` gives back the client it
    // checked out: by now only a holder that keeps a dead client still has it.
    client.once("end", () => {
      if (!out.delete(client)) return
      try {
        client.release(new Error("its connection ended while it was checked out"))
      } catch {
        // Released meanwhile by its holder.
      }
    })
  })
  return pool
}
