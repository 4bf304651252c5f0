/**
 * The key material a task makes its parties generate or trust, as each protocol declares it from its params
 * (`ProtocolDefinition.keyMaterial`), so a participant can refuse weak keys at consent whatever the task asks
 * (issue 12 item 4): the Paillier / threshold-Paillier modulus size, and the security level of CKKS parameters.
 *
 * Test-size keys exist only for the test harness: a host that runs stage handlers for a test provides
 * `TestKeySizes` = true; no task param can ask for them.
 */
import { Context } from "effect"

export interface KeyMaterial {
  /** Bits of the Paillier or threshold-Paillier modulus N the parties generate or encrypt under. */
  readonly paillierBits?: number
  /** Classical security level in bits of the CKKS parameters (0 when below 128). */
  readonly ckksSecurity?: number
}

/** What a participant accepts unless its policy asks for more (PROTOCOLS.md §0). */
export const productionMinimums = { paillierBits: 2048, ckksSecurity: 128 } as const

/**
 * Largest total coefficient-modulus size (bits) for a ring dimension at 128, 192 and 256-bit classical
 * security: the Homomorphic Encryption Standard's table for ternary secrets, which SEAL enforces
 * (`CoeffModulus::MaxBitCount`).
 */
const ckksBounds: Readonly<Record<number, readonly [number, number, number]>> = {
  1024: [27, 19, 14],
  2048: [54, 37, 29],
  4096: [109, 75, 58],
  8192: [218, 152, 118],
  16384: [438, 305, 237],
  32768: [881, 611, 476]
}

/** The security level of CKKS parameters: 256, 192 or 128, or 0 when they fall below 128 bits. */
export const ckksSecurity = (p: { readonly polyModulusDegree: number; readonly coeffModulusBits: ReadonlyArray<number> }): number => {
  const bounds = ckksBounds[p.polyModulusDegree]
  if (bounds === undefined) return 0
  const total = p.coeffModulusBits.reduce((sum, bits) => sum + bits, 0)
  return total <= bounds[2] ? 256 : total <= bounds[1] ? 192 : total <= bounds[0] ? 128 : 0
}

/** The first way `material` falls short of `minimums`, in words naming the size; undefined when it does not. */
export const shortfall = (material: KeyMaterial, minimums: { readonly paillierBits: number; readonly ckksSecurity: number }): string | undefined => {
  if (material.paillierBits !== undefined && material.paillierBits < minimums.paillierBits) {
    return `the task asks for ${material.paillierBits}-bit Paillier keys; this participant accepts ${minimums.paillierBits} bits or more`
  }
  if (material.ckksSecurity !== undefined && material.ckksSecurity < minimums.ckksSecurity) {
    const level = material.ckksSecurity === 0 ? "below 128-bit" : `${material.ckksSecurity}-bit`
    return `the task's CKKS parameters give ${level} security; this participant accepts ${minimums.ckksSecurity}-bit or more`
  }
  return undefined
}

/**
 * Set by the test harness only (ProtocolHost's `unsafeTestKeySizes`): stage handlers may then generate and
 * accept keys below the production sizes. False everywhere else.
 */
export const TestKeySizes = Context.Reference<boolean>("jointly/TestKeySizes", { defaultValue: () => false })
