/**
 * The OT-based PSI between two real worker threads over a MessageChannel (the engine's MessagePort link, Node
 * AES in each thread), checked against the plaintext intersection; then the sessions that reuse the same pair.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { plainIntersection } from "@jointly/core/internal/protocols/joint-query/ot-psi/TestSupport"
import * as OtPsiThreads from "./OtPsiThreads.ts"

describe("OT-based PSI on two worker threads", () => {
  let pair: OtPsiThreads.Pair
  beforeAll(async () => {
    pair = await OtPsiThreads.open()
  })
  afterAll(async () => {
    await pair?.close()
  })

  it("finds the shared ids, reports bytes per party, and runs again on the same threads", async () => {
    const receiverIds = Array.from({ length: 4000 }, (_, i) => `acct-${i}`)
    const senderIds = Array.from({ length: 3000 }, (_, i) => `acct-${2500 + i}`)
    await pair.load(receiverIds, senderIds)
    const options = { context: new TextEncoder().encode("threads"), maxPeerElements: 10_000, revealToSender: true }
    for (let round = 0; round < 2; round++) {
      const { receiver, sender, seconds } = await pair.run(options)
      const found = Array.from(receiver.indices, (i) => receiverIds[i]!)
      expect([...found].sort()).toEqual(plainIntersection(receiverIds, senderIds))
      expect(Array.from(sender.indices, (i) => senderIds[i]!)).toEqual(found)
      expect(receiver.stats).toMatchObject({ aes: "node-openssl", bytesSent: sender.stats.bytesReceived })
      expect(sender.stats.bytesSent).toBe(receiver.stats.bytesReceived)
      expect(seconds).toBeGreaterThan(0)
    }
    // Synthetic ids, as the benchmark loads them.
    await pair.load({ prefix: "p-", from: 0, count: 2000 }, { prefix: "p-", from: 1500, count: 2000 })
    const { receiver } = await pair.run(options)
    expect(receiver.indices.length).toBe(500)
  })
})
