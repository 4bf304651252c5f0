import { describe, expect, it } from "vitest"
import { bytesToFloat32, float32ToBytes } from "./ModelArtifact.ts"

describe("model weights as bytes", () => {
  it("are little-endian float32, whatever the array's offset, and decode back from bytes at an unaligned offset", () => {
    // 1.0 is 0x3f800000, -2.5 is 0xc0200000: the wire's bytes, low byte first.
    expect([...float32ToBytes(Float32Array.of(1, -2.5))]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0])
    // A view into a larger array encodes only its own elements.
    const whole = Float32Array.of(7, 1, -2.5, 9)
    expect([...float32ToBytes(whole.subarray(1, 3))]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0])
    // Bytes that sit at an odd offset of their buffer (as in a decoded message) decode to the same values.
    const framed = new Uint8Array(1 + 8 + 3)
    framed.set(float32ToBytes(Float32Array.of(1, -2.5)), 1)
    const decoded = bytesToFloat32(framed.subarray(1, 9))
    expect([...decoded]).toEqual([1, -2.5])
    // The result is a copy: changing it leaves the message untouched.
    decoded[0] = 42
    expect([...bytesToFloat32(framed.subarray(1, 9))]).toEqual([1, -2.5])
  })

  it("refuses a byte count that is not a whole number of float32", () => {
    expect(() => bytesToFloat32(new Uint8Array(7))).toThrow(/7 weight bytes is not a whole number of float32/)
  })

  it("round-trips every float32 bit pattern class: zeros, subnormals, extremes, NaN and infinities", () => {
    const values = Float32Array.of(0, -0, 1.4e-45, -3.4028234663852886e38, 3.4028234663852886e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Math.fround(Math.PI))
    const back = bytesToFloat32(float32ToBytes(values))
    expect(new Uint8Array(back.buffer)).toEqual(new Uint8Array(values.buffer))
  })
})
