/**
 * What an access grant allows (PROTOCOLS.md §2.4 step 2): the columns of the dataset a task may read and, when
 * set, the task kinds. The chain stores only `scopeHash`, a commitment to this document; the requester hands
 * the document to the owner, who approves it knowing what it says and keeps it, and the owner's participant
 * checks every task against it before computing anything (participant/src/governance/GrantGuard.ts).
 *
 * The hash is keccak-256 of a canonical encoding — keys in a fixed order, lists sorted and deduplicated — so
 * the same scope written twice hashes the same. A grant requested without a scope carries the zero hash and
 * covers every column (its on-chain purpose still limits the task kinds).
 */
import { Schema } from "effect"
import { keccak256, toUtf8Bytes } from "ethers"
import { type Hex, ZERO_HASH } from "./Ledger.ts"

export const GrantScope = Schema.Struct({
  version: Schema.Literal(1),
  /** Columns a task may read (its declared columns, ProtocolDefinition.columns), by name. */
  columns: Schema.NonEmptyArray(Schema.String),
  /** Task kinds the grant covers; absent: those the grant's purpose names. */
  kinds: Schema.optional(Schema.NonEmptyArray(Schema.String))
})
export type GrantScope = typeof GrantScope.Type

export const decode = Schema.decodeUnknownSync(GrantScope)

const canonicalList = (xs: ReadonlyArray<string>) => [...new Set(xs)].sort()

/** The canonical text of a scope: what the hash commits to. */
export const canonical = (scope: GrantScope): string =>
  JSON.stringify({ version: scope.version, columns: canonicalList(scope.columns), ...(scope.kinds === undefined ? {} : { kinds: canonicalList(scope.kinds) }) })

export const hashOf = (scope: GrantScope): Hex => keccak256(toUtf8Bytes(canonical(scope))) as Hex

/** True when the grant was requested without a scope document (every column). */
export const isUnscoped = (scopeHash: string): boolean => scopeHash.toLowerCase() === ZERO_HASH

/** Why `scope` does not allow a task of `kind` reading `columns`; undefined when it does. */
export const violation = (scope: GrantScope, kind: string, columns: ReadonlyArray<string>): string | undefined => {
  if (scope.kinds !== undefined && !scope.kinds.includes(kind)) return `the grant's scope covers the kinds ${scope.kinds.join(", ")}, not ${kind}`
  const outside = [...new Set(columns)].filter((c) => !scope.columns.includes(c))
  if (outside.length > 0) return `the task reads ${outside.join(", ")}, outside the grant's scope (${scope.columns.join(", ")})`
  return undefined
}
