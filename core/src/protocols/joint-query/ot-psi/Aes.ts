/**
 * The one symmetric primitive of the OT-based PSI, AES-128, in the two batch shapes the engine needs:
 *
 *   keystream(k, block, bytes)  AES-128-CTR keystream under k from counter block `block` (the 16-byte counter is
 *                               the block index, big-endian): the PRG that stretches each base-OT seed into a
 *                               column of the OT-extension matrix.
 *   decryptBlocks(k, blocks)    π_k = AES-128⁻¹_k on every 16-byte block (ECB): the keyed pseudorandom
 *                               permutation behind the id encoding, the cuckoo locations, the pseudorandom code
 *                               and the output hash (spec.ts). The inverse cipher rather than the forward one
 *                               because WebCrypto has no ECB mode but its CBC decryption is parallel: one call
 *                               decrypts a whole batch (`webCrypto` below). AES⁻¹ is as good a PRP as AES.
 *
 * A service with two implementations, byte for byte the same (the AES conformance suite, testing/kernel-conformance.ts):
 * `webCrypto` here (portable: browsers, Web Workers, Deno, and Node, where it is OpenSSL behind a promise) and the
 * Node backends' one (`@jointly/backends`, node/OpenSslAes.ts: node:crypto, synchronous). Each call handles a whole batch — never
 * one element — so the per-call cost of either API disappears behind the bulk work.
 */
import { Context, Effect, Layer, Schema } from "effect"

export const KEY_BYTES = 16
export const BLOCK_BYTES = 16

/**
 * An AES call that did not answer: the platform refused the key or the operation (WebCrypto rejects its promise:
 * an unsupported algorithm, a revoked or missing `crypto.subtle`), or the caller passed a size that is not whole
 * blocks. A party's engine fails with it (typed), never with a defect.
 */
export class AesError extends Schema.TaggedError<AesError>()("OtPsiAesError", {
  operation: Schema.Literals(["importKey", "keystream", "decryptBlocks"]),
  detail: Schema.String
}) {
  override get message() {
    return `ot-psi AES ${this.operation}: ${this.detail}`
  }
}

/** The typed failure of `operation` from whatever it threw or rejected with. */
export const aesError = (operation: AesError["operation"]) => (cause: unknown): AesError =>
  new AesError({ operation, detail: cause instanceof Error ? cause.message : String(cause) })

/** An imported AES-128 key; opaque, so no raw key material travels with it through the engine. */
export interface AesKey {
  readonly _AesKey: unique symbol
}

export interface AesService {
  /** Reported by benchmarks: "webcrypto" or "node-openssl". */
  readonly name: string
  readonly importKey: (raw: Uint8Array) => Effect.Effect<AesKey, AesError>
  /** `bytes` (a multiple of 16) of AES-128-CTR keystream from counter block `block`. */
  readonly keystream: (key: AesKey, block: number, bytes: number) => Effect.Effect<Uint8Array, AesError>
  /** AES-128 decryption of each 16-byte block of `blocks` (length a multiple of 16), as a new buffer. */
  readonly decryptBlocks: (key: AesKey, blocks: Uint8Array) => Effect.Effect<Uint8Array, AesError>
}

export class Aes extends Context.Service<Aes, AesService>()("jointly/OtPsiAes") {}

/** The 16-byte big-endian counter block of block index `block` (< 2^53). */
export const counterBlock = (block: number): Uint8Array<ArrayBuffer> => {
  if (!Number.isSafeInteger(block) || block < 0) throw new RangeError(`AES-CTR: bad block index ${block}`)
  const out = new Uint8Array(16)
  const view = new DataView(out.buffer)
  view.setUint32(8, Math.floor(block / 0x1_0000_0000))
  view.setUint32(12, block >>> 0)
  return out
}

const checkBlocks = (what: string, bytes: number) => {
  if (bytes % BLOCK_BYTES !== 0) throw new RangeError(`${what}: ${bytes} bytes is not a whole number of 16-byte blocks`)
}

interface WebKey {
  readonly ctr: CryptoKey
  readonly cbc: CryptoKey
}

const PADDING_BLOCK = new Uint8Array(BLOCK_BYTES).fill(BLOCK_BYTES)

/**
 * WebCrypto. ECB decryption through CBC decryption: CBC gives P_j = D(C_j) ⊕ C_{j−1} (C_0 = IV = 0), so
 * D(C_j) = P_j ⊕ C_{j−1}. WebCrypto insists on PKCS#7 padding, so the batch is followed by one extra block
 * E(C_n ⊕ 0x10…10), which decrypts to a full padding block and is stripped; that block costs one CBC encryption
 * of a single block.
 */
export const fromSubtle = (subtle: SubtleCrypto): AesService => {
  const zeroIv = new Uint8Array(BLOCK_BYTES)
  let zeros = new Uint8Array(0)
  const web = (key: AesKey) => key as unknown as WebKey
  return {
    name: "webcrypto",
    importKey: (raw) =>
      Effect.tryPromise({ catch: aesError("importKey"), try: async () => {
        if (raw.length !== KEY_BYTES) throw new RangeError(`AES-128 key must be 16 bytes, got ${raw.length}`)
        const bytes = Uint8Array.from(raw)
        const [ctr, cbc] = await Promise.all([
          subtle.importKey("raw", bytes, { name: "AES-CTR" }, false, ["encrypt"]),
          subtle.importKey("raw", bytes, { name: "AES-CBC" }, false, ["encrypt", "decrypt"])
        ])
        return { ctr, cbc } satisfies WebKey as unknown as AesKey
      } }),
    keystream: (key, block, bytes) =>
      Effect.tryPromise({ catch: aesError("keystream"), try: async () => {
        checkBlocks("keystream", bytes)
        if (zeros.length < bytes) zeros = new Uint8Array(bytes)
        const out = await subtle.encrypt({ name: "AES-CTR", counter: counterBlock(block), length: 128 }, web(key).ctr, zeros.subarray(0, bytes))
        return new Uint8Array(out)
      } }),
    decryptBlocks: (key, blocks) =>
      Effect.tryPromise({ catch: aesError("decryptBlocks"), try: async () => {
        checkBlocks("decryptBlocks", blocks.length)
        const n = blocks.length
        if (n === 0) return new Uint8Array(0)
        const { cbc } = web(key)
        const last = blocks.slice(n - BLOCK_BYTES)
        for (let i = 0; i < BLOCK_BYTES; i++) last[i] = last[i]! ^ PADDING_BLOCK[i]!
        const tail = new Uint8Array(await subtle.encrypt({ name: "AES-CBC", iv: zeroIv }, cbc, last)).subarray(0, BLOCK_BYTES)
        const input = new Uint8Array(n + BLOCK_BYTES)
        input.set(blocks)
        input.set(tail, n)
        const out = new Uint8Array(await subtle.decrypt({ name: "AES-CBC", iv: zeroIv }, cbc, input))
        if (out.length !== n) throw new Error(`AES-CBC decryption returned ${out.length} bytes for ${n}`)
        // Undo the chaining: block j gets C_{j−1} XORed back (block 0's C_0 is the zero IV). Word-wise when aligned.
        if (blocks.byteOffset % 4 === 0) {
          const o = new Uint32Array(out.buffer, out.byteOffset, n >>> 2)
          const c = new Uint32Array(blocks.buffer, blocks.byteOffset, n >>> 2)
          for (let i = 4; i < o.length; i++) o[i] = o[i]! ^ c[i - 4]!
        } else {
          for (let i = BLOCK_BYTES; i < n; i++) out[i] = out[i]! ^ blocks[i - BLOCK_BYTES]!
        }
        return out
      } })
  }
}

/** The portable implementation over the platform's WebCrypto (`globalThis.crypto.subtle`). */
export const webCrypto = (): AesService => fromSubtle(globalThis.crypto.subtle)

/** The portable layer: WebCrypto, wherever the engine runs. */
export const portableLayer: Layer.Layer<Aes> = Layer.sync(Aes, webCrypto)
