import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as JobCodec from "./JobCodec.ts"

describe("JobCodec", () => {
  it("round-trips every supported kind of value", () => {
    const value: JobCodec.JobValue = {
      n: -1.5,
      nan: Number.NaN,
      big: -(2n ** 200n) + 12345n,
      zero: 0n,
      text: "héllo, wörld ✓",
      bytes: Uint8Array.from([0, 255, 7]),
      floats: Float64Array.from([1.25, -0, Number.MAX_VALUE]),
      list: [null, undefined, true, false, [1, "two", 3n]],
      nested: { empty: {}, none: [] },
      __proto__key: "kept"
    }
    const decoded = JobCodec.decode(JobCodec.encode(value)) as Record<string, JobCodec.JobValue>
    expect(decoded).toEqual(value)
    expect(decoded.floats).toBeInstanceOf(Float64Array)
    expect(decoded.bytes).toBeInstanceOf(Uint8Array)
  })

  it("keeps a \"__proto__\" key as a plain property", () => {
    const value = JSON.parse('{"__proto__": {"polluted": 1}}') as JobCodec.JobValue
    const decoded = JobCodec.decode(JobCodec.encode(value)) as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.keys(decoded)).toEqual(["__proto__"])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it("refuses values it cannot carry faithfully", () => {
    expect(() => JobCodec.encode(new Date() as unknown as JobCodec.JobValue)).toThrow(JobCodec.JobCodecError)
    expect(() => JobCodec.encode((() => 1) as unknown as JobCodec.JobValue)).toThrow(/function/)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => JobCodec.encode(cyclic as JobCodec.JobValue)).toThrow(/Cycle/)
    // A shared (non-cyclic) reference is fine.
    const shared = [1]
    expect(JobCodec.decode(JobCodec.encode([shared, shared]))).toEqual([[1], [1]])
  })

  it("rejects malformed bytes with a typed error", async () => {
    const bytes = JobCodec.encode({ a: [1, 2, 3] })
    const reasons = await Promise.all(
      [bytes.subarray(0, bytes.length - 3), Uint8Array.from([9, 0]), Uint8Array.from([1, 200]), Uint8Array.from([...bytes, 0]), Uint8Array.from([1, 8, 0xff, 0xff, 0xff, 0x7f])].map(
        (b) => Effect.runPromise(Effect.flip(JobCodec.decodeEffect(b))).then((e) => e.reason)
      )
    )
    expect(reasons).toEqual(["Truncated", "BadVersion", "UnknownTag", "TrailingBytes", "Truncated"])
  })
})
