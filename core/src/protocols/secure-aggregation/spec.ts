/**
 * Secure aggregation: stages, wire Schemas and the transcript encodings both roles must agree on.
 * The protocol and its security argument are described in `server.ts`.
 *
 * Wire conventions: bigints as decimal strings, bytes as base64, ring vectors as the little-endian limb bytes
 * of `RingVector.toBytes` (half the size of decimal strings and no per-element parsing for 100k-element
 * model updates). Every request carries `aggregationId`, so one task can run many aggregations (one per
 * training round) with separate keys and separate participant memory.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js"
import { Schema } from "effect"
import * as Prg from "../../crypto/Prg.ts"
import { speaks, type StageEntry } from "../Define.ts"
import { stage } from "../Protocol.ts"

export const PROTOCOL = "secure-aggregation"
export const VERSION = 2

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Bytes = Schema.Uint8ArrayFromBase64
const ParticipantId = Schema.String

/** Parameters fixed by the coordinator in the first stage and signed into every key advertisement. */
export const Parameters = Schema.Struct({
  version: Schema.Literal(VERSION),
  aggregationId: Schema.String,
  /** U0: the cohort, in task order (fixes the mask signs). */
  cohort: Schema.Array(ParticipantId),
  /** Replies each stage needs (n − d), and the fewest contributors anyone helps unmask. */
  threshold: Count,
  vectorLength: Count,
  bits: Count,
  /**
   * SecAgg+ (`Neighbourhood.ts`): k, the neighbours each member masks with and shares to; absent for the complete
   * graph (every other member, Bonawitz et al.), where `threshold` is also the Shamir threshold.
   */
  neighbours: Schema.optional(Count),
  /** SecAgg+ only: t_k, the Shamir threshold among a member and its k neighbours. */
  shareThreshold: Schema.optional(Count),
  /**
   * The masks' PRG (`Prg.Name`); absent: ChaCha20, the only PRG before the choice. A string on the wire so that a
   * name this build does not know reaches the participant's check and is refused as "UnsupportedPrg", naming it.
   */
  prg: Schema.optional(Schema.String)
})
export type Parameters = typeof Parameters.Type

// Stage 0 — AdvertiseKeys: two X25519 key pairs per participant (fresh, or reused under server.ts "Key reuse"),
// signed with its signing key, which its chain account certified for the task attempt (`certificateMessage`).
export const AdvertiseKeysRequest = Schema.Struct({ parameters: Parameters })
const advertised = {
  channelPublicKey: Bytes,
  maskPublicKey: Bytes,
  /** Ed25519 public key, the same in every aggregation of one task attempt. */
  signingKey: Bytes,
  /** EIP-191 signature by the participant's account over `certificateMessage(…, signingKey)`. */
  certificate: Schema.String,
  /** Ed25519 signature under `signingKey` over `advertisementMessage`. */
  signature: Bytes
}
export const AdvertiseKeysReply = Schema.Struct(advertised)
export type AdvertiseKeysReply = typeof AdvertiseKeysReply.Type

export const Advertisement = Schema.Struct({ participant: ParticipantId, ...advertised })
export type Advertisement = typeof Advertisement.Type

// Stage 1 — ShareKeys: U1's advertisements in; Shamir shares of b_u and s_u^SK out, encrypted per recipient.
export const ShareKeysRequest = Schema.Struct({
  aggregationId: Schema.String,
  advertisements: Schema.Array(Advertisement)
})
export const EncryptedShares = Schema.Struct({ recipient: ParticipantId, ciphertext: Bytes })
export const ShareKeysReply = Schema.Struct({
  /** `selfMaskCommitment(…)`: lets the coordinator check the b_u it reconstructs. */
  selfMaskCommitment: Bytes,
  encryptedShares: Schema.Array(EncryptedShares)
})
export type ShareKeysReply = typeof ShareKeysReply.Type

// Stage 2 — MaskedInput: U2 and the shares addressed to the recipient in; y_u out.
export const RelayedShares = Schema.Struct({ sender: ParticipantId, ciphertext: Bytes })
export const MaskedInputRequest = Schema.Struct({
  aggregationId: Schema.String,
  /** U2: everyone whose shares were relayed; pairwise masks are taken with exactly these peers. */
  keyHolders: Schema.Array(ParticipantId),
  encryptedShares: Schema.Array(RelayedShares)
})
export const MaskedInputReply = Schema.Struct({ maskedInput: Bytes })
export type MaskedInputReply = typeof MaskedInputReply.Type

// Stage 3 — Unmask: U3 (whose masked inputs arrived) in; b-shares of U3 and s-shares of U2 \ U3 out.
export const UnmaskRequest = Schema.Struct({
  aggregationId: Schema.String,
  contributors: Schema.Array(ParticipantId)
})
export const OwnedShare = Schema.Struct({ owner: ParticipantId, share: Bytes })
export const UnmaskReply = Schema.Struct({
  selfMaskShares: Schema.Array(OwnedShare),
  maskKeyShares: Schema.Array(OwnedShare)
})
export type UnmaskReply = typeof UnmaskReply.Type

export const advertiseKeys = stage("secagg.advertise-keys", AdvertiseKeysRequest, AdvertiseKeysReply)
export const shareKeys = stage("secagg.share-keys", ShareKeysRequest, ShareKeysReply)
export const maskedInput = stage("secagg.masked-input", MaskedInputRequest, MaskedInputReply)
export const unmask = stage("secagg.unmask", UnmaskRequest, UnmaskReply)

export const stages = [advertiseKeys, shareKeys, maskedInput, unmask] as const

/** The stage table rows of a protocol that aggregates securely (the cohort is the aggregation's, see server.ts). */
export const table: ReadonlyArray<StageEntry> = [
  speaks(advertiseKeys, "every member of the cohort"),
  speaks(shareKeys, "members whose keys verified (U1)"),
  speaks(maskedInput, "members that shared keys (U2)"),
  speaks(unmask, "members whose masked input arrived (U3)")
]

/** Default dropout tolerance d = ⌊(n−1)/2⌋: the largest d that keeps the threshold n − d a strict majority. */
export const defaultDropoutTolerance = (participants: number): number => Math.max(0, Math.floor((participants - 1) / 2))

/**
 * Why a threshold is unacceptable for a cohort of n, or undefined when it is fine: 2 ≤ t ≤ n and t > n/2.
 * The majority floor means no two disjoint groups of participants can each reconstruct a secret, and a
 * coordinator colluding with fewer than t participants learns no one's mask keys; participants enforce it
 * too, so a coordinator cannot lower it on its own.
 */
export const thresholdProblem = (threshold: number, participants: number): string | undefined => {
  if (!Number.isInteger(threshold) || threshold < 2) return `threshold must be an integer ≥ 2, got ${threshold}`
  if (threshold > participants) return `threshold ${threshold} exceeds the ${participants} participants`
  if (2 * threshold <= participants) return `threshold ${threshold} is not a strict majority of ${participants} participants`
  return undefined
}

/** Transcript encoding: unambiguous bytes for a list of strings (JSON of the array). */
const transcript = (parts: ReadonlyArray<string | number>): Uint8Array => utf8ToBytes(JSON.stringify(parts))

export interface Context {
  readonly taskId: string
  readonly attempt: number
}

/**
 * What a participant's chain account signs (EIP-191, `session.sign`) once per task attempt: "this Ed25519 key
 * speaks for me in this task attempt". Bound to task, attempt and participant, so a certificate cannot be
 * replayed into another task, attempt or identity.
 */
export const certificateMessage = (context: Context, participant: string, signingKey: Uint8Array): Uint8Array =>
  transcript(["jointly/secagg/v2/signing-key", context.taskId, context.attempt, participant, bytesToHex(signingKey)])

/** What a participant signs (with its certified signing key) in AdvertiseKeys: task, parameters, both public keys. */
export const advertisementMessage = (
  context: Context,
  parameters: Parameters,
  participant: string,
  channelPublicKey: Uint8Array,
  maskPublicKey: Uint8Array
): Uint8Array =>
  transcript([
    "jointly/secagg/v2/advertise",
    context.taskId,
    context.attempt,
    participant,
    parametersDigest(parameters),
    bytesToHex(channelPublicKey),
    bytesToHex(maskPublicKey)
  ])

/**
 * Digests already taken, per parameters object: every advertisement of an aggregation signs the same parameters,
 * and a participant checks up to n − 1 of them against the one decoded object (the cohort makes the transcript
 * kilobytes long). Parameters are immutable values, so the digest of an object never changes.
 */
const parameterDigests = new WeakMap<Parameters, string>()

const parametersDigest = (parameters: Parameters): string => {
  let digest = parameterDigests.get(parameters)
  if (digest === undefined) {
    digest = sha256Hex(transcript([
      "parameters",
      parameters.version,
      parameters.aggregationId,
      parameters.threshold,
      parameters.vectorLength,
      parameters.bits,
      ...parameters.cohort,
      // Appended only for a sparse graph, so complete-graph advertisements sign the same bytes as before.
      ...(parameters.neighbours === undefined ? [] : ["sparse", parameters.neighbours, parameters.shareThreshold ?? -1]),
      // Signed, so a coordinator cannot hand members different PRGs (their masks would not cancel) unnoticed.
      ...(parameters.prg === undefined ? [] : ["prg", parameters.prg])
    ]))
    parameterDigests.set(parameters, digest)
  }
  return digest
}

/** Associated data of the encrypted share pair from `sender` to `recipient`. */
export const shareAssociatedData = (context: Context, aggregationId: string, sender: string, recipient: string): Uint8Array =>
  transcript(["jointly/secagg/v1/shares", context.taskId, context.attempt, aggregationId, sender, recipient])

/** KeyAgreement contexts: the channel key and the pairwise mask seed come from different key pairs and labels. */
export const channelContext = (context: Context, aggregationId: string): string =>
  `jointly/secagg/v1/channel|${context.taskId}|${context.attempt}|${aggregationId}`
export const maskContext = (context: Context, aggregationId: string): string =>
  `jointly/secagg/v1/mask|${context.taskId}|${context.attempt}|${aggregationId}`

export const SELF_MASK_LABEL = "jointly/secagg/v1/self-mask"
export const PAIR_MASK_LABEL = "jointly/secagg/v1/pair-mask"

/** Binding, hiding (b_u is 256 random bits) commitment to the self-mask seed. */
export const selfMaskCommitment = (context: Context, aggregationId: string, owner: string, seed: Uint8Array): Uint8Array =>
  sha256(concatBytes(transcript(["jointly/secagg/v1/self-mask-commitment", context.taskId, context.attempt, aggregationId, owner]), seed))

/** The aggregation's PRG, or undefined when it names one this build does not know. */
export const prgOf = (parameters: Parameters): Prg.Name | undefined =>
  parameters.prg === undefined ? Prg.LEGACY_NAME : Prg.parseName(parameters.prg)

/** The graph's sparse parameters, or undefined for the complete graph (both fields absent). */
export const sparseOf = (parameters: Parameters): { readonly neighbours: number; readonly shareThreshold: number } | undefined =>
  parameters.neighbours === undefined && parameters.shareThreshold === undefined
    ? undefined
    : { neighbours: parameters.neighbours ?? -1, shareThreshold: parameters.shareThreshold ?? -1 }

/** The Shamir threshold of every sharing in the aggregation: t_k on a sparse graph, t on the complete one. */
export const shamirThreshold = (parameters: Parameters): number => parameters.shareThreshold ?? parameters.threshold

/** Sign of the pairwise mask u adds for peer v: + when u comes first in the cohort, − otherwise (they cancel). */
export const pairSign = (cohort: ReadonlyArray<string>, u: string, v: string): 1 | -1 =>
  cohort.indexOf(u) < cohort.indexOf(v) ? 1 : -1

/** A share pair travels as b-share ‖ s-share, both `SHARE_BYTES` long. */
export const SEED_BYTES = 32
export const SHARE_BYTES = SEED_BYTES + 1

const sha256Hex = (bytes: Uint8Array): string => bytesToHex(sha256(bytes))
