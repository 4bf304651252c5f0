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
}>()("jointly/Spill") {}

/** The spill service over arrays in memory: the spill path's logic without a disk (tests, hosts without one). */
export const inMemory = (): Spill["Service"] => ({
  open: () =>
    Effect.sync(() => {
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
    })
})
