/**
 * The `Bfv` service (core/src/protocols/similarity/Bfv.ts) over node-seal 6.0.3, for encrypted similarity
 * retrieval, over whichever build of SEAL the platform loads (`make(load)`, as SealCkks.ts). Same rules as the
 * CKKS service (Seal.ts): scoped SEAL objects, header checks before parsing untrusted bytes, a dropped module
 * (and its cached contexts) after a WASM abort.
 *
 * Parameters: BFV, N = 8192 (8192 slots), SEAL's 128-bit default coefficient modulus for N (218 bits at 8192;
 * SEAL refuses weaker), a batching plaintext prime t of `plainModulusBits` bits. The retrieval circuit has one
 * plaintext-multiplication level: fresh ≈ 110 bits of noise budget, ≈ 40 left after 65 plaintext products at
 * t ≈ 2^56 (measured by the test), so decryption is exact. Ciphertexts are seeded symmetric encryptions and the
 * Galois keys seeded too, which halves both on the wire.
 */
import { Effect, Layer, type Scope } from "effect"
import type { CipherText } from "node-seal/implementation/cipher-text"
import type { Context as SealContext } from "node-seal/implementation/context"
import type { SEALLibrary } from "node-seal/implementation/seal"
import { Bfv, type BfvApi, BfvError, type Layout, type Parameters, type QuerierKeys } from "@jointly/core/internal/protocols/similarity/Bfv"
import { errorsOf, loader, own } from "./Seal.ts"

const CACHED_CONTEXTS = 4

const { error, checkHeader } = errorsOf<BfvError["reason"], BfvError>((fields) => new BfvError(fields))

const attempt = <A>(reason: BfvError["reason"], f: () => A) => Effect.try({ try: f, catch: (e) => error(reason, e) })

/** A BFV context the evaluator accepts: scheme, degree, batching and SEAL's 128-bit security check. */
const contextOf = (contexts: Map<string, SealContext>, s: SEALLibrary, parameters: Uint8Array) =>
  Effect.gen(function*() {
    const key = String.fromCharCode(...parameters)
    const cached = contexts.get(key)
    if (cached) return cached
    yield* checkHeader(parameters, "parameters", "InvalidParameters")
    const parms = yield* own(() => s.EncryptionParameters())
    yield* attempt("InvalidParameters", () => parms.loadArray(parameters))
    if (parms.scheme !== s.SchemeType.bfv) return yield* Effect.fail(error("InvalidParameters", "not BFV parameters"))
    if (parms.polyModulusDegree !== 8192 && parms.polyModulusDegree !== 16384) {
      return yield* Effect.fail(error("InvalidParameters", `poly modulus degree ${parms.polyModulusDegree} (8192 or 16384 expected)`))
    }
    const scoped = contexts.size >= CACHED_CONTEXTS
    const context = scoped ? yield* own(() => s.Context(parms, true, s.SecurityLevel.tc128)) : s.Context(parms, true, s.SecurityLevel.tc128)
    const first = yield* own(() => context.firstContextData)
    const qualifiers = yield* own(() => first.qualifiers)
    const problem = !context.parametersSet()
      ? "SEAL rejects them (below 128-bit security, or inconsistent)"
      : !qualifiers.usingBatching ? "the plaintext modulus is not a batching prime (t ≡ 1 mod 2N)" : undefined
    if (problem !== undefined) {
      if (!scoped) context.delete()
      return yield* Effect.fail(error("InvalidParameters", problem))
    }
    if (!scoped) contexts.set(key, context)
    return context
  })

const layoutOf = (s: SEALLibrary, context: SealContext) =>
  Effect.gen(function*() {
    const data = yield* own(() => context.firstContextData)
    const parms = yield* own(() => data.parms)
    const t = yield* own(() => parms.plainModulus)
    return { slots: parms.polyModulusDegree, plainModulus: t.value } satisfies Layout
  })

const parametersBytes = (s: SEALLibrary, p: Parameters) =>
  Effect.gen(function*() {
    const parms = yield* own(() => s.EncryptionParameters(s.SchemeType.bfv))
    yield* attempt("InvalidParameters", () => {
      parms.setPolyModulusDegree(p.polyModulusDegree)
      parms.setCoeffModulus(s.CoeffModulus.BFVDefault(p.polyModulusDegree, s.SecurityLevel.tc128))
      parms.setPlainModulus(s.PlainModulus.Batching(p.polyModulusDegree, p.plainModulusBits))
    })
    return parms.saveArray(s.ComprModeType.none)
  })

const loadCiphertext = (s: SEALLibrary, context: SealContext, bytes: Uint8Array, what: string) =>
  Effect.gen(function*() {
    yield* checkHeader(bytes, what, "MalformedCiphertext")
    const ct = yield* own(() => s.CipherText())
    yield* attempt("MalformedCiphertext", () => ct.loadArray(context, bytes)).pipe(Effect.mapError((e) => error("MalformedCiphertext", `${what}: ${e.detail}`)))
    if (ct.size !== 2) return yield* Effect.fail(error("MalformedCiphertext", `${what}: ${ct.size} polynomials, a fresh or linear ciphertext has 2`))
    return ct
  })

const keyed = (contexts: Map<string, SealContext>, s: SEALLibrary, keys: QuerierKeys) =>
  Effect.gen(function*() {
    const context = yield* contextOf(contexts, s, keys.parameters)
    yield* checkHeader(keys.secretKey, "secret key", "MalformedKeys")
    const secretKey = yield* own(() => s.SecretKey())
    yield* attempt("MalformedKeys", () => secretKey.loadArray(context, keys.secretKey))
    const encoder = yield* own(() => s.BatchEncoder(context))
    return { context, secretKey, encoder }
  })

/** A slot vector as SEAL's signed encoding wants it: exactly `slots` values, each |v| < t/2. */
const slotVector = (values: ArrayLike<bigint>, layout: Layout, what: string) => {
  if (values.length > layout.slots) return Effect.fail(error("ShapeMismatch", `${what}: ${values.length} values for ${layout.slots} slots`))
  const half = layout.plainModulus / 2n
  const out = new BigInt64Array(layout.slots)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (v >= half || -v >= half) return Effect.fail(error("ShapeMismatch", `${what}: slot ${i} holds ${v}, beyond ±t/2`))
    out[i] = v
  }
  return Effect.succeed(out)
}

/** A `BfvApi` over the SEAL build `load` instantiates (once, on first use; again after a WASM abort). */
export const make = (load: () => Promise<SEALLibrary>): BfvApi => {
  /** Validated contexts by parameter bytes (building one costs SEAL's prime and NTT tables); dropped with the module. */
  const contexts = new Map<string, SealContext>()
  const seal = loader(load, () => contexts.clear())
  /** Runs `body` with the library in a fresh scope; a SEAL exception becomes `reason` (Seal.ts `loader`). */
  const withSeal = <A>(reason: BfvError["reason"], body: (s: SEALLibrary) => Effect.Effect<A, BfvError, Scope.Scope>) =>
    seal((e) => error("Unavailable", e), (defect) => error(reason, defect), body)

  const generateKeysEffect: BfvApi["generateKeys"] = (parameters, rotationSteps) =>
    withSeal("InvalidParameters", (s) =>
      Effect.gen(function*() {
        const parameterBytes = yield* parametersBytes(s, parameters)
        const context = yield* contextOf(contexts, s, parameterBytes)
        const keygen = yield* own(() => s.KeyGenerator(context))
        const secretKey = yield* own(() => keygen.secretKey())
        const galois = yield* own(() => keygen.createGaloisKeysSerializable(Int32Array.from(rotationSteps)))
        const keys: QuerierKeys = { parameters: parameterBytes, secretKey: secretKey.saveArray(s.ComprModeType.none) }
        return { keys, galoisKeys: galois.saveArray(s.ComprModeType.zstd), layout: yield* layoutOf(s, context) }
      }))

  const layoutEffect: BfvApi["layout"] = (parameters) =>
    withSeal("InvalidParameters", (s) => Effect.flatMap(contextOf(contexts, s, parameters), (context) => layoutOf(s, context)))

  const encryptEffect: BfvApi["encrypt"] = (keys, values) =>
    withSeal("MalformedKeys", (s) =>
      Effect.gen(function*() {
        const { context, secretKey, encoder } = yield* keyed(contexts, s, keys)
        const vector = yield* slotVector(values, yield* layoutOf(s, context), "plaintext")
        // SEAL's Encryptor wants a public key even for symmetric encryption: one derived from the secret.
        const keygen = yield* own(() => s.KeyGenerator(context, secretKey))
        const publicKey = yield* own(() => keygen.createPublicKey())
        const encryptor = yield* own(() => s.Encryptor(context, publicKey, secretKey))
        const plain = yield* own(() => encoder.encode(vector))
        const serializable = yield* own(() => encryptor.encryptSymmetricSerializable(plain))
        return serializable.saveArray(s.ComprModeType.zstd)
      }))

  const decryptEffect: BfvApi["decrypt"] = (keys, ciphertext, length) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        const { context, secretKey, encoder } = yield* keyed(contexts, s, keys)
        if (!Number.isInteger(length) || length < 0 || length > encoder.slotCount) return yield* Effect.fail(error("ShapeMismatch", `${length} slots of ${encoder.slotCount}`))
        const ct = yield* loadCiphertext(s, context, ciphertext, "ciphertext")
        const decryptor = yield* own(() => s.Decryptor(context, secretKey))
        const budget = decryptor.invariantNoiseBudget(ct)
        if (budget <= 0) return yield* Effect.fail(error("NoiseBudgetExhausted", "the ciphertext's noise has reached the plaintext: decryption would be wrong"))
        const plain = yield* own(() => decryptor.decrypt(ct))
        const values = encoder.decodeBigInt(plain, true) as BigInt64Array
        return values.slice(0, length)
      }))

  const rotationsEffect: BfvApi["rotations"] = (parameters, galoisKeys, ciphertext, count) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        const context = yield* contextOf(contexts, s, parameters)
        const layout = yield* layoutOf(s, context)
        if (!Number.isInteger(count) || count < 1 || count > layout.slots / 2) return yield* Effect.fail(error("ShapeMismatch", `${count} rotations of rows of ${layout.slots / 2}`))
        yield* checkHeader(galoisKeys, "Galois keys", "MalformedKeys")
        const galois = yield* own(() => s.GaloisKeys())
        yield* attempt("MalformedKeys", () => galois.loadArray(context, galoisKeys))
        const evaluator = yield* own(() => s.Evaluator(context))
        const current = yield* loadCiphertext(s, context, ciphertext, "query ciphertext")
        if (current.isNttForm) return yield* Effect.fail(error("MalformedCiphertext", "a fresh BFV ciphertext is not in NTT form"))
        const out: Array<Uint8Array> = []
        for (let i = 0; i < count; i++) {
          if (i > 0) yield* attempt("MalformedKeys", () => evaluator.rotateRows(current, 1, galois, current))
          const ntt = yield* own(() => current.clone())
          evaluator.cipherTransformToNtt(ntt, ntt)
          out.push(ntt.saveArray(s.ComprModeType.none))
        }
        return out
      }))

  const linearCombinationEffect: BfvApi["linearCombination"] = (parameters, terms, constant) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        if (terms.length === 0) return yield* Effect.fail(error("ShapeMismatch", "no terms"))
        const context = yield* contextOf(contexts, s, parameters)
        const layout = yield* layoutOf(s, context)
        const encoder = yield* own(() => s.BatchEncoder(context))
        const evaluator = yield* own(() => s.Evaluator(context))
        let acc: CipherText | undefined
        for (const [i, term] of terms.entries()) {
          const ct = yield* loadCiphertext(s, context, term.ciphertext, `term ${i}`)
          if (!ct.isNttForm) evaluator.cipherTransformToNtt(ct, ct)
          const vector = yield* slotVector(term.plain, layout, `term ${i}`)
          const plain = yield* own(() => encoder.encode(vector))
          yield* attempt("MalformedCiphertext", () => evaluator.plainTransformToNtt(plain, ct.parmsId, plain))
          if (acc === undefined) {
            acc = yield* own(() => evaluator.multiplyPlain(ct, plain))
          } else {
            yield* attempt("MalformedCiphertext", () => evaluator.multiplyPlain(ct, plain, ct))
            yield* attempt("MalformedCiphertext", () => evaluator.add(acc!, ct, acc!))
          }
        }
        evaluator.cipherTransformFromNtt(acc!, acc!)
        const constantVector = yield* slotVector(constant, layout, "constant")
        const shift = yield* own(() => encoder.encode(constantVector))
        yield* attempt("MalformedCiphertext", () => evaluator.addPlain(acc!, shift, acc!))
        const last = yield* own(() => context.lastParmsId)
        evaluator.cipherModSwitchTo(acc!, last, acc!)
        return acc!.saveArray(s.ComprModeType.zstd)
      }))

  return {
    generateKeys: generateKeysEffect,
    layout: layoutEffect,
    encrypt: encryptEffect,
    decrypt: decryptEffect,
    rotations: rotationsEffect,
    linearCombination: linearCombinationEffect
  }
}

/** The `Bfv` service over `load`'s SEAL build. */
export const layer = (load: () => Promise<SEALLibrary>): Layer.Layer<Bfv> => Layer.sync(Bfv, () => make(load))
