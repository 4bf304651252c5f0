/**
 * SecAgg+ (Bell, Bonawitz, Gascón, Lepoint, Raykova, "Secure Single-Server Aggregation with (Poly)Logarithmic
 * Overhead", CCS 2020): each participant masks with, and secret-shares to, only its k neighbours on a public
 * random k-regular graph instead of all n − 1 peers, so masking costs O(k·d) per participant rather than
 * O(n·d), and the coordinator's dropout recovery O(dropped·k·d) rather than O(dropped·survivors·d).
 *
 * The graph: the cohort in a random cyclic order, each participant adjacent to the k/2 nearest on either side
 * (a Harary circulant over a random permutation). The order is a Fisher–Yates shuffle driven by the PRG over
 * SHA-256(task, attempt, aggregation id, cohort), so both roles derive the same graph from the signed
 * parameters and the coordinator cannot hand different participants different graphs.
 *
 * The default k and share threshold t_k (`plusParameters`) are the smallest that satisfy, by union bounds
 * (binomial tails, computed exactly), for dropouts of a fraction δ (the aggregation's dropout tolerance / n)
 * and colluding participants of a fraction γ = CORRUPT_FRACTION, both independent of the random order:
 *  - privacy, 2^-SECURITY_BITS: no participant has t_k colluding neighbours (n·P[Bin(k, γ) ≥ t_k]); and the
 *    honest contributors stay connected — the circulant loses connectivity only if some k/2 consecutive
 *    positions are all dropped or colluding (n·(δ+γ)^(k/2)); a disconnected component would let the coordinator
 *    learn that component's sum.
 *  - correctness, 2^-CORRECTNESS_BITS: every participant keeps t_k surviving share holders among itself and its
 *    k neighbours (n·P[Bin(k+1, 1−δ) < t_k]); otherwise the run fails with TooManyDropouts, never a wrong sum.
 * When no k < n − 1 satisfies them (small cohorts, heavy dropout), the graph is complete and the protocol is
 * Bonawitz et al.'s unchanged (threshold over the whole cohort).
 *
 * Participants check the shape of (k, t_k) (`problem`) and still refuse to unmask fewer than the aggregation's
 * threshold of contributors, but not that (k, t_k) meet the bounds above: like the dropout tolerance, the
 * coordinator picks them, and the bounds hold for a coordinator that follows the rule (the semi-honest setting of
 * server.ts). The bounds are union bounds over independent dropouts and collusion; dropouts chosen adversarially
 * after the graph is known (e.g. all neighbours of one node) break correctness only — a TooManyDropouts failure.
 */
import { sha256 } from "@noble/hashes/sha2.js"
import { utf8ToBytes } from "@noble/hashes/utils.js"
import * as Prg from "../../crypto/Prg.ts"

export const SECURITY_BITS = 40
export const CORRECTNESS_BITS = 20
/** γ: the fraction of colluding participants the default parameters are sized against. */
export const CORRUPT_FRACTION = 0.05

export interface Sparse {
  /** k: even, 2 ≤ k ≤ n − 2. */
  readonly neighbours: number
  /** t_k: shares of a participant's secrets needed to reconstruct them, among itself and its k neighbours. */
  readonly shareThreshold: number
}

/** Why (k, t_k) is not a well-formed sparse graph for a cohort of n, or undefined. */
export const problem = (sparse: Sparse, participants: number): string | undefined => {
  const { neighbours: k, shareThreshold: t } = sparse
  if (!Number.isInteger(k) || k < 2 || k % 2 !== 0) return `neighbours must be an even integer ≥ 2, got ${k}`
  if (k > participants - 2) return `neighbours ${k} leaves no peer out among ${participants} participants (use the complete graph)`
  if (!Number.isInteger(t) || t < 2 || t > k + 1) return `share threshold must be an integer in [2, ${k + 1}], got ${t}`
  return undefined
}

const log2Binomial = (n: number, k: number) => {
  let r = 0
  for (let i = 0; i < k; i++) r += Math.log2(n - i) - Math.log2(i + 1)
  return r
}

/** log2 P[Bin(m, p) ∈ [from, to]]. */
const log2BinomialMass = (m: number, p: number, from: number, to: number) => {
  if (p <= 0) return from <= 0 ? 0 : -Infinity
  if (p >= 1) return to >= m ? 0 : -Infinity
  let sum = 0
  for (let i = Math.max(0, from); i <= Math.min(m, to); i++) sum += 2 ** (log2Binomial(m, i) + i * Math.log2(p) + (m - i) * Math.log2(1 - p))
  return Math.log2(sum)
}

/**
 * The default (k, t_k) for n participants of which up to `dropoutTolerance` may drop out (module doc), or
 * undefined for the complete graph.
 */
export const plusParameters = (participants: number, dropoutTolerance: number): Sparse | undefined => {
  const n = participants
  const delta = dropoutTolerance / n
  const gamma = CORRUPT_FRACTION
  const logN = Math.log2(n)
  for (let k = 2; k <= n - 2; k += 2) {
    if (logN + (k / 2) * Math.log2(delta + gamma) > -SECURITY_BITS) continue
    for (let t = 2; t <= k + 1; t++) {
      const leaks = logN + log2BinomialMass(k, gamma, t, k)
      const fails = logN + log2BinomialMass(k + 1, 1 - delta, 0, t - 1)
      if (leaks <= -SECURITY_BITS && fails <= -CORRECTNESS_BITS) return { neighbours: k, shareThreshold: t }
    }
  }
  return undefined
}

/** t_k for a k chosen by the caller rather than the rule: a strict majority of the k + 1 holders. */
export const shareThresholdFor = (neighbours: number): number => Math.floor(neighbours / 2) + 1

const GRAPH_LABEL = "jointly/secagg/v2/graph"

/**
 * Adjacency of the graph of one aggregation: `cohort` member → its neighbours (never itself). With `sparse`
 * undefined every member is adjacent to every other.
 */
export const graph = (
  context: { readonly taskId: string; readonly attempt: number },
  aggregationId: string,
  cohort: ReadonlyArray<string>,
  sparse: Sparse | undefined
): ReadonlyMap<string, ReadonlySet<string>> => {
  const n = cohort.length
  if (sparse === undefined) return new Map(cohort.map((u) => [u, new Set(cohort.filter((v) => v !== u))]))
  const seed = sha256(utf8ToBytes(JSON.stringify([GRAPH_LABEL, context.taskId, context.attempt, aggregationId, ...cohort])))
  const random = Prg.expandLimbs(seed, GRAPH_LABEL, n, 32)
  const order = [...cohort]
  // Fisher–Yates; the modulo bias (< n/2^32) only skews a public order, not a secret.
  for (let i = n - 1; i > 0; i--) {
    const j = random[i]! % (i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const half = sparse.neighbours / 2
  return new Map(order.map((u, p) => {
    const adjacent = new Set<string>()
    for (let j = 1; j <= half; j++) {
      adjacent.add(order[(p + j) % n]!)
      adjacent.add(order[(p - j + n) % n]!)
    }
    return [u, adjacent] as const
  }))
}
