/**
 * What an initiator submits. The envelope is common to every task kind; `params` is decoded by the protocol
 * the kind names (core/src/protocols/registry.ts). The task id is the keccak digest of the canonical spec, so
 * the id itself commits to everything the participants consent to.
 */
import { Schema } from "effect"
import { getAddress } from "ethers"
import { digest } from "../wire/Canonical.ts"

export const Address = Schema.String.check(Schema.isPattern(/^0x[0-9a-fA-F]{40}$/u))

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

export const taskId = (spec: TaskSpec): string => digest(normalizeAddresses(spec))

/** Checksummed addresses, so the same task typed in lower case hashes the same. */
export const normalizeAddresses = (spec: TaskSpec): TaskSpec => ({
  ...spec,
  initiator: getAddress(spec.initiator),
  parties: spec.parties.map((p) => ({ ...p, participant: getAddress(p.participant) })) as unknown as TaskSpec["parties"],
  ...(spec.recipients === undefined ? {} : { recipients: spec.recipients.map((a) => getAddress(a)) as unknown as TaskSpec["recipients"] })
})

/** Who receives the task's result: the spec's `recipients`, else its initiator (checksummed). */
export const recipientsOf = (spec: TaskSpec): ReadonlyArray<string> =>
  spec.recipients === undefined ? [getAddress(spec.initiator)] : spec.recipients.map((a) => getAddress(a))

export const participantsOf = (spec: TaskSpec): ReadonlyArray<string> => spec.parties.map((p) => getAddress(p.participant))

export const defaultConsentTimeoutMs = 5 * 60_000
export const defaultRoundTimeoutMs = 60_000
