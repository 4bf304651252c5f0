/**
 * Canonical JSON and digests. A spec hash, result digest or commitment must not depend on key order or on
 * how a platform prints numbers, so every value notarized on chain is hashed through `canonicalJson`.
 */
import { keccak256, toUtf8Bytes } from "ethers"
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex } from "@noble/hashes/utils.js"
import { canonicalJson } from "./canonicalJson.js"

// The serialisation itself lives in plain JavaScript, shared as is with the dashboard (it rebuilds task ids).
export { canonicalJson }

/** keccak256 of the canonical JSON, as 0x-prefixed hex: the form the EVM contracts store. */
export const digest = (value: unknown): string => keccak256(toUtf8Bytes(canonicalJson(value)))

/** SHA-256 of the canonical JSON (PROTOCOLS §0: H() off chain), as 0x-prefixed hex. */
export const sha256Digest = (value: unknown): string => "0x" + bytesToHex(sha256(new TextEncoder().encode(canonicalJson(value))))
