import { existsSync } from "node:fs"
import { describe, expect, it } from "vitest"
import * as Compute from "@jointly/core/protocols/joint-query/Compute.ts"
import * as ElementSet from "@jointly/core/protocols/joint-query/ElementSet.ts"
import * as Group from "@jointly/core/protocols/joint-query/Group.ts"
import * as NativeGroups from "./NativeGroups.ts"
import { build } from "./native/build.mjs"

// Built here when `npm run build` has not run; a machine without a C compiler, libsodium or OpenSSL skips a group.
const native = (() => {
  if (!existsSync(NativeGroups.addonPath)) {
    try {
      build()
    } catch {
      // reported through load().problems below
    }
  }
  return NativeGroups.load()
})()

const ids = ["patient-1", "", "ünïcødé ✓", "𝔘 surrogate pair", "a".repeat(300), ...Array.from({ length: 200 }, (_, i) => `id-${i}`)]

const failure = (f: () => unknown) => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("did not throw")
}

for (const group of Group.groupNames) {
  const ops = Group.groups[group]
  describe.skipIf(native.kernels[group] === undefined)(`native ${group} (${native.problems[group] ?? native.kernels[group]?.name})`, () => {
    const kernels = native.kernels[group]!

    it("hashes and blinds byte-identically to the WASM group, and commutes", async () => {
      await Group.ready()
      const domain = Group.domain("psi", "task-native")
      const [a, b] = [ops.randomScalar(), ops.randomScalar()]
      const wasm = ops.hashBlindEncoded(domain, Group.encodeIds(ids), a)
      expect(kernels.hashBlind(domain, Group.encodeIds(ids), a)).toEqual(wasm)
      const ab = kernels.blind(wasm, b)
      expect(ab).toEqual(ops.blind(wasm, b))
      expect(ab).toEqual(kernels.blind(kernels.hashBlind(domain, Group.encodeIds(ids), b), a))
      expect(ElementSet.of(ab).size).toBe(ids.length)
    })

    it("runs the worker jobs' byte format to the same points", async () => {
      await Group.ready()
      const domain = Group.domain("psi", "task-jobs")
      const scalar = ops.randomScalar()
      const wasm = await Compute.jobs[Compute.jobNames.hashBlind](Compute.encodeHashBlind(group, domain, ids, scalar))
      const decoded = Compute.decodeHashBlind(Compute.encodeHashBlind(group, domain, ids, scalar))
      expect(decoded.group).toBe(group)
      expect(kernels.hashBlind(decoded.domain, decoded.ids, decoded.scalar)).toEqual(wasm)
    })

    it("names the first invalid element, like the WASM group", async () => {
      await Group.ready()
      const points = ops.hashBlindEncoded(Group.domain("psi", "bad"), Group.encodeIds(["x", "y", "z"]), ops.randomScalar())
      points.fill(0xff, 32, 64) // neither a ristretto255 encoding nor a canonical u
      for (const run of [() => kernels.blind(points, ops.randomScalar()), () => kernels.validate(points), () => ops.blind(points, ops.randomScalar())]) {
        const error = failure(run)
        expect(error).toBeInstanceOf(Group.InvalidPointError)
        expect((error as Group.InvalidPointError).index).toBe(1)
      }
      expect((failure(() => kernels.blind(points.subarray(0, 40), ops.randomScalar())) as Group.InvalidPointError).index).toBe(1)
    })
  })
}

describe.skipIf(native.kernels.ristretto255 === undefined)("native ristretto255 inverses", () => {
  it("unblinds with the inverse scalar, as the WASM group does", async () => {
    await Group.ready()
    const kernels = native.kernels.ristretto255!
    const r = Group.ristretto255
    const domain = Group.domain("hidden", "task-native")
    const [a, b] = [r.randomScalar(), r.randomScalar()]
    const one = new Uint8Array(32)
    one[0] = 1
    const plain = r.hashBlindEncoded(domain, Group.encodeIds(ids), one)
    const twice = kernels.blind(kernels.hashBlind(domain, Group.encodeIds(ids), a), b)
    const back = kernels.blind(kernels.blind(twice, Group.invertScalar(a)), Group.invertScalar(b))
    expect(back).toEqual(plain)
    expect(r.blind(r.blind(twice, Group.invertScalar(b)), Group.invertScalar(a))).toEqual(back)
  })
})

describe.skipIf(native.kernels.x25519 === undefined)("native x25519 validation", () => {
  it("rejects non-canonical u and small-order u exactly where the WASM group does", async () => {
    await Group.ready()
    const kernels = native.kernels.x25519!
    const good = Group.x25519.hashBlindEncoded(Group.domain("psi", "x"), Group.encodeIds(["a"]), Group.x25519.randomScalar())
    const p = Uint8Array.from([0xed, ...new Array(30).fill(0xff), 0x7f]) // 2^255 − 19 itself: ≡ 0, non-canonical
    const pMinus1 = Uint8Array.from([0xec, ...new Array(30).fill(0xff), 0x7f]) // canonical, small order
    const topBit = good.slice()
    topBit[31]! |= 0x80
    const zero = new Uint8Array(32)
    const one = new Uint8Array(32)
    one[0] = 1
    for (const bad of [p, pMinus1, topBit, zero, one]) {
      const chunk = new Uint8Array(64)
      chunk.set(good)
      chunk.set(bad, 32)
      const scalar = Group.x25519.randomScalar()
      for (const run of [() => kernels.blind(chunk, scalar), () => Group.x25519.blind(chunk, scalar), () => Group.x25519.validate(chunk)]) {
        expect((failure(run) as Group.InvalidPointError).index).toBe(1)
      }
    }
  })
})
