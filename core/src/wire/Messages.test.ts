/**
 * The wire's size rules for messages with binary parts (the OT PSI relay's sealed boxes): `fitsFrame` counts them by
 * their bytes and their number, and `boundedParser` over the real socket.io parser takes what its encoder makes of
 * such a message — handed over as ArrayBuffers, as a browser's socket gives them — back as Uint8Arrays, and refuses
 * a message with too many attachments or too many bytes, naming which.
 */
import * as SocketIoParser from "socket.io-parser"
import { describe, expect, it } from "vitest"
import { boundedParser, fitsFrame, FrameRefused, maxAttachments, maxMessageBytes } from "./Messages.ts"

const reply = (outbound: ReadonlyArray<Uint8Array>) => ({ requestId: "r", outcome: { ok: true, payload: { outbound, done: false } } })

/** The chunks socket.io's encoder sends for `data` as an event: the JSON, then each attachment. */
const encoded = (data: unknown) => new SocketIoParser.Encoder().encode({ type: SocketIoParser.PacketType.EVENT, nsp: "/participants", data: ["stage.reply", data] })

/** Feeds `chunks` to a bounded decoder; the packet it decoded, or what it threw. */
const decode = (chunks: ReadonlyArray<unknown>) => {
  const refusals: Array<unknown> = []
  const decoder = new (boundedParser(SocketIoParser, (error) => refusals.push(error)).Decoder)()
  let packet: { data: [string, ReturnType<typeof reply>] } | undefined
  decoder.on("decoded", (p) => void (packet = p as typeof packet))
  try {
    for (const chunk of chunks) decoder.add(chunk)
  } catch (error) {
    return { error, refusals }
  }
  return { packet, refusals }
}

describe("fitsFrame", () => {
  it("counts binary parts by their bytes, with the JSON around them", () => {
    const half = new Uint8Array(maxMessageBytes / 2)
    expect(fitsFrame(reply([half.subarray(0, 1000), half]))).toBe(true)
    // Two halves and the JSON pass the limit, though as base64 text each part alone would fit.
    expect(fitsFrame(reply([half, half]))).toBe(false)
  })

  it("refuses more binary parts than a message may carry", () => {
    const box = new Uint8Array(16)
    expect(fitsFrame(reply(Array.from({ length: maxAttachments }, () => box)))).toBe(true)
    expect(fitsFrame(reply(Array.from({ length: maxAttachments + 1 }, () => box)))).toBe(false)
  })
})

describe("boundedParser", () => {
  it("decodes a message whose attachments arrive as ArrayBuffers (a browser's socket) into Uint8Arrays of the same bytes", () => {
    const boxes = [new Uint8Array([1, 2, 3]), crypto.getRandomValues(new Uint8Array(4096)).subarray(7, 1000)]
    const chunks = encoded(reply(boxes)).map((chunk) =>
      typeof chunk === "string" ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength).slice().buffer
    )
    expect(chunks.slice(1).every((chunk) => chunk instanceof ArrayBuffer)).toBe(true)
    const { packet, refusals } = decode(chunks)
    const outbound = packet!.data[1].outcome.payload.outbound
    expect(outbound.every((box) => box instanceof Uint8Array)).toBe(true)
    expect(outbound.map((box) => [...box])).toEqual(boxes.map((box) => [...box]))
    expect(refusals).toEqual([])
  })

  it("refuses a message announcing more attachments than allowed, at its JSON (TooManyAttachments)", () => {
    const chunks = encoded(reply(Array.from({ length: maxAttachments + 1 }, () => new Uint8Array(1))))
    const { error, refusals } = decode(chunks.slice(0, 1))
    expect(error).toBeInstanceOf(FrameRefused)
    expect((error as FrameRefused).reason).toBe("TooManyAttachments")
    expect(refusals).toEqual([error])
  })

  it("refuses a message whose attachments together pass the message limit, at the one that passes it (TooLarge)", () => {
    const half = new Uint8Array(maxMessageBytes / 2)
    const { error, packet } = decode(encoded(reply([half, half, new Uint8Array(1)])))
    expect(packet).toBeUndefined()
    expect(error).toBeInstanceOf(FrameRefused)
    expect((error as FrameRefused).reason).toBe("TooLarge")
    // Just under the limit with its JSON, the same message decodes.
    expect(decode(encoded(reply([half, half.subarray(0, half.length - 2048)]))).packet).toBeDefined()
  })
})
