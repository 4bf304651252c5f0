import { Schema } from "effect"

/** Threshold-Paillier failures; `parties` names the share indices (1…n) at fault, so a cheater is named. */
export const ThresholdPaillierErrorReason = Schema.Literals([
  "InvalidParameters", // t or n out of range, duplicate or empty party ids
  "InvalidPartialDecryption", // the zero-knowledge proof of a partial decryption does not verify
  "NotEnoughShares", // fewer than t valid partial decryptions
  "DuplicateShare", // two partial decryptions with the same index
  "UnknownParty", // an index outside 1…n
  "ShareMismatch", // a key share inconsistent with its published verification key v_i
  "KeyMismatch" // share, partial decryption or ciphertext under another key
])
export type ThresholdPaillierErrorReason = typeof ThresholdPaillierErrorReason.Type

export class ThresholdPaillierError extends Schema.TaggedError<ThresholdPaillierError>()("ThresholdPaillierError", {
  reason: ThresholdPaillierErrorReason,
  parties: Schema.Array(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    const who = this.parties.length > 0 ? ` (parties ${this.parties.join(", ")})` : ""
    return `threshold paillier ${this.reason}${who}: ${this.detail}`
  }
}

export const fail = (reason: ThresholdPaillierErrorReason, detail: string, parties: ReadonlyArray<number> = []): never => {
  throw new ThresholdPaillierError({ reason, detail, parties: [...parties] })
}
