/**
 * A streamed output is byte for byte the file `write` would store and its digest the one `sha256Digest` gives of
 * the whole object — with ids that need escaping, an absent field, a nested one, empty lists, batches of every
 * size — and a host without a stream gets the same object; a list that fails mid-way leaves no output.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ParticipantSession } from "../protocols/Protocol.ts"
import { ParticipantFailure } from "../protocols/Protocol.ts"
import { sha256Digest } from "../wire/Canonical.ts"
import * as StreamedOutput from "./StreamedOutput.ts"
import { TaskOutput } from "./TaskOutput.ts"

const session = (): ParticipantSession => ({ taskId: "0xabc", attempt: 1, self: "0xself", participants: [], memory: new Map(), sign: () => Effect.succeed("") })

/** A host whose outputs are files: what was appended, committed or aborted, and each append's size. */
const fileHost = () => {
  const state = { chunks: [] as Array<Uint8Array>, committed: undefined as string | undefined, aborted: false }
  const service: TaskOutput["Service"] = {
    write: () => Effect.die("the streamed path must not call write"),
    open: (taskId) =>
      Effect.succeed({
        append: (bytes) => Effect.sync(() => void state.chunks.push(bytes.slice())),
        commit: Effect.sync(() => {
          state.committed = new TextDecoder().decode(Buffer.concat(state.chunks))
          return `file:${taskId}`
        }),
        abort: Effect.sync(() => void (state.aborted = true))
      })
  }
  return { state, service }
}

const header = { taskId: "0xabc", kind: "query.psi", dataset: "ids \"quoted\" ü", idColumn: "id", setSize: 7, absent: undefined, nested: { b: [1, 2], a: "x" }, cardinality: 3 }
const ids = ["u1", "line\nbreak", "quote\"and\\", "ünïcödé 🦀", "", "\u2028sep"]
const rows = [0, 5, 17, 1_000_000, 4_294_967_295, 2]

const batched = (name: string, items: ReadonlyArray<string | number>, size: number): StreamedOutput.List<never> => StreamedOutput.fromArray(name, items, size)

describe("StreamedOutput", () => {
  for (const size of [1, 4, 100]) {
    it(`streams the file text and digest of the whole object (batches of ${size})`, async () => {
      const host = fileHost()
      const out = await Effect.runPromise(
        Effect.provideService(StreamedOutput.deliver(session(), header, [batched("ids", ids, size), batched("rows", rows, size)]), TaskOutput, host.service)
      )
      const whole = { ...header, ids, rows }
      expect(out.digest).toBe(sha256Digest(whole))
      expect(host.state.committed).toBe(JSON.stringify({ ...whole, digest: out.digest }, null, 2) + "\n")
      expect(out.location).toBe("file:0xabc")
    })
  }

  it("a long list goes out in bounded pieces, not in one", async () => {
    const host = fileHost()
    const many = Array.from({ length: 100_000 }, (_, i) => `id-${i * 7919}`)
    const out = await Effect.runPromise(Effect.provideService(StreamedOutput.deliver(session(), header, [batched("ids", many, 4096)]), TaskOutput, host.service))
    expect(out.digest).toBe(sha256Digest({ ...header, ids: many }))
    expect(host.state.chunks.length).toBeGreaterThan(3)
    for (const chunk of host.state.chunks) expect(chunk.length).toBeLessThan(512 * 1024)
  })

  it("empty lists and no header print as JSON.stringify does; a host without a stream gets the same object", async () => {
    for (const [h, lists] of [[header, { ids: [], rows: [] }], [{}, { ids: ["a"] }], [{ kind: "k" }, {}]] as const) {
      const host = fileHost()
      const make = () => Object.entries(lists).map(([name, items]) => batched(name, items as ReadonlyArray<string | number>, 2))
      const streamed = await Effect.runPromise(Effect.provideService(StreamedOutput.deliver(session(), h, make()), TaskOutput, host.service))
      const whole = { ...h, ...lists }
      expect(streamed.digest).toBe(sha256Digest(whole))
      expect(host.state.committed).toBe(JSON.stringify({ ...whole, digest: streamed.digest }, null, 2) + "\n")
      const written: Array<unknown> = []
      const plain = await Effect.runPromise(
        Effect.provideService(StreamedOutput.deliver(session(), h, make()), TaskOutput, { write: (_, output) => Effect.sync(() => (written.push(output), "whole")) })
      )
      expect(plain).toEqual({ digest: streamed.digest, location: "whole" })
      expect(JSON.stringify(written[0], null, 2) + "\n").toBe(host.state.committed)
    }
  })

  it("a list failing mid-way aborts the stream: nothing committed, the failure passed on", async () => {
    const host = fileHost()
    let pulls = 0
    const failing: StreamedOutput.List<ParticipantFailure> = {
      name: "ids",
      pull: Effect.suspend(() => (pulls++ < 2 ? Effect.succeed(["x"]) : Effect.fail(new ParticipantFailure({ participant: "p", stage: "s", code: "SpillFailed", detail: "disk" }))))
    }
    const exit = await Effect.runPromise(Effect.exit(Effect.provideService(StreamedOutput.deliver(session(), header, [failing]), TaskOutput, host.service)))
    expect(exit._tag).toBe("Failure")
    expect(host.state.aborted).toBe(true)
    expect(host.state.committed).toBeUndefined()
  })

  it("refuses lists out of name order (the digest's field order)", async () => {
    const host = fileHost()
    const exit = await Effect.runPromise(Effect.exit(Effect.provideService(StreamedOutput.deliver(session(), header, [batched("rows", rows, 2), batched("ids", ids, 2)]), TaskOutput, host.service)))
    expect(exit._tag).toBe("Failure")
    expect(host.state.aborted).toBe(true)
  })
})
