/**
 * The Spill service on disk (core/src/protocols/joint-query/Spill.ts): each directory a protocol opens is a fresh
 * `<dataDir>/spill/<label>-XXXXXX` (mode 0700, files 0600: it holds the party's ids, as private as its data),
 * removed when the protocol is done. What a crash leaves there is removed when the host starts (`clearStale`):
 * no task survives a restart of the protocol thread with its spill directory.
 */
import { appendFile, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { type SpillDir, SpillError } from "@jointly/core/internal/protocols/joint-query/Spill"

export const rootOf = (dataDir: string) => join(dataDir, "spill")

const failed = (what: string) => (error: unknown) => new SpillError({ detail: `${what}: ${error instanceof Error ? error.message : String(error)}` })

const isMissing = (error: unknown) => typeof error === "object" && error !== null && (error as { code?: string }).code === "ENOENT"

/** Removes every spill directory under `dataDir` (a previous run's, left by a crash). */
export const clearStale = (dataDir: string) => Effect.promise(() => rm(rootOf(dataDir), { recursive: true, force: true }))

/** Up to `length` bytes of `file` from `offset`; empty for a file never written. */
const readRange = async (file: string, offset: number, length: number): Promise<Uint8Array> => {
  const handle = await open(file, "r").catch((error) => (isMissing(error) ? undefined : Promise.reject(error)))
  if (handle === undefined) return new Uint8Array(0)
  try {
    const out = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await handle.read(out, filled, length - filled, offset + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return out.subarray(0, filled)
  } finally {
    await handle.close()
  }
}

export const make = (dataDir: string) => ({
  open: (label: string) =>
    Effect.tryPromise({
      try: async (): Promise<SpillDir> => {
        await mkdir(rootOf(dataDir), { recursive: true, mode: 0o700 })
        const dir = await mkdtemp(join(rootOf(dataDir), `${label.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 80)}-`))
        const path = (file: number) => join(dir, `${file}.bin`)
        return {
          append: (file, bytes) => Effect.tryPromise({ try: () => appendFile(path(file), bytes, { mode: 0o600 }), catch: failed(`append to ${path(file)}`) }),
          read: (file) =>
            Effect.tryPromise({
              try: () => readFile(path(file)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength), (error) => (isMissing(error) ? new Uint8Array(0) : Promise.reject(error))),
              catch: failed(`read ${path(file)}`)
            }),
          readRange: (file, offset, length) =>
            Effect.tryPromise({
              try: () => readRange(path(file), offset, length),
              catch: failed(`read ${path(file)} at ${offset}`)
            }),
          write: (file, bytes) => Effect.tryPromise({ try: () => writeFile(path(file), bytes, { mode: 0o600 }), catch: failed(`write ${path(file)}`) }),
          remove: Effect.promise(() => rm(dir, { recursive: true, force: true }))
        }
      },
      catch: failed(`open a spill directory under ${rootOf(dataDir)}`)
    })
})
