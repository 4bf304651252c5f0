/**
 * The valuation record a contribution task (`incentives.shapley`) leaves with the valuer — the consumer T of
 * PROTOCOLS.md §9 — and the hashes it commits: what T needs to post a settlement (`Settlement{period, v, phiH[],
 * phiM, phiT, P[], testSetHash, modelHashes[]}`) and to answer a dispute by revealing the scores.
 *
 *  - `testSetHash(header, rows)`: keccak256 of the test set's used columns as CSV text (header line, then one
 *    line per row, values as written), so T can show the file it committed to before any model was scored.
 *  - `scoresHash`: keccak256(abi.encode(salt, scores)) over the fixed-point table by coalition mask (scores[0] = 0,
 *    F1·10^9) — the settlement contract's commitment form, so a revealed table checks on chain; tables of the
 *    sampling methods (not one score per coalition) commit keys and scores: abi.encode(salt, keys, scores).
 *  - `streamInput(table)`: the score table as the settlement's per-stream inputs (owners, scores, salt, test-set
 *    and model hashes); price, uses, third party and miners come from the period being settled.
 * Pure: no I/O.
 */
import { Schema } from "effect"
import { AbiCoder, keccak256, toUtf8Bytes } from "ethers"
import { Confusion } from "../models/Metrics.ts"
import * as Valuation from "./Valuation.ts"

/** One scored model: coalition `coalition` (mask over owners) of round `round` (0 = a whole training). */
export const ScoreEntry = Schema.Struct({
  round: Schema.Int,
  coalition: Schema.Int,
  worth: Schema.Finite,
  confusion: Confusion
})
export type ScoreEntry = typeof ScoreEntry.Type

/** What the valuer keeps (its task output): the table, its salt and what it was committed with. */
export const ScoreTable = Schema.Struct({
  taskId: Schema.String,
  method: Schema.Literals(["exact", "monte-carlo", "round-reconstruction"]),
  metric: Schema.Literals(["f1", "accuracy"]),
  /** Owner addresses; owner i is bit i of a coalition mask. */
  owners: Schema.Array(Schema.String),
  /** Fixed-point unit of `scores` (a score s is round(worth · scale)). */
  scale: Schema.Int,
  /** 32 random bytes (0x hex) that keep the committed hash from being checked against guessed tables. */
  salt: Schema.String,
  /** exact: the fixed-point worth of every coalition by mask, as decimal strings; scores[0] = "0". */
  scores: Schema.optional(Schema.Array(Schema.String)),
  entries: Schema.Array(ScoreEntry),
  scoresHash: Schema.String,
  testSetHash: Schema.String,
  /** The digest of the task's params the coordinator committed as `shapley/recipe`. */
  recipeHash: Schema.String,
  modelHashes: Schema.Array(Schema.String)
})
export type ScoreTable = typeof ScoreTable.Type

const abi = AbiCoder.defaultAbiCoder()

/** CSV text of the used columns, exactly as the file holds their values. */
const csvText = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header.join(","), ...rows.map((r) => r.join(","))].join("\n") + "\n"

export const testSetHash = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  keccak256(toUtf8Bytes(csvText(header, rows)))

export const fixedPoint = (worth: number, scale: number): bigint => BigInt(Math.round(worth * scale))

/** The settlement contract's commitment to a full table (scores by mask): the stream's `scoresHash`. */
export const tableHash = Valuation.scoresHash

/** The settlement of contribution task `taskId`: one per task, so a table is paid at most once. */
export const settlementIdOf = (taskId: string): string => keccak256(toUtf8Bytes(`jointly/settlement/incentives.shapley/${taskId}`))

/** The commitment to a sampled table: keys round·2^32 + mask, and their scores. */
export const entriesHash = (salt: string, entries: ReadonlyArray<{ readonly round: number; readonly coalition: number; readonly score: bigint }>): string =>
  keccak256(abi.encode(["bytes32", "uint256[]", "uint256[]"], [salt, entries.map((e) => (BigInt(e.round) << 32n) + BigInt(e.coalition)), entries.map((e) => e.score)]))

/** Recomputes a table's committed hash from what it holds (what a dispute or an auditor checks). */
export const hashOf = (table: ScoreTable): string =>
  table.scores !== undefined
    ? tableHash(table.salt, table.scores.map(BigInt))
    : entriesHash(table.salt, table.entries.map((e) => ({ round: e.round, coalition: e.coalition, score: fixedPoint(e.worth, table.scale) })))

export interface StreamInput {
  readonly owners: ReadonlyArray<string>
  readonly scores: ReadonlyArray<bigint>
  readonly salt: string
  readonly testSetHash: string
  readonly modelHashes: ReadonlyArray<string>
}

/**
 * The per-stream inputs of a settlement from an exact table. @throws RangeError for a sampled table: the contract
 * re-derives the shares from one score per coalition, which only the exact method has.
 */
export const streamInput = (table: ScoreTable): StreamInput => {
  if (table.scores === undefined) throw new RangeError(`a ${table.method} valuation has no score per coalition for the settlement contract to check; value exactly (≤ 10 owners)`)
  return { owners: table.owners, scores: table.scores.map(BigInt), salt: table.salt, testSetHash: table.testSetHash, modelHashes: table.modelHashes }
}
