/**
 * Bytes for values that cross the worker boundary (DESIGN.md §6: only encoded bytes cross it).
 *
 * A job's input and output are structured values (numbers, strings, bigints, byte arrays, arrays, plain
 * objects); this codec turns them into one Uint8Array that can be transferred to a worker thread, or later to a
 * browser Web Worker, without relying on structured clone (which would silently turn class instances into plain
 * objects). Browser-safe: DataView, TextEncoder and TextDecoder only.
 *
 * Layout: a version byte, then one tagged value. Lengths and counts are unsigned LEB128 varints; numbers are
 * IEEE-754 float64 little-endian; bigints are a sign byte and big-endian magnitude bytes; object keys keep
 * their insertion order (the encoding is exact, not canonical: do not hash it).
 */
import { Effect, Schema } from "effect"

export type JobValue =
  | null
  | undefined
  | boolean
  | number
  | string
  | bigint
  | Uint8Array
  | Float64Array
  | ReadonlyArray<JobValue>
  | { readonly [key: string]: JobValue }

export class JobCodecError extends Schema.TaggedError<JobCodecError>()("JobCodecError", {
  reason: Schema.Literals(["Unsupported", "Cycle", "Truncated", "UnknownTag", "BadVersion", "TrailingBytes", "TooDeep"]),
  detail: Schema.String
}) {
  override get message() {
    return `job codec ${this.reason}: ${this.detail}`
  }
}

const VERSION = 1
/** Nesting bound, so a hostile or corrupt buffer cannot blow the decoder's stack. */
const MAX_DEPTH = 512

const Tag = {
  Null: 0,
  Undefined: 1,
  False: 2,
  True: 3,
  Number: 4,
  String: 5,
  BigInt: 6,
  Bytes: 7,
  Array: 8,
  Object: 9,
  Float64Array: 10
} as const

const littleEndian = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f
const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder("utf-8", { fatal: true })

class Writer {
  private buffer = new Uint8Array(256)
  private view = new DataView(this.buffer.buffer)
  length = 0

  private reserve(extra: number) {
    if (this.length + extra <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + extra) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }

  byte(b: number) {
    this.reserve(1)
    this.buffer[this.length++] = b
  }

  varint(n: number) {
    this.reserve(8)
    // Division instead of bit shifts: lengths may exceed 2^31.
    while (n >= 0x80) {
      this.buffer[this.length++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.buffer[this.length++] = n
  }

  float64(x: number) {
    this.reserve(8)
    this.view.setFloat64(this.length, x, true)
    this.length += 8
  }

  bytes(b: Uint8Array) {
    this.reserve(b.length)
    this.buffer.set(b, this.length)
    this.length += b.length
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

const isPlainObject = (u: object): u is { readonly [key: string]: JobValue } => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const bigintToBytes = (magnitude: bigint): Uint8Array => {
  if (magnitude === 0n) return new Uint8Array(0)
  let hex = magnitude.toString(16)
  if (hex.length % 2 === 1) hex = "0" + hex
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

const bytesToBigint = (bytes: Uint8Array): bigint => {
  let hex = ""
  for (const b of bytes) hex += b.toString(16).padStart(2, "0")
  return hex === "" ? 0n : BigInt("0x" + hex)
}

const writeValue = (w: Writer, value: JobValue, seen: Set<object>): void => {
  if (value === null) return w.byte(Tag.Null)
  switch (typeof value) {
    case "undefined":
      return w.byte(Tag.Undefined)
    case "boolean":
      return w.byte(value ? Tag.True : Tag.False)
    case "number":
      w.byte(Tag.Number)
      return w.float64(value)
    case "string": {
      const utf8 = textEncoder.encode(value)
      w.byte(Tag.String)
      w.varint(utf8.length)
      return w.bytes(utf8)
    }
    case "bigint": {
      const magnitude = bigintToBytes(value < 0n ? -value : value)
      w.byte(Tag.BigInt)
      w.byte(value < 0n ? 1 : 0)
      w.varint(magnitude.length)
      return w.bytes(magnitude)
    }
    case "object":
      break
    default:
      throw new JobCodecError({ reason: "Unsupported", detail: `cannot encode a ${typeof value}` })
  }
  if (value instanceof Uint8Array) {
    w.byte(Tag.Bytes)
    w.varint(value.length)
    return w.bytes(value)
  }
  if (value instanceof Float64Array) {
    w.byte(Tag.Float64Array)
    w.varint(value.length)
    if (littleEndian) return w.bytes(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    for (const x of value) w.float64(x)
    return
  }
  if (seen.has(value)) throw new JobCodecError({ reason: "Cycle", detail: "the value refers to itself" })
  seen.add(value)
  if (Array.isArray(value)) {
    w.byte(Tag.Array)
    w.varint(value.length)
    for (const item of value as ReadonlyArray<JobValue>) writeValue(w, item, seen)
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value)
    w.byte(Tag.Object)
    w.varint(keys.length)
    for (const key of keys) {
      writeValue(w, key, seen)
      writeValue(w, value[key] as JobValue, seen)
    }
  } else {
    const name = (value as object).constructor?.name ?? "object"
    throw new JobCodecError({ reason: "Unsupported", detail: `cannot encode an instance of ${name}` })
  }
  seen.delete(value)
}

/** Value → bytes. Throws JobCodecError for functions, symbols, class instances other than the typed arrays above, and cycles. */
export const encode = (value: JobValue): Uint8Array => {
  const w = new Writer()
  w.byte(VERSION)
  writeValue(w, value, new Set())
  return w.finish()
}

class Reader {
  offset = 0
  private readonly view: DataView
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  need(n: number) {
    if (this.offset + n > this.bytes.length) {
      throw new JobCodecError({ reason: "Truncated", detail: `needed ${n} bytes at offset ${this.offset} of ${this.bytes.length}` })
    }
  }

  byte(): number {
    this.need(1)
    return this.bytes[this.offset++]!
  }

  varint(): number {
    let result = 0
    let scale = 1
    for (;;) {
      const b = this.byte()
      result += (b & 0x7f) * scale
      if (b < 0x80) break
      scale *= 0x80
      if (scale > 2 ** 53) throw new JobCodecError({ reason: "Truncated", detail: `varint too long at offset ${this.offset}` })
    }
    return result
  }

  float64(): number {
    this.need(8)
    const x = this.view.getFloat64(this.offset, true)
    this.offset += 8
    return x
  }

  take(n: number): Uint8Array {
    this.need(n)
    const out = this.bytes.slice(this.offset, this.offset + n)
    this.offset += n
    return out
  }
}

const readValue = (r: Reader, depth: number): JobValue => {
  if (depth > MAX_DEPTH) throw new JobCodecError({ reason: "TooDeep", detail: `nesting deeper than ${MAX_DEPTH}` })
  const tag = r.byte()
  switch (tag) {
    case Tag.Null:
      return null
    case Tag.Undefined:
      return undefined
    case Tag.False:
      return false
    case Tag.True:
      return true
    case Tag.Number:
      return r.float64()
    case Tag.String: {
      const utf8 = r.take(r.varint())
      try {
        return textDecoder.decode(utf8)
      } catch {
        throw new JobCodecError({ reason: "Truncated", detail: `invalid UTF-8 before offset ${r.offset}` })
      }
    }
    case Tag.BigInt: {
      const negative = r.byte() === 1
      const magnitude = bytesToBigint(r.take(r.varint()))
      return negative ? -magnitude : magnitude
    }
    case Tag.Bytes:
      return r.take(r.varint())
    case Tag.Float64Array: {
      const count = r.varint()
      if (littleEndian) return new Float64Array(r.take(count * 8).buffer)
      const out = new Float64Array(count)
      for (let i = 0; i < count; i++) out[i] = r.float64()
      return out
    }
    case Tag.Array: {
      const count = r.varint()
      // Each element takes at least one byte: refuse counts the buffer cannot hold before allocating.
      r.need(count)
      const out: Array<JobValue> = new Array(count)
      for (let i = 0; i < count; i++) out[i] = readValue(r, depth + 1)
      return out
    }
    case Tag.Object: {
      const count = r.varint()
      r.need(count * 2)
      const out: Record<string, JobValue> = {}
      for (let i = 0; i < count; i++) {
        const key = readValue(r, depth + 1)
        if (typeof key !== "string") throw new JobCodecError({ reason: "UnknownTag", detail: "object key is not a string" })
        // defineProperty, not assignment: a key "__proto__" must stay a plain property.
        Object.defineProperty(out, key, { value: readValue(r, depth + 1), enumerable: true, writable: true, configurable: true })
      }
      return out
    }
    default:
      throw new JobCodecError({ reason: "UnknownTag", detail: `tag ${tag} at offset ${r.offset - 1}` })
  }
}

/** Bytes → value. Throws JobCodecError on a wrong version, truncation, an unknown tag or trailing bytes. */
export const decode = (bytes: Uint8Array): JobValue => {
  const r = new Reader(bytes)
  const version = r.byte()
  if (version !== VERSION) throw new JobCodecError({ reason: "BadVersion", detail: `expected version ${VERSION}, got ${version}` })
  const value = readValue(r, 0)
  if (r.offset !== bytes.length) {
    throw new JobCodecError({ reason: "TrailingBytes", detail: `${bytes.length - r.offset} bytes after the value` })
  }
  return value
}

const asCodecError = (cause: unknown): JobCodecError =>
  cause instanceof JobCodecError ? cause : new JobCodecError({ reason: "Unsupported", detail: String(cause) })

export const encodeEffect = (value: JobValue): Effect.Effect<Uint8Array, JobCodecError> =>
  Effect.try({ try: () => encode(value), catch: asCodecError })

export const decodeEffect = (bytes: Uint8Array): Effect.Effect<JobValue, JobCodecError> =>
  Effect.try({ try: () => decode(bytes), catch: asCodecError })
