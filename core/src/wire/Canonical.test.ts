/**
 * The canonical JSON every digest is taken over (canonicalJson.js, shared as is with the dashboard's task-id module):
 * key order and undefined fields never change it, bigints and bytes have one spelling, non-finite numbers are refused.
 */
import { bytesToHex } from "@noble/hashes/utils.js"
import { keccak256, toUtf8Bytes } from "ethers"
import { describe, expect, it } from "vitest"
import { canonicalJson, digest } from "./Canonical.ts"

describe("canonicalJson", () => {
  it("sorts keys at every depth, drops undefined fields, spells bigints and bytes one way", () => {
    const bytes = Uint8Array.from([0, 1, 15, 16, 255])
    const a = { b: { y: 1, x: [3, { q: undefined, p: 2n }] }, a: bytes, c: undefined }
    const b = { a: bytes, b: { x: [3, { p: 2n }], y: 1 } }
    expect(canonicalJson(a)).toBe(`{"a":"${bytesToHex(bytes)}","b":{"x":[3,{"p":"2"}],"y":1}}`)
    expect(canonicalJson(b)).toBe(canonicalJson(a))
    expect(digest(a)).toBe(keccak256(toUtf8Bytes(canonicalJson(b))))
    expect(digest({ ...b, extra: 0 })).not.toBe(digest(a))
  })

  it("refuses a number JSON cannot spell", () => {
    for (const x of [Number.NaN, Number.POSITIVE_INFINITY]) expect(() => canonicalJson({ x })).toThrow(/non-finite/)
  })
})
