// A task's id as the coordinator computes it (core/src/task/TaskSpec.ts `taskId`): keccak256 over the canonical JSON
// of the spec as its Schema decodes it — the envelope's declared fields only (kinds.js, generated from the Schema),
// every envelope address EIP-55 checksummed, params as given. The canonical JSON is core's own file
// (/dashboard/canonical-json.js) and keccak256 and the checksum are ethers', the library the coordinator uses, so
// the id the wallet signs here is the server's byte for byte (Dashboard.test.ts checks it against TaskSpec.taskId).
import { canonicalJson } from "./canonical-json.js"
import { envelope } from "./kinds.js"
import { getAddress, keccak256, toUtf8Bytes } from "./vendor/ethers.js"

const pick = (value, fields) => Object.fromEntries(fields.filter((f) => value[f] !== undefined).map((f) => [f, value[f]]))

/** The spec as the coordinator's Schema decodes it: declared fields, checksummed addresses. */
export const decodedSpec = (spec) => {
  const out = pick(spec, envelope.task)
  out.initiator = getAddress(spec.initiator)
  out.parties = spec.parties.map((p) => ({ ...pick(p, envelope.party), participant: getAddress(p.participant) }))
  if (spec.recipients !== undefined) out.recipients = spec.recipients.map((a) => getAddress(a))
  return out
}

/** The task id (0x-prefixed keccak256 hex) of a spec. */
export const taskIdOf = (spec) => keccak256(toUtf8Bytes(canonicalJson(decodedSpec(spec))))
