/**
 * Threshold-Paillier batch work for the participant worker pool (see paillier/Jobs.ts for the conventions):
 *
 *   threshold-paillier.partial-decrypt-batch  frames[publicKey, keyShare, ciphertexts] → frames[partial_1 … partial_k]
 *   threshold-paillier.verify-batch           frames[publicKey, ciphertexts, partial_1 … partial_k] → one byte per partial (1 = valid)
 *   threshold-paillier.partial-decrypt-values frames[publicKey, keyShare, ciphertexts] → frames[c_{i,1} … c_{i,k}] (no proofs)
 *   threshold-paillier.prove-batch            frames[publicKey, keyShare, ciphertexts, values] → one batch (one proof for all, ThresholdPaillier.ts)
 *   threshold-paillier.verify-batch-proof     frames[publicKey, ciphertexts, batch] → one byte (1 = the batch's proof verifies)
 *   threshold-paillier.verify-batch-proofs    frames[publicKey, ciphertexts, batch_1 … batch_m] → one byte (1 = every batch's proof
 *                                             verifies; one randomized test, ThresholdPaillier.ts "Several parties' batches at once")
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { frames, fromBytes, toFixed, unframe } from "../paillier/Bytes.ts"
import { keyCache, type Job } from "../paillier/Jobs.ts"
import type { KeySizePolicy } from "../paillier/Keys.ts"
import type { Ciphertext } from "../paillier/Paillier.ts"
import { fail } from "../paillier/PaillierError.ts"
import * as PaillierSerialization from "../paillier/Serialization.ts"
import { acceptShare } from "./Dealer.ts"
import * as Serialization from "./Serialization.ts"
import {
  type KeyShare,
  partialDecryptBatch,
  partialDecryptValues,
  type PartialDecryption,
  proveBatch,
  type ThresholdPublicKey,
  verifyPartialDecryption,
  verifyPartialDecryptionBatch,
  verifyPartialDecryptionBatches
} from "./ThresholdPaillier.ts"

export const JobNames = {
  partialDecryptBatch: "threshold-paillier.partial-decrypt-batch",
  verifyBatch: "threshold-paillier.verify-batch",
  partialDecryptValues: "threshold-paillier.partial-decrypt-values",
  proveBatch: "threshold-paillier.prove-batch",
  verifyBatchProof: "threshold-paillier.verify-batch-proof",
  verifyBatchProofs: "threshold-paillier.verify-batch-proofs"
} as const

const valueWidth = (tpk: ThresholdPublicKey) => tpk.publicKey.bits / 4
export const encodeValues = (tpk: ThresholdPublicKey, values: ReadonlyArray<bigint>): Uint8Array => frames(values.map((x) => toFixed(x, valueWidth(tpk))))
export const decodeValues = (tpk: ThresholdPublicKey, bytes: Uint8Array): Array<bigint> =>
  unframe(bytes, "partial decryption values").map((b) => {
    if (b.length !== valueWidth(tpk)) fail("Encoding", `partial decryption value of ${b.length} bytes`)
    return fromBytes(b)
  })

export const makeThresholdJobs = (kernels: BigIntKernels = tsKernels, policy: KeySizePolicy = {}): Record<string, Job> => {
  const publicKeys = keyCache<ThresholdPublicKey>((b) => Serialization.decodePublicKey(b, policy))
  const shares = new Map<string, KeyShare>()
  /** The accepted share of these bytes (acceptShare checks it against v_i once per share, not per job). */
  const shareOf = (tpk: ThresholdPublicKey, bytes: Uint8Array): KeyShare => {
    const shareKey = Serialization.fingerprint(tpk) + ":" + Array.from(bytes.subarray(-16)).join(",")
    let share = shares.get(shareKey)
    if (share === undefined || Serialization.encodeKeyShare(share).some((b, i) => b !== bytes[i])) {
      share = acceptShare(tpk, bytes, undefined, kernels)
      shares.set(shareKey, share)
      if (shares.size > 8) shares.delete(shares.keys().next().value!)
    }
    return share
  }
  const framed = (input: Uint8Array, job: string, count: number) => {
    const parts = unframe(input, job)
    if (parts.length !== count) fail("Encoding", `${job}: expected ${count} frames, got ${parts.length}`)
    return parts
  }
  return {
    [JobNames.partialDecryptBatch]: (input) => {
      const parts = framed(input, JobNames.partialDecryptBatch, 3)
      const tpk = publicKeys(parts[0]!)
      const share = shareOf(tpk, parts[1]!)
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, parts[2]!)
      return frames(partialDecryptBatch(share, cs, kernels).map((p) => Serialization.encodePartialDecryption(tpk, p)))
    },
    [JobNames.partialDecryptValues]: (input) => {
      const parts = framed(input, JobNames.partialDecryptValues, 3)
      const tpk = publicKeys(parts[0]!)
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, parts[2]!)
      return encodeValues(tpk, partialDecryptValues(shareOf(tpk, parts[1]!), cs, kernels))
    },
    [JobNames.proveBatch]: (input) => {
      const parts = framed(input, JobNames.proveBatch, 4)
      const tpk = publicKeys(parts[0]!)
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, parts[2]!)
      return Serialization.encodePartialDecryptionBatch(tpk, proveBatch(shareOf(tpk, parts[1]!), cs, decodeValues(tpk, parts[3]!), kernels))
    },
    [JobNames.verifyBatchProof]: (input) => {
      const parts = framed(input, JobNames.verifyBatchProof, 3)
      const tpk = publicKeys(parts[0]!)
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, parts[1]!)
      try {
        return Uint8Array.of(verifyPartialDecryptionBatch(tpk, cs, Serialization.decodePartialDecryptionBatch(tpk, parts[2]!), kernels) ? 1 : 0)
      } catch {
        return Uint8Array.of(0)
      }
    },
    [JobNames.verifyBatchProofs]: (input) => {
      const [pkBytes, ctBytes, ...batchBytes] = unframe(input, JobNames.verifyBatchProofs)
      if (pkBytes === undefined || ctBytes === undefined || batchBytes.length === 0) fail("Encoding", `${JobNames.verifyBatchProofs}: expected key, ciphertext and batch frames`)
      const tpk = publicKeys(pkBytes!)
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, ctBytes!)
      try {
        return Uint8Array.of(verifyPartialDecryptionBatches(tpk, cs, batchBytes.map((b) => Serialization.decodePartialDecryptionBatch(tpk, b)), kernels) ? 1 : 0)
      } catch {
        return Uint8Array.of(0)
      }
    },
    [JobNames.verifyBatch]: (input) => {
      const [pkBytes, ctBytes, ...partialBytes] = unframe(input, JobNames.verifyBatch)
      if (pkBytes === undefined || ctBytes === undefined) fail("Encoding", `${JobNames.verifyBatch}: expected key and ciphertext frames`)
      const tpk = publicKeys(pkBytes!)
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, ctBytes!)
      if (cs.length !== partialBytes.length) fail("Encoding", `${JobNames.verifyBatch}: ${cs.length} ciphertexts, ${partialBytes.length} partials`)
      return Uint8Array.from(partialBytes, (b, i) => {
        try {
          return verifyPartialDecryption(tpk, cs[i]!, Serialization.decodePartialDecryption(tpk, b), kernels) ? 1 : 0
        } catch {
          return 0
        }
      })
    }
  }
}

export const partialDecryptBatchInput = (share: KeyShare, cs: ReadonlyArray<Ciphertext>): Uint8Array =>
  frames([
    Serialization.encodePublicKey(share.publicKey),
    Serialization.encodeKeyShare(share),
    PaillierSerialization.encodeCiphertexts(share.publicKey.publicKey, cs)
  ])

export const verifyBatchInput = (tpk: ThresholdPublicKey, cs: ReadonlyArray<Ciphertext>, partials: ReadonlyArray<PartialDecryption>): Uint8Array =>
  frames([
    Serialization.encodePublicKey(tpk),
    PaillierSerialization.encodeCiphertexts(tpk.publicKey, cs),
    ...partials.map((p) => Serialization.encodePartialDecryption(tpk, p))
  ])

export const thresholdJobs: Record<string, Job> = makeThresholdJobs()

export const partialDecryptValuesInput = partialDecryptBatchInput

export const proveBatchInput = (share: KeyShare, cs: ReadonlyArray<Ciphertext>, values: ReadonlyArray<bigint>): Uint8Array =>
  frames([
    Serialization.encodePublicKey(share.publicKey),
    Serialization.encodeKeyShare(share),
    PaillierSerialization.encodeCiphertexts(share.publicKey.publicKey, cs),
    encodeValues(share.publicKey, values)
  ])

export const verifyBatchProofInput = (tpk: ThresholdPublicKey, cs: ReadonlyArray<Ciphertext>, batch: Uint8Array): Uint8Array =>
  frames([Serialization.encodePublicKey(tpk), PaillierSerialization.encodeCiphertexts(tpk.publicKey, cs), batch])

export const verifyBatchProofsInput = (tpk: ThresholdPublicKey, cs: ReadonlyArray<Ciphertext>, batches: ReadonlyArray<Uint8Array>): Uint8Array =>
  frames([Serialization.encodePublicKey(tpk), PaillierSerialization.encodeCiphertexts(tpk.publicKey, cs), ...batches])
