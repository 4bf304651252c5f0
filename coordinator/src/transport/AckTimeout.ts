/**
 * How long the hub waits for a participant's StageReceipt before it counts a sending as lost, by the size of what
 * it sent. A request counted lost is sent again in full (RoundEngine's `resending`); a fixed wait counted a large
 * request (an encrypted model update, a big PSI batch) lost while it was still on its way over a slow link, and
 * sent those megabytes again behind it — slowing the very link that was too slow. So the wait is a base (the
 * round trip of a small message) plus the time the message's encoded bytes take at the slowest throughput a
 * participant's link is assumed to have, capped so that a truly lost large request is still sent again in time.
 */
import { Schema } from "effect"

export interface Settings {
  /** The wait for a message of no size: its round trip, a busy event loop at either end, a hop between instances. */
  readonly baseMs: number
  /** The slowest throughput a participant's link is assumed to have, in bytes per second. */
  readonly minBytesPerSecond: number
  /** The longest wait, however large the message. */
  readonly maxMs: number
}

/**
 * - `baseMs` 5 s: the fixed wait this replaces, enough for a small request between instances over a NOTIFY;
 * - `minBytesPerSecond` 256 KiB/s (about 2 Mbit/s): an office ADSL line or a congested VPN, the slowest link
 *   a member organisation is expected to run a participant on;
 * - `maxMs` 75 s: the base plus the largest frame the transport takes (`maxMessageBytes`, 16 MiB: 64 s) at that
 *   throughput, rounded up — with the defaults no request is ever sent again for being merely slow over a link
 *   of at least 2 Mbit/s, and a lost one waits at most 75 s (a round's default timeout is 60 s).
 */
export const defaults: Settings = { baseMs: 5_000, minBytesPerSecond: 256 * 1024, maxMs: 75_000 }

const Millis = Schema.Int.check(Schema.isBetween({ minimum: 100, maximum: 3_600_000 }))

/** The settings as a config gives them: each absent field keeps its default. */
export const SettingsInput = Schema.Struct({
  baseMs: Schema.optional(Millis),
  // Below 1 KiB/s every large request would wait the cap: a value that low is a unit mistake (bits, kilobytes).
  minBytesPerSecond: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1_024, maximum: 1e12 }))),
  maxMs: Schema.optional(Millis)
})
export type SettingsInput = typeof SettingsInput.Type

export class AckTimeoutInvalid extends Schema.TaggedError<AckTimeoutInvalid>()("AckTimeoutInvalid", { detail: Schema.String }) {
  override get message() {
    return `ackTimeout: ${this.detail}`
  }
}

/** Decodes the settings a config gives (absent fields keep their defaults); refuses a cap below the base. */
export const resolve = (input: unknown): Settings => {
  const decoded = Schema.decodeUnknownExit(SettingsInput)(input ?? {})
  if (decoded._tag === "Failure") throw new AckTimeoutInvalid({ detail: String(decoded.cause) })
  const settings: Settings = {
    baseMs: decoded.value.baseMs ?? defaults.baseMs,
    minBytesPerSecond: decoded.value.minBytesPerSecond ?? defaults.minBytesPerSecond,
    maxMs: decoded.value.maxMs ?? defaults.maxMs
  }
  // A cap below the base would make every wait the cap: a mistake, not a wish.
  if (settings.maxMs < settings.baseMs) throw new AckTimeoutInvalid({ detail: `maxMs ${settings.maxMs} is below baseMs ${settings.baseMs}` })
  return settings
}

/** The wait for a message of `bytes` encoded bytes: the base plus its time at the assumed throughput, capped. */
export const forBytes = (settings: Settings, bytes: number): number =>
  Math.min(settings.maxMs, settings.baseMs + Math.ceil((Math.max(0, bytes) * 1_000) / settings.minBytesPerSecond))

/** The longest JSON a finite number takes (`-2.2250738585072014e-308`). */
const numberBytes = 24
/** What stands for a binary part in a message's JSON: `{"_placeholder":true,"num":15}`. */
const placeholderBytes = 30

/**
 * The size `payload` has on the wire as JSON, in bytes, estimated without encoding it: the hub's transport encodes
 * every message once already, and measuring a large one by `JSON.stringify` cost that much again on the event loop
 * (a 1M-number array ≈ 190 ms, as much as socket.io's own encoding) for each participant's request. A walk over the
 * values counts strings by their length (exact for ASCII, which large payloads are: base64, hex; other characters
 * count one byte where they take up to three, or six escaped) and numbers at their longest, so a vector of floats
 * is overestimated by about a third — a longer wait for the largest messages, never a shorter one. A binary part
 * (the OT PSI relay's sealed boxes, sent as socket.io attachments: wire/Messages.ts `maxAttachments`) counts its bytes
 * and the placeholder that stands for it in the JSON.
 */
export const estimatedBytes = (payload: unknown): number => {
  let bytes = 0
  const stack: Array<unknown> = [payload]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value === "string") bytes += value.length + 2
    else if (typeof value === "number") bytes += numberBytes
    else if (typeof value === "boolean") bytes += value ? 4 : 5
    else if (value === null || value === undefined) bytes += 4
    else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) bytes += value.byteLength + placeholderBytes
    else if (Array.isArray(value)) {
      bytes += 1 + value.length
      for (const item of value) {
        // A vector of numbers, the common large payload, is counted without a push per element.
        if (typeof item === "number") bytes += numberBytes
        else stack.push(item)
      }
    } else if (typeof value === "object") {
      const entries = Object.entries(value as Record<string, unknown>)
      bytes += 1 + entries.length
      for (const [key, item] of entries) {
        bytes += key.length + 3
        stack.push(item)
      }
    }
  }
  return bytes
}
