/**
 * How a protocol's `session.commit(phase, digest)` becomes the two bytes32 values the TaskLedger records: a
 * phase label of at most 31 UTF-8 bytes stays readable (the ledger stores it as a bytes32 string), a longer one
 * is committed through its keccak hash; a digest that is already 32 bytes of hex is the root itself, any other
 * digest is committed through its keccak hash.
 */
import { keccak256, toUtf8Bytes } from "ethers"

export const phaseOf = (phase: string): string => (new TextEncoder().encode(phase).length <= 31 ? phase : keccak256(toUtf8Bytes(phase)))

export const rootOf = (digest: string): string => (/^0x[0-9a-fA-F]{64}$/.test(digest) ? digest : keccak256(toUtf8Bytes(digest)))
