/**
 * The pins a participant still owes, kept on disk beside its IPFS node's blocks (issue 16 item 1): a pin is
 * recorded as pending when it starts and as failed when its tries run out, and removed once the block is pinned.
 * A participant that stops (or crashes) with pins still owed starts them again on its next start (`Pinner.resume`),
 * on the same retry Schedule — without this, a restart forgot them and the block could be lost with the nodes that
 * held it.
 *
 * One JSON file (`owed-pins.json` in the node's directory), rewritten whole through a temporary file and a rename
 * so that a crash mid-write leaves the previous version; writes are serialized in this process. Decoded at load:
 * a file that is not what this module writes is a typed `OwedPinsUnreadable` naming it.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect, Schema, Semaphore } from "effect"
import { TaskArtifact } from "@jointly/core/internal/wire/Messages"

export const Owed = Schema.Struct({
  taskId: Schema.String,
  artifact: TaskArtifact,
  state: Schema.Literals(["pending", "failed"]),
  /** The last failed try's error, for a failed pin. */
  detail: Schema.optional(Schema.String)
})
export type Owed = typeof Owed.Type

const OwedFile = Schema.Struct({ version: Schema.Literal(1), owed: Schema.Array(Owed) })

export class OwedPinsUnreadable extends Schema.TaggedError<OwedPinsUnreadable>()("OwedPinsUnreadable", { file: Schema.String, detail: Schema.String }) {
  override get message() {
    return `the owed pins file ${this.file} is unreadable: ${this.detail}`
  }
}
export class OwedPinsNotWritten extends Schema.TaggedError<OwedPinsNotWritten>()("OwedPinsNotWritten", { file: Schema.String, detail: Schema.String }) {
  override get message() {
    return `the owed pins file ${this.file} was not written: ${this.detail}`
  }
}

export const fileIn = (directory: string) => join(directory, "owed-pins.json")

const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(OwedFile))

/** Opens (or starts) the owed pins of the node whose files are in `file`'s directory. */
export const open = (file: string) =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e))),
      catch: (e) => new OwedPinsUnreadable({ file, detail: e instanceof Error ? e.message : String(e) })
    })
    const owed = new Map<string, Owed>()
    if (text !== undefined) {
      const decoded = yield* Effect.mapError(decode(text), (e) => new OwedPinsUnreadable({ file, detail: e.message }))
      for (const entry of decoded.owed) owed.set(entry.artifact.cid, entry)
    }
    const lock = yield* Semaphore.make(1)
    const save = Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(file), { recursive: true })
        const temporary = `${file}.${process.pid}.tmp`
        await writeFile(temporary, JSON.stringify({ version: 1, owed: [...owed.values()] }, null, 2) + "\n")
        await rename(temporary, file)
      },
      catch: (e) => new OwedPinsNotWritten({ file, detail: e instanceof Error ? e.message : String(e) })
    })
    return {
      /** Every pin owed when the file was opened or since, in the order first owed. */
      list: (): ReadonlyArray<Owed> => [...owed.values()],
      /** Records a pin as pending or failed (the same CID once, whatever task named it last). */
      owe: (entry: Owed): Effect.Effect<void, OwedPinsNotWritten> => lock.withPermits(1)(Effect.suspend(() => (owed.set(entry.artifact.cid, entry), save))),
      /** The pin is done: no longer owed. */
      settle: (cid: string): Effect.Effect<void, OwedPinsNotWritten> =>
        lock.withPermits(1)(Effect.suspend(() => (owed.delete(cid) ? save : Effect.void)))
    }
  })

export type OwedPins = Effect.Success<ReturnType<typeof open>>
