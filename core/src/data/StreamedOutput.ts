/**
 * A receiver's output whose lists grow with the data (a PSI's ids and rows), written as its lists are produced:
 * fixed `header` fields, then each list pulled batch by batch. Where the host's TaskOutput takes a stream
 * (`open`), the output file's text (`JSON.stringify(output, null, 2)` and a newline, the `digest` field last) goes
 * out in bounded pieces, each appended before the next batch is pulled, while the digest — SHA-256 of the canonical
 * JSON of the output without `digest` (wire/Canonical.ts `sha256Digest`) — is hashed from the same batches. Both
 * are byte for byte what the whole object would give, and neither holds more than a batch and a piece. A host
 * without `open` (a browser page, in-memory tests) gets the whole object through `TaskOutput.deliver`.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { Effect, Option } from "effect"
import type { ParticipantFailure, ParticipantSession } from "../protocols/Protocol.ts"
import { canonicalJson, sha256Digest } from "../wire/Canonical.ts"
import * as TaskOutput from "./TaskOutput.ts"

export type Item = string | number

/** A list field: each run of `pull` gives its next items, `undefined` once it has given them all. */
export interface List<E> {
  readonly name: string
  readonly pull: Effect.Effect<ReadonlyArray<Item> | undefined, E>
}

/** A list of items already in memory, pulled in batches. */
export const fromArray = (name: string, items: ReadonlyArray<Item>, batch = 65_536): List<never> => {
  let at = 0
  return {
    name,
    pull: Effect.sync(() => {
      if (at >= items.length) return undefined
      const out = items.slice(at, at + batch)
      at += batch
      return out
    })
  }
}

/** Characters of text gathered before it is hashed or written. */
const PIECE_CHARS = 1 << 18

const encoder = new TextEncoder()

const json = (item: Item) => {
  if (typeof item === "number" && !Number.isFinite(item)) throw new TypeError(`cannot write non-finite number ${item}`)
  return JSON.stringify(item)
}

/** Text gathered synchronously, handed on encoded once a piece is full (`drain`) or at the end (`flush`). */
class Pieces {
  private parts: Array<string> = []
  private chars = 0
  constructor(private readonly take: (bytes: Uint8Array) => Effect.Effect<void, ParticipantFailure>) {}
  add(text: string) {
    this.parts.push(text)
    this.chars += text.length
  }
  drain(): Effect.Effect<void, ParticipantFailure> {
    return this.chars >= PIECE_CHARS ? this.flush() : Effect.void
  }
  flush(): Effect.Effect<void, ParticipantFailure> {
    const bytes = encoder.encode(this.parts.join(""))
    this.parts = []
    this.chars = 0
    return bytes.length === 0 ? Effect.void : this.take(bytes)
  }
}

/**
 * Streams the output to `stream`; returns its digest. The file lists the header fields in their order, then the
 * lists, then the digest (the object `{ ...header, [list]: items…, digest }`); the canonical text orders all fields
 * by name, so the lists must come in name order too (both are read once, in that order).
 */
const streamTo = <E>(stream: TaskOutput.OutputStream, header: Record<string, unknown>, lists: ReadonlyArray<List<E>>) =>
  Effect.gen(function*() {
    const names = lists.map((l) => l.name)
    if (names.some((name, i) => i > 0 && names[i - 1]! >= name) || names.some((name) => name in header || name === "digest")) {
      return yield* Effect.die(new Error(`list fields must be in name order and apart from the header: ${names.join(", ")}`))
    }
    const fields = Object.keys(header).filter((key) => header[key] !== undefined)
    const hash = sha256.create()
    const hashed = new Pieces((bytes) => Effect.sync(() => void hash.update(bytes)))
    const file = new Pieces(stream.append)
    // The file: header fields as JSON.stringify(…, null, 2) prints them, one level in.
    file.add("{\n" + fields.map((key) => `  ${JSON.stringify(key)}: ${JSON.stringify(header[key], null, 2).replace(/\n/g, "\n  ")}`).join(",\n"))
    let separator = fields.length > 0 ? ",\n" : ""
    // The canonical text: every field in name order, the lists' items where their names fall.
    const order = [...fields, ...names].sort()
    let next = 0
    let comma = ""
    const hashFieldsBefore = (name: string | undefined) => {
      while (next < order.length && order[next] !== name) {
        const key = order[next++]!
        hashed.add(`${comma}${JSON.stringify(key)}:${canonicalJson(header[key])}`)
        comma = ","
      }
    }
    hashed.add("{")
    for (const list of lists) {
      hashFieldsBefore(list.name)
      next++
      hashed.add(`${comma}${JSON.stringify(list.name)}:[`)
      comma = ","
      file.add(`${separator}  ${JSON.stringify(list.name)}: [`)
      separator = ",\n"
      let count = 0
      for (let items = yield* list.pull; items !== undefined; items = yield* list.pull) {
        if (items.length === 0) continue
        const texts = items.map(json)
        hashed.add((count === 0 ? "" : ",") + texts.join(","))
        file.add((count === 0 ? "\n    " : ",\n    ") + texts.join(",\n    "))
        count += items.length
        yield* hashed.drain()
        yield* file.drain()
      }
      hashed.add("]")
      file.add(count === 0 ? "]" : "\n  ]")
    }
    hashFieldsBefore(undefined)
    hashed.add("}")
    yield* hashed.flush()
    const digest = "0x" + bytesToHex(hash.digest())
    file.add(`${separator}  "digest": ${JSON.stringify(digest)}\n}\n`)
    yield* file.flush()
    return digest
  })

/**
 * Writes the output `{ ...header, [list.name]: items, digest }` of `session`'s task through the host's TaskOutput
 * (streamed when it can take a stream); returns its digest and where it went.
 */
export const deliver = <E>(
  session: ParticipantSession,
  header: Record<string, unknown>,
  lists: ReadonlyArray<List<E>>
): Effect.Effect<{ readonly digest: string; readonly location: string }, E | ParticipantFailure> =>
  Effect.gen(function*() {
    const found = yield* Effect.serviceOption(TaskOutput.TaskOutput)
    const open = Option.isSome(found) ? found.value.open : undefined
    if (open === undefined) {
      const output: Record<string, unknown> = { ...header }
      for (const list of lists) {
        const items: Array<Item> = []
        for (let batch = yield* list.pull; batch !== undefined; batch = yield* list.pull) for (const item of batch) items.push(item)
        output[list.name] = items
      }
      const digest = sha256Digest(output)
      return { digest, location: yield* TaskOutput.deliver(session, { ...output, digest }) }
    }
    const stream = yield* open(session.taskId)
    const digest = yield* Effect.onError(streamTo(stream, header, lists), () => stream.abort)
    return { digest, location: yield* stream.commit }
  })
