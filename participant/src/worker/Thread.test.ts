import * as JobCodec from "@jointly/core/internal/compute/JobCodec"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { describe, expect, it } from "vitest"
import type { JobHostApi } from "./JobHostApi.ts"
import { Crashed, exitRace } from "./Thread.ts"
import * as WorkerThread from "./WorkerThread.ts"

// A full, synchronous collection, so "released" is a fact of the heap rather than a timing.
setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

/** After a turn of the event loop (WeakRefs keep their target until the job that made them ends), a full GC. */
const collect = async () => {
  await new Promise((resolve) => setTimeout(resolve, 0))
  gc()
}

/** WeakRefs to the values of `calls` taken one after the other (in a frame of its own, which holds none after). */
const taken = async <A extends object>(calls: ReadonlyArray<() => Promise<A>>, check: (value: A, i: number) => void) => {
  const refs: Array<WeakRef<A>> = []
  for (const [i, call] of calls.entries()) {
    const value = await call()
    check(value, i)
    refs.push(new WeakRef(value))
  }
  return refs
}

const testJobs = new URL("./test-jobs.ts", import.meta.url).href

describe("Thread.exitRace", () => {
  it("keeps no settled call's value: a thread's replies are released once taken", async () => {
    const { untilExit, pending } = exitRace(new Promise<string>(() => {}))
    const calls = Array.from({ length: 20 }, (_, i) => () => untilExit(Promise.resolve(new Uint8Array(1 << 20).fill(i))))
    const replies = await taken(calls, (reply, i) => expect(reply[0]).toBe(i))
    await collect()
    // Racing each call against the thread's exit kept all 20 (the exit's pending promise held every race).
    expect(replies.filter((r) => r.deref() !== undefined)).toHaveLength(0)
    expect(pending()).toBe(0)
  })

  it("rejects calls pending at the exit, and later ones, with Crashed naming the exit", async () => {
    let exit: (detail: string) => void = () => {}
    const { untilExit, pending } = exitRace(new Promise<string>((resolve) => (exit = resolve)))
    const failing = untilExit(Promise.reject(new RangeError("the call's own failure")))
    await expect(failing).rejects.toThrow("the call's own failure")
    const hanging = untilExit(new Promise<number>(() => {}))
    expect(pending()).toBe(1)
    exit("Error: boom (exit code 1)")
    await expect(hanging).rejects.toEqual(new Crashed("Error: boom (exit code 1)"))
    await expect(untilExit(new Promise<number>(() => {}))).rejects.toBeInstanceOf(Crashed)
    expect(pending()).toBe(0)
  })

  it("releases the replies of a real worker thread while it lives", async () => {
    const thread = await WorkerThread.spawn<JobHostApi>("JobHost", { modules: [testJobs] })
    try {
      const calls = Array.from({ length: 10 }, (_, tag) => () => thread.untilExit(thread.remote.run("test.spin", JobCodec.encode({ ms: 0, tag }))))
      const replies = await taken(calls, (reply, tag) => expect((JobCodec.decode(reply) as { tag: number }).tag).toBe(tag))
      await collect()
      expect(replies.filter((r) => r.deref() !== undefined)).toHaveLength(0)
    } finally {
      await thread.terminate()
    }
  })
})
