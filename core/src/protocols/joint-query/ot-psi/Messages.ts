/**
 * The engine's wire messages: one type byte, then fixed big-endian fields, then bulk bytes. Every message is decoded
 * once on receipt, against what the protocol expects next; a wrong type, length or position is an OtPsiError naming
 * the message, never a crash or a silent mix-up.
 *
 *   1 receiver hello  u8 version ‖ u8 reveal ‖ u8 stash ‖ u8 0 ‖ u32 partitionElements ‖ u32 count ‖ seed(32) ‖ A(32)
 *   2 sender hello    u8 version ‖ u8 reveal ‖ u16 0 ‖ u32 partitionElements ‖ u32 count ‖ seed(32) ‖ B(32·512)
 *   3 sizes           u32 partitions ‖ u32 size[partitions]
 *   4 matrix          u8[3] 0 ‖ u32 partition ‖ u32 firstRow ‖ 512 columns of rows/8 bytes
 *   5 values          u8[3] 0 ‖ u32 partition ‖ u32 firstItem ‖ items·(3+stash)·ℓ bytes
 * (the bulk headers are 12 bytes so that the body of a message starting on a word boundary starts on one too,
 * and each side reads and writes it as 32-bit words in place)
 *   6 reveal          u8 last ‖ u32 position[]
 */
import { Effect } from "effect"
import { POINT_BYTES } from "./BaseOt.ts"
import { CODE_BITS, OtPsiError } from "./spec.ts"

export const SEED_BYTES = 32

export const Type = { receiverHello: 1, senderHello: 2, sizes: 3, matrix: 4, values: 5, reveal: 6 } as const
type TypeName = keyof typeof Type

const names: Record<number, TypeName> = Object.fromEntries(Object.entries(Type).map(([k, v]) => [v, k as TypeName]))

export const malformed = (detail: string) => new OtPsiError({ reason: "MalformedMessage", detail })

/** The payload of a message of type `expected` (after its type byte), or UnexpectedMessage. */
export const expect = (message: Uint8Array, expected: TypeName): Effect.Effect<DataView, OtPsiError> => {
  if (message.length === 0) return Effect.fail(malformed(`empty message where a ${expected} message was due`))
  if (message[0] !== Type[expected]) {
    return Effect.fail(new OtPsiError({ reason: "UnexpectedMessage", detail: `got a ${names[message[0]!] ?? `type-${message[0]}`} message where a ${expected} message was due` }))
  }
  return Effect.succeed(new DataView(message.buffer, message.byteOffset, message.byteLength))
}

const frame = (type: TypeName, headerBytes: number, bodyBytes: number) => {
  const out = new Uint8Array(1 + headerBytes + bodyBytes)
  out[0] = Type[type]
  return { out, view: new DataView(out.buffer) }
}

// ---- hellos

export interface Hello {
  readonly version: number
  readonly reveal: boolean
  readonly stash: number
  readonly partitionElements: number
  readonly count: number
  readonly seed: Uint8Array
  /** A (one point) from the receiver, B_1…B_w from the sender. */
  readonly points: Uint8Array
}

const HELLO_HEADER = 4 + 4 + 4 + SEED_BYTES

export const encodeHello = (type: "receiverHello" | "senderHello", hello: Hello): Uint8Array => {
  const { out, view } = frame(type, HELLO_HEADER, hello.points.length)
  view.setUint8(1, hello.version)
  view.setUint8(2, hello.reveal ? 1 : 0)
  view.setUint8(3, hello.stash)
  view.setUint32(5, hello.partitionElements)
  view.setUint32(9, hello.count)
  out.set(hello.seed, 13)
  out.set(hello.points, 1 + HELLO_HEADER)
  return out
}

export const decodeHello = (message: Uint8Array, type: "receiverHello" | "senderHello"): Effect.Effect<Hello, OtPsiError> =>
  Effect.flatMap(expect(message, type), (view) => {
    const points = type === "receiverHello" ? 1 : CODE_BITS
    if (message.length !== 1 + HELLO_HEADER + points * POINT_BYTES) {
      return Effect.fail(malformed(`${type}: ${message.length} bytes, expected ${1 + HELLO_HEADER + points * POINT_BYTES}`))
    }
    const reveal = view.getUint8(2)
    if (reveal > 1) return Effect.fail(malformed(`${type}: reveal flag ${reveal}`))
    return Effect.succeed({
      version: view.getUint8(1),
      reveal: reveal === 1,
      stash: view.getUint8(3),
      partitionElements: view.getUint32(5),
      count: view.getUint32(9),
      seed: message.slice(13, 13 + SEED_BYTES),
      points: message.slice(1 + HELLO_HEADER)
    })
  })

// ---- sizes

export const encodeSizes = (sizes: Uint32Array): Uint8Array => {
  const { out, view } = frame("sizes", 4, 4 * sizes.length)
  view.setUint32(1, sizes.length)
  for (let p = 0; p < sizes.length; p++) view.setUint32(5 + 4 * p, sizes[p]!)
  return out
}

/** Partition sizes of the peer, which must number `partitions` and add up to its announced `count`. */
export const decodeSizes = (message: Uint8Array, partitions: number, count: number): Effect.Effect<Uint32Array, OtPsiError> =>
  Effect.flatMap(expect(message, "sizes"), (view) => {
    if (message.length !== 5 + 4 * partitions || view.getUint32(1) !== partitions) {
      return Effect.fail(malformed(`sizes: expected ${partitions} partitions in ${5 + 4 * partitions} bytes, got ${message.length} bytes`))
    }
    const sizes = new Uint32Array(partitions)
    let total = 0
    for (let p = 0; p < partitions; p++) total += sizes[p] = view.getUint32(5 + 4 * p)
    if (total !== count) return Effect.fail(malformed(`sizes: partitions hold ${total} elements, the hello announced ${count}`))
    return Effect.succeed(sizes)
  })

// ---- bulk: matrix chunks and value chunks share one shape (partition, first index, bytes)

export const BULK_HEADER = 12

export const bulkFrame = (type: "matrix" | "values", partition: number, first: number, bodyBytes: number) => {
  const { out, view } = frame(type, BULK_HEADER - 1, bodyBytes)
  view.setUint32(4, partition)
  view.setUint32(8, first)
  return out
}

/**
 * The body of the next bulk message, which must be of `type`, for `partition`, start at `first` and carry a whole
 * number of `unit`-byte units, at most `remaining` of them; returns the body and its unit count.
 */
export const decodeBulk = (
  message: Uint8Array,
  type: "matrix" | "values",
  partition: number,
  first: number,
  unit: number,
  remaining: number
): Effect.Effect<{ readonly body: Uint8Array; readonly units: number }, OtPsiError> =>
  Effect.flatMap(expect(message, type), (view) => {
    if (message.length < BULK_HEADER) return Effect.fail(malformed(`${type}: ${message.length} bytes is shorter than its header`))
    if (message[1] !== 0 || message[2] !== 0 || message[3] !== 0) return Effect.fail(malformed(`${type}: reserved header bytes are not zero`))
    const gotPartition = view.getUint32(4)
    const gotFirst = view.getUint32(8)
    if (gotPartition !== partition || gotFirst !== first) {
      return Effect.fail(new OtPsiError({ reason: "UnexpectedMessage", detail: `${type}: got partition ${gotPartition} from ${gotFirst}, expected partition ${partition} from ${first}` }))
    }
    const bodyBytes = message.length - BULK_HEADER
    const units = bodyBytes / unit
    if (!Number.isInteger(units) || units === 0 || units > remaining) {
      return Effect.fail(malformed(`${type}: ${bodyBytes} bytes is not 1…${remaining} units of ${unit} bytes`))
    }
    return Effect.succeed({ body: message.subarray(BULK_HEADER), units })
  })

// ---- reveal

export const encodeReveal = (positions: Uint32Array, last: boolean): Uint8Array => {
  const { out, view } = frame("reveal", 1, 4 * positions.length)
  view.setUint8(1, last ? 1 : 0)
  for (let i = 0; i < positions.length; i++) view.setUint32(2 + 4 * i, positions[i]!)
  return out
}

/** Positions (each < `bound`, strictly ascending after `after`) and whether this was the last reveal message. */
export const decodeReveal = (message: Uint8Array, bound: number, after: number): Effect.Effect<{ readonly positions: Uint32Array; readonly last: boolean }, OtPsiError> =>
  Effect.flatMap(expect(message, "reveal"), (view) => {
    if (message.length < 2 || (message.length - 2) % 4 !== 0) return Effect.fail(malformed(`reveal: ${message.length} bytes is not a flag and whole positions`))
    const flag = view.getUint8(1)
    if (flag > 1) return Effect.fail(malformed(`reveal: last flag ${flag}`))
    const positions = new Uint32Array((message.length - 2) / 4)
    let previous = after
    for (let i = 0; i < positions.length; i++) {
      const position = view.getUint32(2 + 4 * i)
      if (position >= bound || position <= previous) return Effect.fail(malformed(`reveal: position ${position} is out of range or not ascending`))
      positions[i] = previous = position
    }
    return Effect.succeed({ positions, last: flag === 1 })
  })
