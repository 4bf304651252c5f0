/**
 * The AES service's failures are typed: a WebCrypto that rejects, or a batch that is not whole blocks, gives
 * `AesError` naming the operation — and an OT PSI party whose AES fails ends with that error in its engine's
 * error channel, not a defect.
 */
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { typedFailure } from "../../../testing/TypedFailure.ts"
import * as Aes from "./Aes.ts"
import { run } from "./TestSupport.ts"

/** A SubtleCrypto whose every call rejects, as a platform without AES would. */
const refusing = {
  importKey: () => Promise.reject(new DOMException("AES-CTR is not supported", "NotSupportedError")),
  encrypt: () => Promise.reject(new DOMException("the operation failed", "OperationError")),
  decrypt: () => Promise.reject(new DOMException("the operation failed", "OperationError"))
} as unknown as SubtleCrypto

/** The platform's SubtleCrypto, but decryption rejects: importing keys works, the first batch fails. */
const decryptRefusing = Object.assign(Object.create(globalThis.crypto.subtle) as SubtleCrypto, {
  importKey: globalThis.crypto.subtle.importKey.bind(globalThis.crypto.subtle),
  encrypt: globalThis.crypto.subtle.encrypt.bind(globalThis.crypto.subtle),
  decrypt: () => Promise.reject(new DOMException("the operation failed", "OperationError"))
})

describe("ot-psi AES errors", () => {
  it("a rejecting WebCrypto answers AesError for each operation", async () => {
    const aes = Aes.fromSubtle(refusing)
    const imported = typedFailure(await Effect.runPromiseExit(aes.importKey(new Uint8Array(16))))
    expect(imported).toBeInstanceOf(Aes.AesError)
    expect(imported).toMatchObject({ operation: "importKey", detail: "AES-CTR is not supported" })
    const key = await Effect.runPromise(Aes.webCrypto().importKey(new Uint8Array(16)))
    expect(typedFailure(await Effect.runPromiseExit(aes.keystream(key, 0, 32)))).toMatchObject({ _tag: "OtPsiAesError", operation: "keystream" })
    expect(typedFailure(await Effect.runPromiseExit(aes.decryptBlocks(key, new Uint8Array(32))))).toMatchObject({ _tag: "OtPsiAesError", operation: "decryptBlocks" })
  })

  it("a bad key or block size is AesError, not a defect", async () => {
    const aes = Aes.webCrypto()
    expect(typedFailure(await Effect.runPromiseExit(aes.importKey(new Uint8Array(15))))).toMatchObject({ operation: "importKey", detail: "AES-128 key must be 16 bytes, got 15" })
    const key = await Effect.runPromise(aes.importKey(new Uint8Array(16)))
    expect(typedFailure(await Effect.runPromiseExit(aes.keystream(key, 0, 17)))).toMatchObject({ operation: "keystream" })
    expect(typedFailure(await Effect.runPromiseExit(aes.decryptBlocks(key, new Uint8Array(20))))).toMatchObject({ operation: "decryptBlocks" })
  })

  it("a party whose AES fails ends its engine with AesError", async () => {
    const ids = Array.from({ length: 64 }, (_, i) => `id-${i}`)
    const exit = await Effect.runPromiseExit(run(ids, ids, {
      seed: "aes-error",
      receiverLayer: Layer.succeed(Aes.Aes, Aes.fromSubtle(decryptRefusing)),
      senderLayer: Aes.portableLayer
    }))
    expect(typedFailure(exit)).toMatchObject({ _tag: "OtPsiAesError", operation: "decryptBlocks" })
  })
})
