/**
 * Canonical JSON and digests. A spec hash, result digest or commitment must not depend on key order or on
 * how a platform prints numbers, so every value notarized on chain is hashed through `canonicalJson`.
 */
import { keccak256, toUtf8Bytes } from "ethers"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"

/** JSON with object keys sorted recursively; bigint as decimal strings; undefined fields dropped. */
export const canonicalJson = (value: unknown): string => JSON.stringify(normalize(value))

const normalize = (value: unknown): unknown => {
  if (typeof value === "bigint") return value.toString()
  if (value instanceof Uint8Array) return bytesToHex(value)
  if (Array.isArray(value)) return value.map(normalize)
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const field = (value as Record<string, unknown>)[key]
      if (field !== undefined) out[key] = normalize(field)
    }
    return out
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`cannot hash non-finite number ${value}`)
  return value
}

/** keccak256 of the canonical JSON, as 0x-prefixed hex: the form the EVM contracts store. */
export const digest = (value: unknown): string => keccak256(toUtf8Bytes(canonicalJson(value)))

/** SHA-256 of the canonical JSON (PROTOCOLS §0: H() off chain), as 0x-prefixed hex. */
export const sha256Digest = (value: unknown): string => "0x" + bytesToHex(sha256(new TextEncoder().encode(canonicalJson(value))))
