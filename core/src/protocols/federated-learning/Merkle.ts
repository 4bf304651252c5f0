/**
 * One commitment per phase instead of one per round (DESIGN.md §3): the round digests are the leaves of a
 * binary sha256 Merkle tree (RFC 6962 style: 0x00 before a leaf, 0x01 before an inner node, an odd node is
 * promoted), and only the root goes on chain. Anyone holding the per-round digests (stored as task events)
 * recomputes the root; `proof`/`verify` show a single round's inclusion.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js"

const strip = (hex: string) => (hex.startsWith("0x") ? hex.slice(2) : hex)
const leafHash = (digest: string) => sha256(concatBytes(new Uint8Array([0]), hexToBytes(strip(digest))))
const nodeHash = (left: Uint8Array, right: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), left, right))

/** Root (0x-hex) of 32-byte hex digests; the root of no leaves is sha256 of nothing. */
export const root = (digests: ReadonlyArray<string>): string => {
  if (digests.length === 0) return "0x" + bytesToHex(sha256(new Uint8Array()))
  let level: Array<Uint8Array> = digests.map(leafHash)
  while (level.length > 1) {
    const next: Array<Uint8Array> = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!)
    level = next
  }
  return "0x" + bytesToHex(level[0]!)
}

/** JSON of a decoded reply with each byte field as the hex sha256 of its bytes and each bigint as its decimal digits. */
const replyText = (reply: unknown): string =>
  JSON.stringify(reply, (_key, value: unknown) => {
    if (value instanceof Uint8Array) return bytesToHex(sha256(value))
    if (typeof value === "bigint") return value.toString()
    if (value instanceof Map || value instanceof Set) throw new TypeError("a round reply holds a Map or Set, which JSON would drop")
    return value
  })

/**
 * The leaf of one round (0x-hex): sha256 over the stage name and every party's decoded reply in reply order. Byte
 * fields (ciphertexts, partial decryptions: nearly all of a reply) enter by their own sha256, hashed once as bytes
 * rather than base64- and JSON-encoded and hashed as text (a vertical training run's protocol thread spent
 * ≈ 0.15 s there). The stage fixes each field's type, so a reply's text names its value.
 */
export const roundDigest = (stage: string, replies: Iterable<readonly [string, unknown]>): string => {
  const hash = sha256.create().update(utf8ToBytes(`${stage}\n`))
  for (const [party, reply] of replies) hash.update(utf8ToBytes(`${party}:${replyText(reply)}\n`))
  return "0x" + bytesToHex(hash.digest())
}

export interface ProofStep {
  readonly sibling: string
  readonly side: "left" | "right"
}

export const proof = (digests: ReadonlyArray<string>, index: number): Array<ProofStep> => {
  let level: Array<Uint8Array> = digests.map(leafHash)
  const steps: Array<ProofStep> = []
  let i = index
  while (level.length > 1) {
    const sibling = i % 2 === 0 ? i + 1 : i - 1
    if (sibling < level.length) steps.push({ sibling: bytesToHex(level[sibling]!), side: i % 2 === 0 ? "right" : "left" })
    const next: Array<Uint8Array> = []
    for (let k = 0; k < level.length; k += 2) next.push(k + 1 < level.length ? nodeHash(level[k]!, level[k + 1]!) : level[k]!)
    level = next
    i = Math.floor(i / 2)
  }
  return steps
}

export const verify = (digest: string, steps: ReadonlyArray<ProofStep>, expectedRoot: string): boolean => {
  let node = leafHash(digest)
  for (const step of steps) {
    const sibling = hexToBytes(step.sibling)
    node = step.side === "right" ? nodeHash(node, sibling) : nodeHash(sibling, node)
  }
  return "0x" + bytesToHex(node) === expectedRoot
}

/** Every leaf's proof at once, in O(n log n) (`proof` per leaf would cost O(n²) over a whole index). */
export const proofs = (digests: ReadonlyArray<string>): Array<Array<ProofStep>> => {
  const out: Array<Array<ProofStep>> = digests.map(() => [])
  let level: Array<Uint8Array> = digests.map(leafHash)
  // members[k]: the leaves under node k of the current level.
  let members: Array<Array<number>> = digests.map((_, i) => [i])
  while (level.length > 1) {
    const next: Array<Uint8Array> = []
    const nextMembers: Array<Array<number>> = []
    for (let k = 0; k < level.length; k += 2) {
      if (k + 1 < level.length) {
        for (const leaf of members[k]!) out[leaf]!.push({ sibling: bytesToHex(level[k + 1]!), side: "right" })
        for (const leaf of members[k + 1]!) out[leaf]!.push({ sibling: bytesToHex(level[k]!), side: "left" })
        next.push(nodeHash(level[k]!, level[k + 1]!))
        nextMembers.push([...members[k]!, ...members[k + 1]!])
      } else {
        next.push(level[k]!)
        nextMembers.push(members[k]!)
      }
    }
    level = next
    members = nextMembers
  }
  return out
}
