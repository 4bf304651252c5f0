/**
 * The MessagePort link (the platform's MessageChannel, as between two worker threads or a page and its Web Worker):
 * bytes arrive in order and are transferred, and everything that is not a well-formed message — a non-byte value,
 * an oversized message, the peer closing its end — fails the waiting receive with LinkError instead of hanging.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Link from "./Link.ts"

const pair = (maxMessageBytes?: number) => {
  const channel = new MessageChannel()
  return { channel, a: Link.messagePort(channel.port1 as unknown as Link.PortLike, maxMessageBytes), b: Link.messagePort(channel.port2 as unknown as Link.PortLike, maxMessageBytes) }
}

describe("Link.messagePort", () => {
  it("delivers byte messages in order, transferring the sender's buffer", async () => {
    const { channel, a, b } = pair()
    const first = new Uint8Array([1, 2, 3])
    await Effect.runPromise(Effect.all([a.send(first), a.send(new Uint8Array(5000).fill(7)), a.send(new Uint8Array(10).subarray(2, 4))]))
    expect(first.byteLength).toBe(0) // detached: transferred, not copied
    const got = await Effect.runPromise(Effect.all([b.receive, b.receive, b.receive]))
    expect(got.map((m) => m.length)).toEqual([3, 5000, 2])
    expect(Array.from(got[0]!)).toEqual([1, 2, 3])
    channel.port1.close()
  })

  it("fails the receive on a non-byte message, an oversized one, and a closed peer", async () => {
    const { channel, b } = pair(1024)
    channel.port1.postMessage("not bytes")
    channel.port1.postMessage(new Uint8Array(2048))
    const errors = await Effect.runPromise(Effect.all([Effect.flip(b.receive), Effect.flip(b.receive)]))
    expect(errors.map((e) => e.detail)).toEqual([expect.stringContaining("instead of bytes"), expect.stringContaining("over the 1024-byte limit")])
    const waiting = Effect.runPromise(Effect.flip(b.receive))
    channel.port1.close()
    expect((await waiting).detail).toContain("closed")
  })

  it("counts bytes both ways and refuses to send over the limit", async () => {
    const [x, y] = Link.memoryPair(100)
    const counted = Link.counted(x)
    await Effect.runPromise(counted.send(new Uint8Array(60)))
    expect((await Effect.runPromise(Effect.flip(counted.send(new Uint8Array(101))))).detail).toContain("exceeds")
    await Effect.runPromise(y.send(new Uint8Array(40)))
    await Effect.runPromise(counted.receive)
    expect(counted.stats()).toEqual({ bytesSent: 60, bytesReceived: 40, messagesSent: 1, messagesReceived: 1 })
  })
})
