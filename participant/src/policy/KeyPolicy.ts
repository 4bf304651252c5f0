/**
 * The smallest keys a participant accepts (issue 12 item 4): Paillier and threshold Paillier 2048 bits and CKKS
 * 128-bit security by default, raised — never lowered — by the consent policy's `keys` rule. The agent checks
 * every offer's key material (`ProtocolDefinition.keyMaterial`) against them before its policy is even asked,
 * so a task below them gets a signed rejection naming the size, whatever its params say.
 *
 * Only the test harness runs with smaller keys: `unsafeTestKeySizes` (an agent option, `--unsafe-test-key-sizes`
 * of `jointly participant`) drops the minimums to what the rule says, or to none.
 */
import { Schema } from "effect"
import { type KeyMaterial, productionMinimums, shortfall } from "@jointly/core/internal/crypto/KeyMaterial"

export const KeyRule = Schema.Struct({
  /** Smallest Paillier / threshold-Paillier modulus, in bits (2048 or more). */
  minPaillierBits: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(productionMinimums.paillierBits))),
  /** Smallest CKKS security level, in bits. */
  minCkksSecurity: Schema.optional(Schema.Literals([128, 192, 256]))
})
export type KeyRule = typeof KeyRule.Type

export interface Minimums {
  readonly paillierBits: number
  readonly ckksSecurity: number
}

/** The minimums in force: the rule's (at least production sizes), or under the test harness the rule's or none. */
export const minimums = (rule: KeyRule | undefined, options: { readonly unsafeTestKeySizes?: boolean } = {}): Minimums =>
  options.unsafeTestKeySizes === true
    ? { paillierBits: rule?.minPaillierBits ?? 0, ckksSecurity: rule?.minCkksSecurity ?? 0 }
    : {
      paillierBits: Math.max(rule?.minPaillierBits ?? 0, productionMinimums.paillierBits),
      ckksSecurity: Math.max(rule?.minCkksSecurity ?? 0, productionMinimums.ckksSecurity)
    }

/** Why a task's key material is refused, naming the size; undefined when it is acceptable. */
export const refusal = (material: KeyMaterial, floor: Minimums): string | undefined => shortfall(material, floor)
