/**
 * What an initiator submits. The envelope is common to every task kind; `params` is decoded by the protocol
 * the kind names (`core/src/protocols/Protocols.ts`, declared with `defineProtocol`). The task id is the keccak
 * digest of the spec as the Schema decodes it (addresses checksummed), so the id itself commits to everything
 * the participants consent to, however the addresses were typed.
 */
import { Schema, SchemaGetter } from "effect"
import { getAddress } from "ethers"
import { digest } from "../wire/Canonical.ts"

const checksumProblem = (address: string): string | true => {
  try {
    getAddress(address)
    return true
  } catch {
    return "a mixed-case address whose EIP-55 checksum is wrong"
  }
}

/**
 * A chain account address; decoding checksums it (EIP-55), so every address a task names — in the envelope or
 * in a protocol's params — compares with `===` and hashes the same however it was typed.
 */
export const Address = Schema.String.check(
  Schema.isPattern(/^0x[0-9a-fA-F]{40}$/u),
  Schema.makeFilter(checksumProblem)
).pipe(Schema.decode({ decode: SchemaGetter.transform((address: string) => getAddress(address)), encode: SchemaGetter.transform((address: string) => address) }))

export const Party = Schema.Struct({
  /** The participant's chain account (its org's address). */
  participant: Address,
  /** Name of the dataset the participant registered locally. */
  dataset: Schema.String
})
export type Party = typeof Party.Type

export const TaskSpec = Schema.Struct({
  kind: Schema.String,
  name: Schema.optional(Schema.String),
  initiator: Address,
  /** Makes two otherwise identical submissions two tasks. */
  nonce: Schema.String,
  parties: Schema.NonEmptyArray(Party),
  params: Schema.Unknown,
  /** How long participants have to consent (default 5 minutes). */
  consentTimeoutMs: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))),
  /** How long one protocol round may wait for stragglers (default 60 s). */
  roundTimeoutMs: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))),
  /**
   * Who may read the result (the coordinator's API serves it to them alone). Absent: the initiator. Left out of
   * the canonical spec when absent, so the task id of a spec without recipients is what it always was.
   */
  recipients: Schema.optional(Schema.NonEmptyArray(Address))
})
export type TaskSpec = typeof TaskSpec.Type

/** The id of a spec: the digest of its decoded (checksummed) form. @throws when the spec does not decode. */
export const taskId = (spec: TaskSpec): string => digest(Schema.decodeUnknownSync(TaskSpec)(spec))

export const participantsOf = (spec: TaskSpec): ReadonlyArray<string> => spec.parties.map((p) => p.participant)

export const defaultConsentTimeoutMs = 5 * 60_000
export const defaultRoundTimeoutMs = 60_000
