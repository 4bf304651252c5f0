/** Test-only helpers for the Paillier, threshold-Paillier and comparison tests (imports vitest). */
import { expect } from "vitest"
import { PaillierError, type PaillierErrorReason } from "./PaillierError.ts"

/** Options for test keys: small N is allowed only through this explicit override. */
export const TEST_KEYS = { unsafeAllowTestKeySizes: true } as const

/** Runs f and asserts it throws an error with the given _tag and reason (PaillierError by default). */
export const expectTypedError = (f: () => unknown, tag: string, reason: string): void => {
  try {
    f()
  } catch (e) {
    expect((e as { _tag?: string })._tag).toBe(tag)
    expect((e as { reason?: string }).reason).toBe(reason)
    return
  }
  throw new Error(`expected ${tag}(${reason})`)
}

export const expectPaillierError = (f: () => unknown, reason: PaillierErrorReason): void => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(PaillierError)
    expect((e as PaillierError).reason).toBe(reason)
    return
  }
  throw new Error(`expected PaillierError(${reason})`)
}
