/**
 * Scratch files a protocol keeps beside a participant's data when what it would otherwise hold grows with the
 * rows (the OT-PSI's id set: IdSpill.ts). A host with a data directory provides a file-backed implementation
 * (participant/src/host/SpillFiles.ts: a private directory under `<dataDir>/spill`, removed when the protocol is
 * done with it); protocols look it up with `Effect.serviceOption` and, without one, keep everything in memory as
 * before. `inMemory` is the same service over arrays, for tests that want the spill path without a disk.
 */
import { concatBytes } from "@noble/hashes/utils.js"
import { Context, Effect, Schema } from "effect"

export class SpillError extends Schema.TaggedError<SpillError>()("SpillError", { detail: Schema.String }) {
  override get message() {
    return `spill: ${this.detail}`
  }
}

/** Numbered files in one private directory. */
export interface SpillDir {
  readonly append: (file: number, bytes: Uint8Array) => Effect.Effect<void, SpillError>
  /** The file's whole content (empty when it was never written). */
  readonly read: (file: number) => Effect.Effect<Uint8Array, SpillError>
  /** Up to `length` bytes of the file from `offset` (fewer at its end, none past it): a sequential reader's next piece. */
  readonly readRange: (file: number, offset: number, length: number) => Effect.Effect<Uint8Array, SpillError>
  /** Replaces the file's content. */
  readonly write: (file: number, bytes: Uint8Array) => Effect.Effect<void, SpillError>
  /** Deletes the directory and everything in it; never fails (a leftover is cleared at the host's next start). */
  readonly remove: Effect.Effect<void>
}

export class Spill extends Context.Service<Spill, {
  /** A fresh directory named after `label` (for an operator reading the disk; not secret, never an id). */
  readonly open: (label: string) => Effect.Effect<SpillDir, SpillError>
  /**
   * The directory kept under `key` (a task's), opened again as it was left — by an earlier attempt or before the host
   * restarted — or created empty (`found: false`). What resumes a task reads it; its owner removes it when the task
   * is over, and a host drops those left untouched past its keeping time when it starts.
   */
  readonly resumable: (key: string) => Effect.Effect<{ readonly dir: SpillDir; readonly found: boolean }, SpillError>
}>()("jointly/Spill") {}

const filesInMemory = (): SpillDir => {
  const files = new Map<number, Array<Uint8Array>>()
  let removed = false
  const live = <A>(run: () => A) => Effect.suspend(() => (removed ? Effect.fail(new SpillError({ detail: "the directory was removed" })) : Effect.succeed(run())))
  return {
    append: (file, bytes) => live(() => void (files.get(file) ?? files.set(file, []).get(file)!).push(bytes.slice())),
    read: (file) => live(() => concatBytes(...(files.get(file) ?? []))),
    readRange: (file, offset, length) => live(() => concatBytes(...(files.get(file) ?? [])).slice(offset, offset + length)),
    write: (file, bytes) => live(() => void files.set(file, [bytes.slice()])),
    remove: Effect.sync(() => {
      removed = true
      files.clear()
    })
  }
}

/**
 * The spill service over arrays in memory: the spill path's logic without a disk (tests, hosts without one). Its
 * resumable directories live as long as the service value does (a test keeps one across attempts).
 */
export const inMemory = (): Spill["Service"] => {
  const kept = new Map<string, SpillDir>()
  return {
    open: () => Effect.sync(filesInMemory),
    resumable: (key) =>
      Effect.sync(() => {
        const found = kept.get(key)
        if (found !== undefined) return { dir: found, found: true }
        const fresh = filesInMemory()
        const dir = { ...fresh, remove: Effect.andThen(fresh.remove, Effect.sync(() => void kept.delete(key))) }
        kept.set(key, dir)
        return { dir, found: false }
      })
  }
}
