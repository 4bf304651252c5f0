/**
 * Whole OT-based PSI runs on the OpenSSL AES against the portable WebCrypto one (their batch outputs are held
 * equal by the AES conformance suite): same seeds, every message of both parties byte for byte equal whichever
 * service ran, and a Node party interoperating with a WebCrypto party.
 */
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import * as Aes from "@jointly/core/internal/protocols/joint-query/ot-psi/Aes"
import { pick, plainIntersection, run } from "@jointly/core/internal/protocols/joint-query/ot-psi/TestSupport"
import * as OpenSslAes from "./OpenSslAes.ts"

const openssl = Layer.succeed(Aes.Aes, OpenSslAes.aes)
const firstDifference = (a: Uint8Array, b: Uint8Array) => (a.length !== b.length ? -2 : a.findIndex((byte, i) => byte !== b[i]))

describe("OpenSSL AES in the OT-based PSI", () => {
  it("runs the whole protocol to the same transcript on either layer, and a Node party talks to a WebCrypto party", async () => {
    const receiverIds = Array.from({ length: 3000 }, (_, i) => `customer-${i * 3}`)
    const senderIds = Array.from({ length: 2000 }, (_, i) => (i % 50 === 0 ? `a-very-long-customer-reference-${i * 2}` : `customer-${i * 2}`))
    const options = { seed: "transcript", revealToSender: true, partitionElements: 1024, stash: 2 }
    const [native, portable, mixed] = await Effect.runPromise(Effect.all([
      run(receiverIds, senderIds, { ...options, receiverLayer: openssl }),
      run(receiverIds, senderIds, { ...options, receiverLayer: Aes.portableLayer }),
      run(receiverIds, senderIds, { receiverLayer: openssl, senderLayer: Aes.portableLayer, revealToSender: true })
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
