/**
 * The Node AES layer of the OT-based PSI against the portable WebCrypto one: the FIPS-197 known answer, equal
 * bytes for both batch shapes at awkward sizes, then whole protocol runs — same seeds, every message of both
 * parties byte for byte equal whichever layer ran, and a Node party interoperating with a WebCrypto party.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Aes from "@jointly/core/protocols/joint-query/ot-psi/Aes.ts"
import { pick, plainIntersection, run } from "@jointly/core/protocols/joint-query/ot-psi/TestSupport.ts"
import * as NodeAes from "./NodeAes.ts"

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const fromHex = (text: string) => Uint8Array.from(Buffer.from(text, "hex"))
const services = [Aes.webCrypto(), NodeAes.nodeAes]

const firstDifference = (a: Uint8Array, b: Uint8Array) => (a.length !== b.length ? -2 : a.findIndex((byte, i) => byte !== b[i]))

describe("NodeAes", () => {
  it.each(services.map((s) => [s.name, s] as const))("%s inverts the FIPS-197 C.1 AES-128 vector", async (_, aes) => {
    const key = await Effect.runPromise(aes.importKey(fromHex("000102030405060708090a0b0c0d0e0f")))
    const plain = await Effect.runPromise(aes.decryptBlocks(key, fromHex("69c4e0d86a7b0430d8cdb78070b4c55a")))
    expect(hex(plain)).toBe("00112233445566778899aabbccddeeff")
  })

  it("gives WebCrypto's bytes for the CTR keystream and the block permutation, at block edges and large batches", async () => {
    const [web, node] = services as [Aes.AesService, Aes.AesService]
    for (const blocks of [0, 1, 2, 3, 1024, 65_537]) {
      const raw = crypto.getRandomValues(new Uint8Array(16))
      const input = new Uint8Array(blocks * 16)
      for (let at = 0; at < input.length; at += 65_536) crypto.getRandomValues(input.subarray(at, Math.min(input.length, at + 65_536)))
      const [a, b] = await Effect.runPromise(Effect.all([web, node].map((aes) =>
        Effect.gen(function*() {
          const key = yield* aes.importKey(raw)
          const start = blocks * 7 + 0xffff_fff0 // counters that carry past 32 bits
          return [yield* aes.decryptBlocks(key, input), yield* aes.keystream(key, start, blocks * 16)] as const
        })
      )))
      expect(firstDifference(a![0], b![0])).toBe(-1)
      expect(firstDifference(a![1], b![1])).toBe(-1)
    }
  })

  it("runs the whole protocol to the same transcript on either layer, and a Node party talks to a WebCrypto party", async () => {
    const receiverIds = Array.from({ length: 3000 }, (_, i) => `customer-${i * 3}`)
    const senderIds = Array.from({ length: 2000 }, (_, i) => (i % 50 === 0 ? `a-very-long-customer-reference-${i * 2}` : `customer-${i * 2}`))
    const options = { seed: "transcript", revealToSender: true, partitionElements: 1024, stash: 2 }
    const [native, portable, mixed] = await Effect.runPromise(Effect.all([
      run(receiverIds, senderIds, { ...options, receiverLayer: NodeAes.layer }),
      run(receiverIds, senderIds, { ...options, receiverLayer: Aes.portableLayer }),
      run(receiverIds, senderIds, { receiverLayer: NodeAes.layer, senderLayer: Aes.portableLayer, revealToSender: true })
    ]))
    expect(native!.receiver.stats.aes).toBe("node-openssl")
    expect(portable!.receiver.stats.aes).toBe("webcrypto")
    for (const role of ["receiver", "sender"] as const) {
      const a = native!.transcripts[role]
      const b = portable!.transcripts[role]
      expect(a.length).toBe(b.length)
      expect(a.map((m, i) => firstDifference(m, b[i]!)).filter((d) => d !== -1)).toEqual([])
    }
    const expected = plainIntersection(receiverIds, senderIds)
    for (const result of [native!, portable!, mixed!]) {
      expect(pick(receiverIds, result.receiver.indices).sort()).toEqual(expected)
      expect(pick(senderIds, result.sender.indices)).toEqual(pick(receiverIds, result.receiver.indices))
    }
  })
})
