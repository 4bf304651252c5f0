/**
 * Two-party PSI from OT extension: KKRT (Kolesnikov, Kumaresan, Rosulek, Trieu, "Efficient batched oblivious PRF
 * with applications to private set intersection", CCS 2016), semi-honest. An engine over an abstract `Link`
 * (Link.ts), to be wired behind the PSI task kinds as `params.protocol: "ot"` next to the ECDH ring (../psi).
 *
 * Why KKRT and not RR22 (VOLE + OKVS, CCS 2022, ~5× faster and ~3× less traffic in C++): KKRT needs only base OTs,
 * AES and hashing — every bulk step is AES in batches, which node:crypto and WebCrypto run natively — and rests on
 * standard assumptions (CDH, AES as a PRF, a correlation-robust hash). RR22 needs silent VOLE (LPN over
 * expand-accumulate codes, GGM-tree punctured PRFs), GF(2^128) products (no carry-less multiply in JavaScript)
 * and band-OKVS solving: several times the code and attack surface for a gain that matters on slow networks.
 * KKRT meets this project's goals (1M×1M within seconds per core, < 100 MB per party) with code one can audit.
 *
 * ## Roles
 * The RECEIVER (the party that gets the output) is the OT-extension receiver and the base-OT sender; the SENDER
 * is the OT-extension sender and the base-OT receiver.
 *
 * ## The protocol (one session; w = 512 code bits, h = 3 hash functions)
 *  1. Hello. R → S: version, |Y|, options, seed_R (32 random bytes), A (BaseOt.ts). S → R: version, |X|, seed_S,
 *     B_1…B_w with choice bits s ∈ {0,1}^w drawn by S. Both: master = SHA-256(label ‖ context ‖ seed_R ‖ seed_S ‖
 *     sizes ‖ options), and from it the AES keys below; R gets seeds (k_i^0, k_i^1), S gets k_i^{s_i}.
 *  2. Encoding. Each element (UTF-8 text) becomes a 128-bit block e(x): up to 15 bytes, the length byte and the
 *     bytes themselves (injective, no key); longer, a flag byte and 15 bytes of CBC-MAC_{k_enc}(length ‖ x) (a PRF
 *     on this prefix-free encoding, keyed after the inputs are fixed). Duplicates are dropped (first wins).
 *  3. Partitions. Elements are split by a keyed hash into P = ⌈max(|X|,|Y|)/partitionElements⌉ partitions that
 *     run one after another (bounded memory; the streaming unit). Both parties send their partition sizes.
 *  4. Per partition (sizes n_x, n_y > 0): R cuckoo-hashes its elements into m = ⌈ε·n_y⌉ bins with h = 3
 *     keyed locations and a stash of `stash` slots (Cuckoo.ts); element y in bin b under location k is the input
 *     y‖k (k = 3 in the stash). R sends the OT-extension matrix in chunks of ≤ 8192 rows: for OT column i,
 *     u_i = PRG(k_i^0) ⊕ PRG(k_i^1) ⊕ C_i, with C the bins' codewords C(y‖k) (rows) and PRG = AES-128-CTR. S
 *     computes q_i = PRG(k_i^{s_i}) ⊕ s_i·u_i, i.e. row q_j = t_j ⊕ (C(y_j‖k) ∧ s) with t_j R's row of PRG(k^0):
 *     the OPRF key of row j is (q_j, s), F_j(v) = H(j, q_j ⊕ (C(v) ∧ s)), and R knows F_j(y_j‖k) = H(j, t_j).
 *  5. S sends, for each of its elements x in a fresh uniformly random order, the 3 + stash values
 *     F_{loc_k(x)}(x‖k) (k = 0,1,2) and F_{m+j}(x‖3) (stash slot j), truncated to ℓ bytes. R finds its own values
 *     among them (a match must also sit at the slot its element was placed with): x = y.
 *  6. Optionally (revealToSender) R sends the positions of the matches, ascending — the common order in which both
 *     parties then list their intersection (a uniformly random order, independent of the data).
 *
 *  C(v) = π_{c0}(v) ‖ π_{c1}(v) ‖ π_{c2}(v) ‖ π_{c3}(v): the pseudorandom code, 4 × 128 = w bits;
 *  H(j, t) = π_o(u) ⊕ u with u = ⊕_{i<4} π_o(t_i ⊕ τ_{i,j}) ⊕ t_i ⊕ τ_{i,j} over the four blocks t_i of t, τ_{i,j}
 *  the block (i, 0, j mod 2^32, ⌊j / 2^32⌋): libOTe's KKRT hash with the row and block position as tweaks;
 *  π_k = AES-128⁻¹ under a session key k (Aes.ts); loc_k and the partition come from π_{l0}(e(x)) ‖ π_{l1}(e(x))
 *  read as four 53-bit integers x, each mapped to ⌊x·m/2^53⌋ (or P): bias ≤ m/2^53 (Encoding.reduce).
 *
 * ## What each party learns (semi-honest, static corruption)
 *  - R: X ∩ Y (as its own elements) and |X|; S: |Y| — plus, with revealToSender, X ∩ Y (as its own elements).
 *  - Both: the partition sizes of both sets. The partition hash is keyed by the session (after the inputs are
 *    fixed), so for distinct elements the sizes are multinomial(n, 1/P) whatever the elements: simulatable from
 *    |X| and |Y|, no leak beyond them.
 *  - A cuckoo failure (≤ 2^-σ) aborts both with CuckooFailure, which tells S that Y failed this session's hashing;
 *    a retry is a fresh session (new seeds).
 *  - No cardinality-only mode: R learns which of its elements match by construction; `query.psi-cardinality` keeps
 *    the ECDH path.
 *
 * ## Parameters and security
 *  - Computational κ = 128: base OTs over ristretto255 (CDH, ≈126-bit), AES-128 (PRG, PRF, and as π in H),
 *    SHA-256 for keys. Code width w = 512 = 4κ (libOTe's semi-honest KKRT choice): for v ≠ v', C(v) ⊕ C(v') is a
 *    uniform 512-bit string, of weight < 128 with probability 2^-102.3; over the ≤ (3 + stash)·|X| pairs that S's
 *    values relate to R's rows, every value R cannot compute hides ≥ 128 unknown bits of s (≤ 2^-68 failure at
 *    |X| = 2^32).
 *  - Statistical σ = 40:
 *    · cuckoo hashing (h = 3, no stash): ε = (σ' + log2 n + 256)/240 for n ≥ 512 and per-size lines below (libOTe's
 *      fit of the PSZ18 experiments), σ' = σ + log2 P so that all P partitions succeed with probability
 *      ≥ 1 − 2^-σ; e.g. ε = 1.317 at n = 2^20 (1.38 M bins). A stash (option) only lowers the failure probability;
 *    · false matches: ℓ = ⌈(σ + log2 Σ_p n_x,p·n_y,p)/8⌉ bytes per value (10 at 1M×1M), so Σ pairs·2^-8ℓ ≤ 2^-σ;
 *    · encoding collisions among ids longer than 15 bytes: (|X|+|Y|)²·2^-121.
 *  - Traffic per partition: R sends ⌈(m + stash)/128⌉·128 × 64 bytes (≈ 84 MB at 1M), S sends
 *    n_x·(3 + stash)·ℓ bytes (≈ 30 MB at 1M); base OTs and hellos ≈ 16.5 kB.
 *  - Not covered: malicious parties (a malicious S can make R output anything; a malicious R can probe up to
 *    m + stash values per partition), as for the ECDH family.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { Schema } from "effect"

export const VERSION = 1
export const STATISTICAL_SECURITY = 40
export const COMPUTATIONAL_SECURITY = 128
/** Code width w = number of base OTs (bits). */
export const CODE_BITS = 512
export const CODE_BYTES = CODE_BITS / 8
export const CODE_WORDS = CODE_BITS / 32
/** Cuckoo hash functions. */
export const HASHES = 3
/** The hash-index tag of an element placed in the stash. */
export const STASH_TAG = 3
/** Rows of the OT matrix come in multiples of 128 (one AES block of every column). */
export const ROW_ALIGN = 128
/** Rows per matrix message (bounded further by the link's message size). */
export const MATRIX_CHUNK_ROWS = 8192
/** Sender elements per value message (bounded further by the link's message size). */
export const VALUE_CHUNK_ITEMS = 16384
export const DEFAULT_PARTITION_ELEMENTS = 1 << 20
export const MIN_PARTITION_ELEMENTS = 1 << 10
export const MAX_PARTITION_ELEMENTS = 1 << 24
export const MAX_STASH = 16
/** The largest element count a party may bring (u32 on the wire). */
export const MAX_ELEMENTS = 0xffff_ffff
/** Smallest link message size the engine can run over (the sender's hello carries the 512 base-OT points). */
export const MIN_MESSAGE_BYTES = 32 * 1024

export class OtPsiError extends Schema.TaggedError<OtPsiError>()("OtPsiError", {
  reason: Schema.Literals([
    "MalformedMessage",
    "UnexpectedMessage",
    "VersionMismatch",
    "ParameterMismatch",
    "PeerTooLarge",
    "InvalidPoint",
    "CuckooFailure",
    "BadOptions"
  ]),
  detail: Schema.String
}) {
  override get message() {
    return `ot-psi ${this.reason}: ${this.detail}`
  }
}

// ---- cuckoo expansion (libOTe's experimentally fitted lines for h = 3 and no stash)

/** (slope, intercept) of σ = slope·ε + intercept for ⌊log2 n⌋ = 0…8. */
const SMALL_SET_LINES: ReadonlyArray<readonly [number, number]> = [
  [5.5, 6.35], [5.5, 6.35], [5.5, 6.35], [8.5, -0.07], [13.4, -6.74], [21.9, -16.1], [57.8, -62.6], [100, -113], [142, -158]
]

/** Bins per element ε for `n` elements at statistical security `sigma` (h = 3, no stash). */
export const expansion = (n: number, sigma: number): number => {
  const size = Math.max(1, n)
  const log = Math.floor(Math.log2(size))
  if (log < SMALL_SET_LINES.length) {
    const [slope, intercept] = SMALL_SET_LINES[log]!
    return (sigma - intercept) / slope
  }
  return (sigma + Math.log2(size) + 256) / 240
}

/** Cuckoo bins for `n` receiver elements in one of `partitions` partitions. */
export const binCount = (n: number, partitions: number): number =>
  n === 0 ? 0 : Math.ceil(expansion(n, STATISTICAL_SECURITY + Math.log2(partitions)) * n)

/** OT rows of a partition: bins and stash, padded to whole AES blocks per column. */
export const rowCount = (bins: number, stash: number): number =>
  bins === 0 ? 0 : Math.ceil((bins + stash) / ROW_ALIGN) * ROW_ALIGN

/** Bytes of each OPRF value sent: σ bits plus log2 of the number of comparisons R makes (≥ 5 bytes at σ = 40). */
export const valueBytes = (comparisons: number): number =>
  Math.min(16, Math.max(1, Math.ceil((STATISTICAL_SECURITY + Math.log2(Math.max(1, comparisons))) / 8)))

export const partitionCount = (receiverCount: number, senderCount: number, partitionElements: number): number =>
  Math.max(1, Math.ceil(Math.max(receiverCount, senderCount) / partitionElements))

// ---- session keys

export interface SessionKeys {
  readonly encode: Uint8Array
  readonly locate: readonly [Uint8Array, Uint8Array]
  readonly code: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  readonly out: Uint8Array
}

const encoder = new TextEncoder()

/** SHA-256 of the hellos' public content: the session's root, from which every key and the base-OT context derive. */
export const master = (
  context: Uint8Array,
  receiverSeed: Uint8Array,
  senderSeed: Uint8Array,
  receiverCount: number,
  senderCount: number,
  options: { readonly partitionElements: number; readonly stash: number; readonly revealToSender: boolean }
): Uint8Array => {
  const label = encoder.encode("jointly/ot-psi/session/v1")
  const out = new Uint8Array(label.length + 1 + 4 + context.length + receiverSeed.length + senderSeed.length + 4 * 4 + 1)
  const view = new DataView(out.buffer)
  let at = 0
  out.set(label, at); at += label.length
  out[at++] = VERSION
  view.setUint32(at, context.length); at += 4
  out.set(context, at); at += context.length
  out.set(receiverSeed, at); at += receiverSeed.length
  out.set(senderSeed, at); at += senderSeed.length
  view.setUint32(at, receiverCount); at += 4
  view.setUint32(at, senderCount); at += 4
  view.setUint32(at, options.partitionElements); at += 4
  view.setUint32(at, options.stash); at += 4
  out[at] = options.revealToSender ? 1 : 0
  return sha256(out)
}

const subkey = (root: Uint8Array, label: string) => sha256(new Uint8Array([...root, ...encoder.encode(label)])).subarray(0, 16)

export const sessionKeys = (root: Uint8Array): SessionKeys => ({
  encode: subkey(root, "encode"),
  locate: [subkey(root, "locate-0"), subkey(root, "locate-1")],
  code: [subkey(root, "code-0"), subkey(root, "code-1"), subkey(root, "code-2"), subkey(root, "code-3")],
  out: subkey(root, "out")
})
