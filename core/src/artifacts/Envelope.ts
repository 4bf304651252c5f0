/**
 * An artifact sealed to its readers before it leaves a participant (PROTOCOLS.md §2.6 "encrypt client-side before
 * adding to IPFS"): a fresh 32-byte content key encrypts the body once (AES-256-GCM, `Ecies.seal`), and the content
 * key is wrapped by ECIES to each reader's secp256k1 encryption key (the key agreement key its DID publishes).
 * Blocks on a public IPFS network are then unreadable to anyone but the readers, and their CID (the hash of the
 * sealed bytes) is what goes on chain.
 *
 * Byte format, version 1 (big-endian lengths):
 *   "JYE" ‖ 0x01 ‖ u16 label length ‖ label (UTF-8) ‖ u16 reader count ‖
 *   per reader: 33-byte compressed public key ‖ u16 length ‖ ECIES(content key)
 *   ‖ body = Ecies.seal(content key, plaintext)
 * The label (e.g. "task/0x…/model") is bound as associated data of every wrap and of the body, so a sealed block
 * cannot be passed off as another artifact; the readers' public keys are in clear so a reader finds its wrap
 * without trying each one (who may read is not secret: the task's parties are on chain anyway).
 */
import { secp256k1 } from "@noble/curves/secp256k1.js"
import { equalBytes } from "@noble/curves/utils.js"
import { bytesToHex, concatBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Schema } from "effect"
import * as Ecies from "../crypto/Ecies.ts"

const MAGIC = utf8ToBytes("JYE")
const VERSION = 1
const POINT_BYTES = 33

export class EnvelopeError extends Schema.TaggedError<EnvelopeError>()("EnvelopeError", {
  reason: Schema.Literals(["Malformed", "UnsupportedVersion", "NoReaders", "NotAReader", "LabelMismatch", "AuthenticationFailed"]),
  detail: Schema.String
}) {
  override get message() {
    return `sealed artifact ${this.reason}: ${this.detail}`
  }
}

export interface Sealed {
  readonly label: string
  /** Compressed secp256k1 keys of the readers, in the order sealed. */
  readonly readers: ReadonlyArray<Uint8Array>
}

const u16 = (n: number) => new Uint8Array([(n >>> 8) & 0xff, n & 0xff])

const compressed = (key: Uint8Array): Uint8Array => {
  try {
    return secp256k1.Point.fromBytes(key).toBytes(true)
  } catch (cause) {
    throw new EnvelopeError({ reason: "Malformed", detail: `a reader key is not a secp256k1 point: ${String(cause)}` })
  }
}

/** Seals `plaintext` so that only the holders of `readers`' secret keys open it. */
export const seal = (plaintext: Uint8Array, readers: ReadonlyArray<Uint8Array>, label: string): Uint8Array => {
  if (readers.length === 0) throw new EnvelopeError({ reason: "NoReaders", detail: `${label} would be readable by nobody` })
  if (readers.length > 0xffff) throw new EnvelopeError({ reason: "Malformed", detail: `${readers.length} readers exceed 65535` })
  const labelBytes = utf8ToBytes(label)
  if (labelBytes.length > 0xffff) throw new EnvelopeError({ reason: "Malformed", detail: "label longer than 65535 bytes" })
  const key = randomBytes(Ecies.KEY_BYTES)
  // One key per distinct reader: the same org named twice gets one wrap.
  const unique = [...new Map(readers.map((r) => compressed(r)).map((r) => [bytesToHex(r), r] as const)).values()]
  const wraps = unique.map((reader) => {
    const wrapped = Ecies.encrypt(reader, key, labelBytes)
    return concatBytes(reader, u16(wrapped.length), wrapped)
  })
  return concatBytes(MAGIC, new Uint8Array([VERSION]), u16(labelBytes.length), labelBytes, u16(unique.length), ...wraps, Ecies.seal(key, plaintext, labelBytes))
}

interface Parsed extends Sealed {
  readonly labelBytes: Uint8Array
  readonly wraps: ReadonlyArray<{ readonly reader: Uint8Array; readonly wrapped: Uint8Array }>
  readonly body: Uint8Array
}

const parse = (bytes: Uint8Array): Parsed => {
  const malformed = (detail: string) => new EnvelopeError({ reason: "Malformed", detail })
  let at = 0
  const take = (n: number, what: string) => {
    if (at + n > bytes.length) throw malformed(`truncated in ${what} (needs ${at + n} bytes, has ${bytes.length})`)
    const part = bytes.subarray(at, at + n)
    at += n
    return part
  }
  const readU16 = (what: string) => {
    const b = take(2, what)
    return (b[0]! << 8) | b[1]!
  }
  if (!equalBytes(take(3, "magic"), MAGIC)) throw malformed("not a sealed artifact (bad magic)")
  const version = take(1, "version")[0]!
  if (version !== VERSION) throw new EnvelopeError({ reason: "UnsupportedVersion", detail: `version ${version}, expected ${VERSION}` })
  const labelBytes = take(readU16("label length"), "label")
  const count = readU16("reader count")
  const wraps: Array<{ reader: Uint8Array; wrapped: Uint8Array }> = []
  for (let i = 0; i < count; i++) {
    const reader = take(POINT_BYTES, `reader ${i}`)
    wraps.push({ reader, wrapped: take(readU16(`wrap ${i} length`), `wrap ${i}`) })
  }
  return { label: new TextDecoder().decode(labelBytes), labelBytes, readers: wraps.map((w) => w.reader), wraps, body: bytes.subarray(at) }
}

/** The label and readers of a sealed artifact (no key needed). */
export const inspect = (bytes: Uint8Array): Sealed => {
  const { label, readers } = parse(bytes)
  return { label, readers }
}

/**
 * Opens a sealed artifact with a reader's secret key, checking it carries `expectedLabel` when given.
 * @throws EnvelopeError — "NotAReader" when the key is not among the readers, "LabelMismatch", "Malformed",
 *   "AuthenticationFailed" when a wrap or the body was tampered with.
 */
export const open = (bytes: Uint8Array, secretKey: Uint8Array, expectedLabel?: string): Uint8Array => {
  const parsed = parse(bytes)
  if (expectedLabel !== undefined && parsed.label !== expectedLabel) {
    throw new EnvelopeError({ reason: "LabelMismatch", detail: `sealed as "${parsed.label}", expected "${expectedLabel}"` })
  }
  const self = secp256k1.getPublicKey(secretKey, true)
  const wrap = parsed.wraps.find((w) => equalBytes(self, w.reader))
  if (wrap === undefined) throw new EnvelopeError({ reason: "NotAReader", detail: `${bytesToHex(self)} is not among the ${parsed.wraps.length} readers of "${parsed.label}"` })
  try {
    const key = Ecies.decrypt(secretKey, wrap.wrapped, parsed.labelBytes)
    return Ecies.open(key, parsed.body, parsed.labelBytes)
  } catch (cause) {
    throw new EnvelopeError({ reason: "AuthenticationFailed", detail: cause instanceof Error ? cause.message : String(cause) })
  }
}
