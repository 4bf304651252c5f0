/**
 * The owner's side of access grants (PROTOCOLS.md §2.4-§2.5): before a task touches a catalogued dataset, the
 * participant itself asks the chain. A dataset published as `GrantRequired` serves a task only when the task's
 * initiator holds a grant that is Approved, unexpired, unrevoked, not exhausted, covers the task kind and — for
 * a grant with a scope — whose scope document, as the owner approved it, allows the task's kind and every column
 * it reads (OutOfScope otherwise, before the use is logged: a refused task leaves the grant as it was); the
 * use is then logged on chain (`AccessGrants.consume`, the §2.4 access log). A catalogued dataset whose local
 * content no longer hashes to its catalogue entry serves nothing until it is republished (§2.2 (e)).
 */
import { Schema } from "effect"
import { datasetIdOf, type GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import * as GrantScope from "@jointly/core/internal/ledger/GrantScope"

export class AccessDenied extends Schema.TaggedError<AccessDenied>()("AccessDenied", {
  reason: Schema.Literals(["NoGrant", "NotApproved", "Expired", "Revoked", "Exhausted", "DatasetRetired", "WrongPurpose", "ScopeUnknown", "ScopeMismatch", "OutOfScope", "ContentHashMismatch", "Unknown"]),
  dataset: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `access to dataset ${this.dataset} denied (${this.reason}): ${this.detail}`
  }
}

export interface GrantQuestion {
  readonly taskId: string
  readonly kind: string
  readonly initiator: string
  readonly dataset: string
  /** The columns the task reads from the dataset (its kind's declaration). */
  readonly columns: ReadonlyArray<string>
}

/** The scope document the owner kept when approving a grant (GrantScopes.ts); undefined when it has none. */
export type ScopeOf = (tokenId: string) => Promise<GrantScope.GrantScope | undefined>

export type Chain = Pick<GovernanceLedger, "account" | "getDataset" | "latestGrant" | "getGrant" | "checkGrant" | "consumeGrant">

/**
 * The token the task used, or undefined when the dataset needs none; throws AccessDenied. The local content
 * hash may be given as a function: it is then computed only for a catalogued dataset (a pass over its rows).
 */
export const check = async (
  chain: Chain,
  q: GrantQuestion,
  local: string | undefined | (() => Promise<string>),
  scopeOf: ScopeOf
): Promise<string | undefined> => {
  const datasetId = datasetIdOf(chain.account, q.dataset)
  const entry = await chain.getDataset(datasetId)
  if (entry === undefined) return undefined
  if (entry.state === "Retired") throw new AccessDenied({ reason: "DatasetRetired", dataset: q.dataset, detail: `catalogue entry ${datasetId} is retired` })
  const localContentHash = typeof local === "function" ? await local() : local
  if (localContentHash !== undefined && entry.contentHash.toLowerCase() !== localContentHash.toLowerCase()) {
    throw new AccessDenied({
      reason: "ContentHashMismatch",
      dataset: q.dataset,
      detail: `the file now hashes to ${localContentHash}, the catalogue (version ${entry.version}) says ${entry.contentHash}; republish it`
    })
  }
  if (entry.policy !== "GrantRequired") return undefined
  const tokenId = await chain.latestGrant(datasetId, q.initiator)
  if (tokenId === undefined) throw new AccessDenied({ reason: "NoGrant", dataset: q.dataset, detail: `${q.initiator} holds no grant for ${datasetId}` })
  const validity = await chain.checkGrant(tokenId)
  if (validity !== "Valid") throw new AccessDenied({ reason: validity === "Unknown" ? "NoGrant" : validity, dataset: q.dataset, detail: `grant ${tokenId} is ${validity}` })
  const grant = (await chain.getGrant(tokenId))!
  const purposes = grant.purpose.split(",").map((p) => p.trim())
  if (!purposes.includes("*") && !purposes.includes(q.kind)) {
    throw new AccessDenied({ reason: "WrongPurpose", dataset: q.dataset, detail: `grant ${tokenId} covers ${grant.purpose}, not ${q.kind}` })
  }
  if (!GrantScope.isUnscoped(grant.scopeHash)) {
    const scope = await scopeOf(tokenId)
    if (scope === undefined) throw new AccessDenied({ reason: "ScopeUnknown", dataset: q.dataset, detail: `grant ${tokenId} has a scope this participant did not keep when it was approved` })
    if (GrantScope.hashOf(scope).toLowerCase() !== grant.scopeHash.toLowerCase()) {
      throw new AccessDenied({ reason: "ScopeMismatch", dataset: q.dataset, detail: `the scope kept for grant ${tokenId} hashes to ${GrantScope.hashOf(scope)}, the chain says ${grant.scopeHash}` })
    }
    const violation = GrantScope.violation(scope, q.kind, q.columns)
    if (violation !== undefined) throw new AccessDenied({ reason: "OutOfScope", dataset: q.dataset, detail: `grant ${tokenId}: ${violation}` })
  }
  // Every use logged on chain; a grant exhausted or revoked in between makes this revert, and the task is refused.
  try {
    await chain.consumeGrant(tokenId, q.taskId)
  } catch (error) {
    throw new AccessDenied({ reason: "Unknown", dataset: q.dataset, detail: `could not log the use of grant ${tokenId}: ${(error as Error).message.split("\n")[0]}` })
  }
  return tokenId
}
