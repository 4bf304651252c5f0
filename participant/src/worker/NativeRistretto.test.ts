import { existsSync } from "node:fs"
import { describe, expect, it } from "vitest"
import * as Compute from "@jointly/core/protocols/joint-query/Compute.ts"
import * as Group from "@jointly/core/protocols/joint-query/Group.ts"
import * as NativeRistretto from "./NativeRistretto.ts"
import { build } from "./native/build.mjs"

// Built here when `npm run build` has not run; a machine without a C compiler or libsodium skips these.
const native = (() => {
  if (!existsSync(NativeRistretto.addonPath)) {
    try {
      build()
    } catch {
      // reported through load().problem below
    }
  }
  return NativeRistretto.load()
})()

describe.skipIf(native.kernels === undefined)(`native ristretto255 (${native.problem ?? "libsodium native"})`, () => {
  const kernels = native.kernels!
  const ids = ["patient-1", "", "ünïcødé ✓", "𝔘 surrogate pair", "a".repeat(300), ...Array.from({ length: 200 }, (_, i) => `id-${i}`)]

  it("hashes and blinds byte-identically to the WASM group", async () => {
    await Group.ready()
    const domain = Group.domain("psi", "task-native")
    const scalar = Group.randomScalar()
    const wasm = Group.hashBlind(domain, ids, scalar)
    expect(kernels.hashBlind(domain, Group.encodeIds(ids), scalar)).toEqual(wasm)
    const other = Group.randomScalar()
    expect(kernels.blind(wasm, other)).toEqual(Group.blind(wasm, other))
  })

  it("unblinds with the inverse scalar, as the WASM group does", async () => {
    await Group.ready()
    const domain = Group.domain("hidden", "task-native")
    const [a, b] = [Group.randomScalar(), Group.randomScalar()]
    const plain = Group.hashBlind(domain, ids, new Uint8Array(32).fill(0).map((_, i) => (i === 0 ? 1 : 0)))
    const twice = kernels.blind(kernels.hashBlind(domain, Group.encodeIds(ids), a), b)
    const back = kernels.blind(kernels.blind(twice, Group.invertScalar(a)), Group.invertScalar(b))
    expect(back).toEqual(plain)
    expect(Group.blind(Group.blind(twice, Group.invertScalar(b)), Group.invertScalar(a))).toEqual(back)
  })

  it("runs the worker jobs' byte format to the same points", async () => {
    await Group.ready()
    const domain = Group.domain("psi", "task-jobs")
    const scalar = Group.randomScalar()
    const wasm = await Compute.jobs[Compute.jobNames.hashBlind](Compute.encodeHashBlind(domain, ids, scalar))
    const { domain: d, ids: decoded, scalar: s } = Compute.decodeHashBlind(Compute.encodeHashBlind(domain, ids, scalar))
    expect(kernels.hashBlind(d, decoded, s)).toEqual(wasm)
  })

  it("names the first invalid element, like the WASM group", async () => {
    await Group.ready()
    const points = Group.hashBlind(Group.domain("psi", "bad"), ["x", "y", "z"], Group.randomScalar())
    points.fill(0xff, 32, 64)
    const failure = (f: () => unknown) => {
      try {
        f()
      } catch (error) {
        return error
      }
      throw new Error("did not throw")
    }
    for (const run of [() => kernels.blind(points, Group.randomScalar()), () => kernels.validate(points)]) {
      const error = failure(run)
      expect(error).toBeInstanceOf(Group.InvalidPointError)
      expect((error as Group.InvalidPointError).index).toBe(1)
    }
    expect((failure(() => Group.blind(points, Group.randomScalar())) as Group.InvalidPointError).index).toBe(1)
    expect((failure(() => kernels.blind(points.subarray(0, 40), Group.randomScalar())) as Group.InvalidPointError).index).toBe(1)
  })
})
