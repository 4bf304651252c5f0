/**
 * Threshold-Paillier batch work for the participant worker pool (see paillier/Jobs.ts for the conventions):
 *
 *   threshold-paillier.partial-decrypt-batch  frames[publicKey, keyShare, ciphertexts] → frames[partial_1 … partial_k]
 *   threshold-paillier.verify-batch           frames[publicKey, ciphertexts, partial_1 … partial_k] → one byte per partial (1 = valid)
 */
import type { BigIntKernels } from "../../compute/Kernels.ts"
import { tsKernels } from "../../compute/TsKernels.ts"
import { frames, unframe } from "../paillier/Bytes.ts"
import { keyCache, type Job } from "../paillier/Jobs.ts"
import type { KeySizePolicy } from "../paillier/Keys.ts"
import type { Ciphertext } from "../paillier/Paillier.ts"
import { fail } from "../paillier/PaillierError.ts"
import * as PaillierSerialization from "../paillier/Serialization.ts"
import { acceptShare } from "./Dealer.ts"
import * as Serialization from "./Serialization.ts"
import { type KeyShare, partialDecryptBatch, type PartialDecryption, type ThresholdPublicKey, verifyPartialDecryption } from "./ThresholdPaillier.ts"

export const JobNames = {
  partialDecryptBatch: "threshold-paillier.partial-decrypt-batch",
  verifyBatch: "threshold-paillier.verify-batch"
} as const

export const makeThresholdJobs = (kernels: BigIntKernels = tsKernels, policy: KeySizePolicy = {}): Record<string, Job> => {
  const publicKeys = keyCache<ThresholdPublicKey>((b) => Serialization.decodePublicKey(b, policy))
  const shares = new Map<string, KeyShare>()
  return {
    [JobNames.partialDecryptBatch]: (input) => {
      const parts = unframe(input, JobNames.partialDecryptBatch)
      if (parts.length !== 3) fail("Encoding", `${JobNames.partialDecryptBatch}: expected 3 frames, got ${parts.length}`)
      const tpk = publicKeys(parts[0]!)
      const shareKey = Serialization.fingerprint(tpk) + ":" + Array.from(parts[1]!.subarray(-16)).join(",")
      let share = shares.get(shareKey)
      if (share === undefined || Serialization.encodeKeyShare(share).some((b, i) => b !== parts[1]![i])) {
        share = acceptShare(tpk, parts[1]!, undefined, kernels)
        shares.set(shareKey, share)
        if (shares.size > 8) shares.delete(shares.keys().next().value!)
      }
      const cs = PaillierSerialization.decodeCiphertexts(tpk.publicKey, parts[2]!)
      return frames(partialDecryptBatch(share, cs, kernels).map((p) => Serialization.encodePartialDecryption(tpk, p)))
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
