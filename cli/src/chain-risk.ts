/**
 * `jointly chain risk --q <share> --z <blocks> [--json]`: the attacker catch-up probability of the
 * authorization-contract source (core/src/ledger/CatchUp.ts, Nakamoto 2008 §11) — for an attacker holding a share
 * q of the hash power, the chance of ever overtaking a record buried under z blocks — with the curve for
 * 0…z confirmations and the confirmations that bring the risk below 0.1%. It bounds a longest-chain
 * proof-of-work network only: under PBFT/QBFT finality a committed block is final.
 */
import { catchUpProbability, confirmationsFor } from "@jointly/core/internal/ledger/CatchUp"

export interface RiskOptions {
  readonly q: number
  readonly z: number
  readonly json: boolean
}

/** The risk target of the `confirmations` line (Nakamoto's second table). */
const TARGET = 0.001

export interface Risk {
  readonly q: number
  readonly z: number
  readonly probability: number
  /** P for 0…z confirmations. */
  readonly curve: ReadonlyArray<{ readonly z: number; readonly probability: number }>
  /** The least z with P < 0.1%, or null when none exists (q ≥ 0.5). */
  readonly confirmationsForOneInAThousand: number | null
}

export const compute = (q: number, z: number): Risk => ({
  q,
  z,
  probability: catchUpProbability(q, z),
  curve: Array.from({ length: z + 1 }, (_, k) => ({ z: k, probability: catchUpProbability(q, k) })),
  confirmationsForOneInAThousand: q >= 0.5 ? null : confirmationsFor(q, TARGET)
})

const BAR = 40

/** The curve as text: one line per z with its probability and a bar on a log scale down to 10^−8. */
export const render = (risk: Risk): string => {
  const lines = [`attacker share q = ${risk.q}: probability of catching up from z blocks behind`]
  for (const { z, probability } of risk.curve) {
    const decades = probability <= 0 ? 8 : Math.min(8, -Math.log10(probability))
    const bar = "█".repeat(Math.round(((8 - decades) / 8) * BAR))
    lines.push(`  z = ${String(z).padStart(3)}  P = ${probability.toFixed(7)}  ${bar}`)
  }
  lines.push(
    risk.confirmationsForOneInAThousand === null
      ? "an attacker with half the power or more always catches up: no number of confirmations suffices"
      : `P < 0.1% from z = ${risk.confirmationsForOneInAThousand} confirmations (proof-of-work chains; PBFT/QBFT blocks are final once committed)`
  )
  return lines.join("\n") + "\n"
}

export const risk = (options: RiskOptions): void => {
  const result = compute(options.q, options.z)
  process.stdout.write(options.json ? JSON.stringify(result) + "\n" : render(result))
}
