/**
 * The Spill service on disk (core/src/protocols/joint-query/Spill.ts): each directory a protocol opens is a fresh
 * `<dataDir>/spill/<label>-XXXXXX` (mode 0700, files 0600: it holds the party's ids, as private as its data),
 * removed when the protocol is done. A resumable one is `<dataDir>/spill/task-<key>`, the same path every time its
 * key is opened, so a task resumes from it after the host restarted.
 *
 * What a crash leaves is cleared when the host starts (`clearStale`): every fresh directory (nothing resumes from
 * them), and a resumable one last opened longer ago than the keeping time (24 hours by default) — its task ended
 * while this host was down, or will not come back; a task that does comes back within its deadline.
 */
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { type Spill, type SpillDir, SpillError } from "@jointly/core/internal/protocols/joint-query/Spill"

export const rootOf = (dataDir: string) => join(dataDir, "spill")

const failed = (what: string) => (error: unknown) => new SpillError({ detail: `${what}: ${error instanceof Error ? error.message : String(error)}` })

const isMissing = (error: unknown) => typeof error === "object" && error !== null && (error as { code?: string }).code === "ENOENT"

/** How long a resumable directory is kept after it was last opened, by default. */
export const DEFAULT_KEEP_MS = 24 * 60 * 60 * 1000

const RESUMABLE = "task-"

/** The directory of resumable key `key` (a task id: hex, so the path names it as it is). */
const resumablePath = (dataDir: string, key: string) => join(rootOf(dataDir), `${RESUMABLE}${key.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 120)}`)

/**
 * Removes the entries of `root` that `stale` names (a missing root has none): the one rule by which what a crash
 * left is cleared at start, here and for DuckDB's directories (datasets/DuckDb.ts).
 */
export const removeStale = async (root: string, stale: (name: string, path: string) => boolean | Promise<boolean>): Promise<void> => {
  const entries = await readdir(root).catch((error) => (isMissing(error) ? [] : Promise.reject(error)))
  for (const name of entries) {
    const path = join(root, name)
    if (await stale(name, path)) await rm(path, { recursive: true, force: true })
  }
}

/** Removes what a previous run of the host left under `dataDir`'s spill root, but resumable directories opened within `keepMs`. */
export const clearStale = (dataDir: string, keepMs = DEFAULT_KEEP_MS, now = Date.now()): Effect.Effect<void, SpillError> =>
  Effect.tryPromise({
    try: () =>
      removeStale(rootOf(dataDir), async (name, path) =>
        !(name.startsWith(RESUMABLE) && now - (await stat(path).then((s) => s.mtimeMs, () => 0)) < keepMs)),
    catch: failed(`clear stale spill directories under ${rootOf(dataDir)}`)
  })

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

/** The numbered files of directory `dir` (SpillDir); `remove` deletes it. */
const filesIn = (dir: string): SpillDir => {
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
    // A directory left behind (EACCES, EBUSY) is reported and cleared at the host's next start (`clearStale`):
    // removing is cleanup after the task, which it must not fail.
    remove: Effect.tryPromise({ try: () => rm(dir, { recursive: true, force: true }), catch: failed(`remove ${dir}`) }).pipe(
      Effect.catch((error) => Effect.logWarning(error.message))
    )
  }
}

export const make = (dataDir: string): Spill["Service"] => ({
  open: (label: string) =>
    Effect.tryPromise({
      try: async () => {
        await mkdir(rootOf(dataDir), { recursive: true, mode: 0o700 })
        return filesIn(await mkdtemp(join(rootOf(dataDir), `${label.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 80)}-`)))
      },
      catch: failed(`open a spill directory under ${rootOf(dataDir)}`)
    }),
  resumable: (key: string) =>
    Effect.tryPromise({
      try: async () => {
        const dir = resumablePath(dataDir, key)
        await mkdir(rootOf(dataDir), { recursive: true, mode: 0o700 })
        const found = await mkdir(dir, { mode: 0o700 }).then(() => false, (error) => ((error as { code?: string }).code === "EEXIST" ? true : Promise.reject(error)))
        // Opened now: the keeping time (clearStale) counts from here.
        if (found) await utimes(dir, new Date(), new Date())
        return { dir: filesIn(dir), found }
      },
      catch: failed(`open the resumable spill directory of ${key} under ${rootOf(dataDir)}`)
    })
})
