/**
 * The `Ckks` service (core/src/protocols/encrypted-linear/Ckks.ts) over node-seal 6.0.3 (DESIGN.md §6), and the
 * plain library API `encryptFeatures`, `evaluateLinear`, `decryptScore` (Promises, for embedders).
 *
 * One implementation over whichever build of SEAL the platform loads (`make(load)`): the Node backends load
 * node-seal's Node build, the portable ones its Web Worker build (browsers and workers, no Node built-in).
 * Both are the same SEAL compiled to WASM, so their ciphertexts interoperate (the CKKS conformance suite).
 *
 * Every SEAL object is created inside an Effect scope and `.delete()`d when the scope closes (STYLE.md), and
 * only SEAL's serialized bytes go in or out. Untrusted bytes are checked against SEAL's 16-byte header (magic,
 * version, compression, declared size) before SEAL parses them: the WASM build aborts instead of throwing on
 * some malformed inputs, and an aborted module is dropped so the next call loads a fresh one.
 *
 * Parameters: CKKS, N = 8192 (4096 slots), primes [60, 40, 40, 60], scale 2^40 by default: 128-bit security
 * (SEAL refuses anything weaker) and two rescales (× weights, × mask). Ciphertexts are seeded symmetric
 * encryptions and the Galois keys seeded too, which halves both on the wire.
 */
import { Effect, Layer, Scope } from "effect"
import type { SEALLibrary } from "node-seal/implementation/seal"
import type { Context as SealContext } from "node-seal/implementation/context"
import type { Encryptor } from "node-seal/implementation/encryptor"
import type { GaloisKeys } from "node-seal/implementation/galois-keys"
import type { PlainText } from "node-seal/implementation/plain-text"
import {
  Ckks,
  type CkksApi,
  CkksError,
  defaultParameters,
  type EncryptedFeatures,
  type EncryptedScores,
  type Parameters,
  type QueryKeys,
  type RequesterKeys,
  strideFor
} from "@jointly/core/internal/protocols/encrypted-linear/Ckks"
import { errorsOf, held, loader, own } from "./Seal.ts"

const CACHED_CONTEXTS = 8
const CACHED_KEYS = 4

/**
 * A model as the evaluator multiplies and adds it. The mask and bias are encoded at the level (and the bias at the
 * scale) they meet the ciphertext at, which only a rescaled ciphertext tells: they are filled in by the first
 * evaluation and are the same for every later one (levels and scales follow from the primes alone).
 */
interface EncodedModel {
  readonly weights: PlainText
  readonly slots: { readonly mask: Float64Array; readonly bias: Float64Array }
  mask?: PlainText
  bias?: PlainText
  readonly delete: () => void
}

interface LoadedEncryptor {
  readonly encryptor: Encryptor
  readonly delete: () => void
}

const { error, checkHeader } = errorsOf<CkksError["reason"], CkksError>((fields) => new CkksError(fields))

const parametersBytes = (s: SEALLibrary, p: Parameters) =>
  Effect.gen(function*() {
    if (p.coeffModulusBits.length < 4 || p.coeffModulusBits.slice(1, -1).some((b) => b !== p.scaleBits)) {
      return yield* Effect.fail(error("InvalidParameters", "coeffModulusBits needs ≥ 4 primes whose middle ones have scaleBits bits"))
    }
    const parms = yield* own(() => s.EncryptionParameters(s.SchemeType.ckks))
    yield* Effect.try({
      try: () => {
        parms.setPolyModulusDegree(p.polyModulusDegree)
        parms.setCoeffModulus(s.CoeffModulus.Create(p.polyModulusDegree, Int32Array.from(p.coeffModulusBits)))
      },
      catch: (e) => error("InvalidParameters", e)
    })
    return parms.saveArray(s.ComprModeType.none)
  })

const loadCiphertext = (s: SEALLibrary, context: SealContext, bytes: Uint8Array, what: string) =>
  Effect.gen(function*() {
    yield* checkHeader(bytes, what, "MalformedCiphertext")
    const ct = yield* own(() => s.CipherText())
    yield* Effect.try({ try: () => ct.loadArray(context, bytes), catch: (e) => error("MalformedCiphertext", `${what}: ${e instanceof Error ? e.message : String(e)}`) })
    if (ct.size !== 2) return yield* Effect.fail(error("MalformedCiphertext", `${what}: ${ct.size} polynomials, a fresh ciphertext has 2`))
    return ct
  })

const slotsOf = (polyModulusDegree: number) => polyModulusDegree / 2

/** 2^(bits of the first middle prime): the scale `parametersBytes` pairs with its primes. */
const scaleOf = (s: SEALLibrary, parameters: Uint8Array) =>
  Effect.gen(function*() {
    const parms = yield* own(() => s.EncryptionParameters())
    yield* Effect.try({ try: () => parms.loadArray(parameters), catch: (e) => error("InvalidParameters", e) })
    return 2 ** parms.coeffModulus[1]!.toString(2).length
  })

/** A `CkksApi` over the SEAL build `load` instantiates (once, on first use; again after a WASM abort). */
export const make = (load: () => Promise<SEALLibrary>): CkksApi => {
  /**
   * Validated contexts by parameter bytes: building one costs ~0.7 s (SEAL's prime and NTT tables) and a
   * federated-learning round needs one per encryption, sum and decryption. Contexts are immutable; the few
   * cached ones live as long as this instance's library (a dropped one takes them along) and are never evicted, so no
   * scope can see one deleted under it. Past the cap, contexts are scoped as before.
   */
  const contexts = new Map<string, SealContext>()

  const seal = loader(load, () => {
    // Their objects went with the dropped module.
    contexts.clear()
    galoisKeys.clear()
    models.clear()
    encryptors.clear()
  })
  /** Runs `body` with the library in a fresh scope; a SEAL exception becomes `reason` (Seal.ts `loader`). */
  const withSeal = <A>(reason: CkksError["reason"], body: (s: SEALLibrary) => Effect.Effect<A, CkksError, Scope.Scope>) =>
    seal((e) => error("Unavailable", e), (defect) => error(reason, defect), body)

  /** A CKKS context the evaluator accepts: checked scheme, degree, level count and SEAL's 128-bit security check. */
  const contextOf = (s: SEALLibrary, parameters: Uint8Array) =>
    Effect.gen(function*() {
      const key = String.fromCharCode(...parameters)
      const cached = contexts.get(key)
      if (cached) return cached
      yield* checkHeader(parameters, "parameters", "InvalidParameters")
      const parms = yield* own(() => s.EncryptionParameters())
      yield* Effect.try({ try: () => parms.loadArray(parameters), catch: (e) => error("InvalidParameters", e) })
      if (parms.scheme !== s.SchemeType.ckks) return yield* Effect.fail(error("InvalidParameters", "not CKKS parameters"))
      if (parms.polyModulusDegree !== 8192 && parms.polyModulusDegree !== 16384) {
        return yield* Effect.fail(error("InvalidParameters", `poly modulus degree ${parms.polyModulusDegree} (8192 or 16384 expected)`))
      }
      // Data level + (× weights, × mask) rescales + the special prime.
      if (parms.coeffModulus.length < 4) return yield* Effect.fail(error("InvalidParameters", `${parms.coeffModulus.length} coefficient primes; two rescales need at least 4`))
      const cache = contexts.size < CACHED_CONTEXTS
      const context = cache ? s.Context(parms, true, s.SecurityLevel.tc128) : yield* own(() => s.Context(parms, true, s.SecurityLevel.tc128))
      if (!context.parametersSet()) {
        if (cache) context.delete()
        return yield* Effect.fail(error("InvalidParameters", "SEAL rejects them (below 128-bit security, or inconsistent)"))
      }
      if (cache) contexts.set(key, context)
      return context
    })

  const queryKeysEffect: CkksApi["queryKeys"] = (features, parameters = defaultParameters) =>
    withSeal("InvalidParameters", (s) =>
      Effect.gen(function*() {
        if (!Number.isInteger(features) || features < 1) return yield* Effect.fail(error("ShapeMismatch", "no features to encrypt"))
        const stride = strideFor(features)
        const slots = slotsOf(parameters.polyModulusDegree)
        if (stride > slots) return yield* Effect.fail(error("ShapeMismatch", `${features} features exceed ${slots} slots`))
        const parameterBytes = yield* parametersBytes(s, parameters)
        const context = yield* contextOf(s, parameterBytes)
        const keygen = yield* own(() => s.KeyGenerator(context))
        const secretKey = yield* own(() => keygen.secretKey())
        const steps = Int32Array.from({ length: Math.log2(stride) }, (_, i) => 1 << i)
        const galois = yield* own(() => keygen.createGaloisKeysSerializable(steps))
        const publicKey = yield* own(() => keygen.createPublicKey())
        return {
          parameters: parameterBytes,
          secretKey: secretKey.saveArray(s.ComprModeType.none),
          publicKey: publicKey.saveArray(s.ComprModeType.none),
          galoisKeys: galois.saveArray(s.ComprModeType.zstd),
          scaleBits: parameters.scaleBits,
          features,
          stride
        } satisfies QueryKeys
      }))

  const encryptRowsEffect: CkksApi["encryptRows"] = (keys, rows) =>
    withSeal("MalformedKeys", (s) =>
      Effect.gen(function*() {
        const { features, stride } = keys
        if (rows.length === 0) return yield* Effect.fail(error("ShapeMismatch", "no rows to encrypt"))
        if (rows.some((r) => r.length !== features)) return yield* Effect.fail(error("ShapeMismatch", `rows must have the keys' ${features} features`))
        const context = yield* contextOf(s, keys.parameters)
        const encoder = yield* own(() => s.CKKSEncoder(context))
        const slots = encoder.slotCount
        if (stride !== strideFor(features) || stride > slots) return yield* Effect.fail(error("ShapeMismatch", `stride ${stride} does not fit ${features} features`))
        const { encryptor } = yield* encryptors.acquire(context, [keys.secretKey, keys.publicKey], loadEncryptor(s, context, keys))
        const perCiphertext = slots / stride
        const scale = 2 ** keys.scaleBits
        const ciphertexts: Array<Uint8Array> = []
        for (let start = 0; start < rows.length; start += perCiphertext) {
          const values = new Float64Array(slots)
          rows.slice(start, start + perCiphertext).forEach((row, i) => values.set(Array.from(row), i * stride))
          const plain = yield* own(() => encoder.encode(values, scale))
          const serializable = yield* own(() => encryptor.encryptSymmetricSerializable(plain))
          ciphertexts.push(serializable.saveArray(s.ComprModeType.none))
        }
        return { parameters: keys.parameters, scaleBits: keys.scaleBits, galoisKeys: keys.galoisKeys, ciphertexts, rows: rows.length, features, stride } satisfies EncryptedFeatures
      }))

  const loadEncryptor = (s: SEALLibrary, context: SealContext, keys: QueryKeys) =>
    Effect.gen(function*() {
      yield* checkHeader(keys.secretKey, "secret key", "MalformedKeys")
      yield* checkHeader(keys.publicKey, "public key", "MalformedKeys")
      // SEAL's Encryptor keeps its own copies of both keys, so the loaded ones go at once.
      const secretKey = s.SecretKey()
      const publicKey = s.PublicKey()
      return yield* Effect.try({
        try: () => {
          secretKey.loadArray(context, keys.secretKey)
          publicKey.loadArray(context, keys.publicKey)
          const encryptor = s.Encryptor(context, publicKey, secretKey)!
          return { encryptor, delete: () => encryptor.delete() } satisfies LoadedEncryptor
        },
        catch: (e) => error("MalformedKeys", e)
      }).pipe(Effect.ensuring(Effect.sync(() => [secretKey, publicKey].forEach((k) => k.delete()))))
    })

  const encryptFeaturesEffect: CkksApi["encryptFeatures"] = (rows, parameters = defaultParameters) =>
    Effect.gen(function*() {
      const features = rows[0]?.length ?? 0
      if (features === 0) return yield* Effect.fail(error("ShapeMismatch", "no rows or no features to encrypt"))
      if (rows.some((r) => r.length !== features)) return yield* Effect.fail(error("ShapeMismatch", "rows of different lengths"))
      const keys = yield* queryKeysEffect(features, parameters)
      const request = yield* encryptRowsEffect(keys, rows)
      return { keys: { parameters: keys.parameters, secretKey: keys.secretKey }, request }
    })

  /**
   * What stays loaded between calls (Seal.ts `held`, keys compared byte for byte):
   * - the evaluator's Galois keys by their bytes: a requester reusing its query keys sends the same ~3 MB each time,
   *   and parsing them costs more than the evaluation;
   * - the evaluator's encoded model (weights, the slot mask and the bias, at the levels they are used at) by the
   *   model and the request's layout: encoding them is an FFT and NTTs each;
   * - the requester's encryptor by its secret and public key bytes.
   */
  const galoisKeys = held<GaloisKeys>(CACHED_KEYS)
  const models = held<EncodedModel>(CACHED_KEYS)
  const encryptors = held<LoadedEncryptor>(CACHED_KEYS)

  const loadGaloisKeys = (s: SEALLibrary, context: SealContext, bytes: Uint8Array) =>
    Effect.gen(function*() {
      yield* checkHeader(bytes, "Galois keys", "MalformedKeys")
      const keys = s.GaloisKeys()
      yield* Effect.try({ try: () => keys.loadArray(context, bytes), catch: (e) => error("MalformedKeys", e) }).pipe(Effect.tapError(() => Effect.sync(() => keys.delete())))
      return keys
    })

  /** The model's weights encoded for `stride`-wide rows at `scale` (the mask and bias: see EncodedModel). */
  const encodeModel = (s: SEALLibrary, context: SealContext, model: { readonly weights: ReadonlyArray<number>; readonly bias: number }, stride: number, scale: number) =>
    Effect.gen(function*() {
      const encoder = yield* own(() => s.CKKSEncoder(context))
      const slots = encoder.slotCount
      const weights = new Float64Array(slots)
      const mask = new Float64Array(slots)
      const bias = new Float64Array(slots)
      for (let block = 0; block < slots / stride; block++) {
        weights.set(model.weights, block * stride)
        mask[block * stride] = 1
        bias[block * stride] = model.bias
      }
      const weightsPlain = yield* Effect.try({ try: () => encoder.encode(weights, scale)!, catch: (e) => error("InvalidParameters", e) })
      const encoded: EncodedModel = {
        weights: weightsPlain,
        slots: { mask, bias },
        delete: () => [encoded.weights, encoded.mask, encoded.bias].forEach((p) => p?.delete())
      }
      return encoded
    })

  const evaluateLinearEffect: CkksApi["evaluateLinear"] = (request, model) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        if (!Number.isInteger(request.scaleBits) || request.scaleBits < 20 || request.scaleBits > 60) {
          return yield* Effect.fail(error("InvalidParameters", `scale 2^${request.scaleBits} (2^20 … 2^60 expected)`))
        }
        const context = yield* contextOf(s, request.parameters)
        const encoder = yield* own(() => s.CKKSEncoder(context))
        const slots = encoder.slotCount
        const { stride, features, rows } = request
        if (model.weights.length !== features) return yield* Effect.fail(error("ShapeMismatch", `${features} encrypted features, the model has ${model.weights.length} weights`))
        if (stride !== strideFor(features) || stride > slots) return yield* Effect.fail(error("ShapeMismatch", `stride ${stride} does not fit ${features} features`))
        const perCiphertext = slots / stride
        if (!Number.isInteger(rows) || rows < 1 || request.ciphertexts.length !== Math.ceil(rows / perCiphertext)) {
          return yield* Effect.fail(error("ShapeMismatch", `${request.ciphertexts.length} ciphertexts for ${rows} rows of stride ${stride}`))
        }
        if (![...model.weights, model.bias].every(Number.isFinite)) return yield* Effect.fail(error("ShapeMismatch", "a weight is not finite"))
        const galois = yield* galoisKeys.acquire(context, [request.galoisKeys], loadGaloisKeys(s, context, request.galoisKeys))
        const steps = Array.from({ length: Math.log2(stride) }, (_, i) => 1 << i)
        const evaluator = yield* own(() => s.Evaluator(context))
        const scale = 2 ** request.scaleBits
        const layout = new Float64Array([stride, request.scaleBits, model.bias, ...model.weights])
        const encoded = yield* models.acquire(context, [new Uint8Array(layout.buffer)], encodeModel(s, context, model, stride, scale))
        const out: Array<Uint8Array> = []
        for (const [i, bytes] of request.ciphertexts.entries()) {
          const ct = yield* loadCiphertext(s, context, bytes, `ciphertext ${i}`)
          const acc = yield* Effect.try({
            try: () => {
              const product = evaluator.multiplyPlain(ct, encoded.weights)!
              evaluator.rescaleToNext(product, product)
              return product
            },
            catch: (e) => error("MalformedCiphertext", e)
          })
          yield* Effect.addFinalizer(() => Effect.sync(() => acc.delete()))
          // Rotate-and-sum: slot r·stride collects its block's products (PROTOCOLS-style log2(stride) steps).
          for (const step of steps) {
            const rotated = yield* own(() => evaluator.rotateVector(acc, step, galois))
            evaluator.add(acc, rotated, acc)
          }
          if (encoded.mask === undefined) {
            const mask = encoder.encode(encoded.slots.mask, scale)!
            evaluator.plainModSwitchTo(mask, acc.parmsId, mask)
            encoded.mask = mask
          }
          evaluator.multiplyPlain(acc, encoded.mask, acc)
          evaluator.rescaleToNext(acc, acc)
          if (encoded.bias === undefined) {
            const bias = encoder.encode(encoded.slots.bias, acc.scale)!
            evaluator.plainModSwitchTo(bias, acc.parmsId, bias)
            encoded.bias = bias
          }
          evaluator.addPlain(acc, encoded.bias, acc)
          out.push(acc.saveArray(s.ComprModeType.none))
        }
        return { ciphertexts: out, rows, stride } satisfies EncryptedScores
      }))

  const decryptScoreEffect: CkksApi["decryptScore"] = (keys, scores) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        const context = yield* contextOf(s, keys.parameters)
        const secretKey = yield* own(() => s.SecretKey())
        yield* Effect.try({ try: () => secretKey.loadArray(context, keys.secretKey), catch: (e) => error("MalformedKeys", e) })
        const decryptor = yield* own(() => s.Decryptor(context, secretKey))
        const encoder = yield* own(() => s.CKKSEncoder(context))
        const slots = encoder.slotCount
        const { stride, rows } = scores
        const perCiphertext = slots / stride
        if (!Number.isInteger(perCiphertext) || perCiphertext < 1 || scores.ciphertexts.length !== Math.ceil(rows / perCiphertext)) {
          return yield* Effect.fail(error("ShapeMismatch", `${scores.ciphertexts.length} score ciphertexts for ${rows} rows of stride ${stride}`))
        }
        const out = new Float64Array(rows)
        for (const [i, bytes] of scores.ciphertexts.entries()) {
          yield* checkHeader(bytes, `score ciphertext ${i}`, "MalformedCiphertext")
          const ct = yield* own(() => s.CipherText())
          yield* Effect.try({ try: () => ct.loadArray(context, bytes), catch: (e) => error("MalformedCiphertext", e) })
          const plain = yield* own(() => decryptor.decrypt(ct))
          const values = encoder.decode(plain) as Float64Array
          for (let j = 0; j < perCiphertext && i * perCiphertext + j < rows; j++) out[i * perCiphertext + j] = values[j * stride]!
        }
        return out
      }))

  const generateKeysEffect: CkksApi["generateKeys"] = (parameters = defaultParameters) =>
    withSeal("InvalidParameters", (s) =>
      Effect.gen(function*() {
        const parameterBytes = yield* parametersBytes(s, parameters)
        const context = yield* contextOf(s, parameterBytes)
        const keygen = yield* own(() => s.KeyGenerator(context))
        const secretKey = yield* own(() => keygen.secretKey())
        return { parameters: parameterBytes, secretKey: secretKey.saveArray(s.ComprModeType.none) } satisfies RequesterKeys
      }))

  /** Context, secret key and encoder of shared keys (the scale is the middle primes' size, as `parametersBytes` builds it). */
  const keyed = (s: SEALLibrary, keys: RequesterKeys) =>
    Effect.gen(function*() {
      const context = yield* contextOf(s, keys.parameters)
      yield* checkHeader(keys.secretKey, "secret key", "MalformedKeys")
      const secretKey = yield* own(() => s.SecretKey())
      yield* Effect.try({ try: () => secretKey.loadArray(context, keys.secretKey), catch: (e) => error("MalformedKeys", e) })
      const encoder = yield* own(() => s.CKKSEncoder(context))
      return { context, secretKey, encoder }
    })

  const encryptVectorEffect: CkksApi["encryptVector"] = (keys, values) =>
    withSeal("MalformedKeys", (s) =>
      Effect.gen(function*() {
        const { context, secretKey, encoder } = yield* keyed(s, keys)
        if (!Array.from(values).every(Number.isFinite)) return yield* Effect.fail(error("ShapeMismatch", "a value is not finite"))
        // SEAL's Encryptor wants a public key even for symmetric encryption; one derived from the shared secret.
        const keygen = yield* own(() => s.KeyGenerator(context, secretKey))
        const publicKey = yield* own(() => keygen.createPublicKey())
        const encryptor = yield* own(() => s.Encryptor(context, publicKey, secretKey))
        const slots = encoder.slotCount
        const scale = yield* scaleOf(s, keys.parameters)
        const out: Array<Uint8Array> = []
        for (let start = 0; start === 0 || start < values.length; start += slots) {
          const chunk = new Float64Array(slots)
          chunk.set(Array.from(values).slice(start, start + slots))
          const plain = yield* own(() => encoder.encode(chunk, scale))
          const serializable = yield* own(() => encryptor.encryptSymmetricSerializable(plain))
          out.push(serializable.saveArray(s.ComprModeType.zstd))
        }
        return out
      }))

  const addCiphertextsEffect: CkksApi["addCiphertexts"] = (parameters, vectors) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        const length = vectors[0]?.length ?? 0
        if (length === 0) return yield* Effect.fail(error("ShapeMismatch", "nothing to add"))
        if (vectors.some((v) => v.length !== length)) return yield* Effect.fail(error("ShapeMismatch", "ciphertext vectors of different lengths"))
        const context = yield* contextOf(s, parameters)
        const evaluator = yield* own(() => s.Evaluator(context))
        const out: Array<Uint8Array> = []
        for (let i = 0; i < length; i++) {
          const acc = yield* loadCiphertext(s, context, vectors[0]![i]!, `vector 0, ciphertext ${i}`)
          for (let v = 1; v < vectors.length; v++) {
            const ct = yield* loadCiphertext(s, context, vectors[v]![i]!, `vector ${v}, ciphertext ${i}`)
            // SEAL throws on a level or scale mismatch: a ciphertext not made by encryptVector under these parameters.
            yield* Effect.try({ try: () => evaluator.add(acc, ct, acc), catch: (e) => error("MalformedCiphertext", `vector ${v}, ciphertext ${i}: ${e instanceof Error ? e.message : String(e)}`) })
          }
          out.push(acc.saveArray(s.ComprModeType.none))
        }
        return out
      }))

  const decryptVectorEffect: CkksApi["decryptVector"] = (keys, ciphertexts, length) =>
    withSeal("MalformedCiphertext", (s) =>
      Effect.gen(function*() {
        const { context, secretKey, encoder } = yield* keyed(s, keys)
        const slots = encoder.slotCount
        if (!Number.isInteger(length) || length < 0 || ciphertexts.length !== Math.max(1, Math.ceil(length / slots))) {
          return yield* Effect.fail(error("ShapeMismatch", `${ciphertexts.length} ciphertexts for ${length} values`))
        }
        const decryptor = yield* own(() => s.Decryptor(context, secretKey))
        const out = new Float64Array(length)
        for (const [i, bytes] of ciphertexts.entries()) {
          const ct = yield* loadCiphertext(s, context, bytes, `ciphertext ${i}`)
          const plain = yield* own(() => decryptor.decrypt(ct))
          const values = encoder.decode(plain) as Float64Array
          out.set(values.subarray(0, Math.min(slots, length - i * slots)), i * slots)
        }
        return out
      }))

  return {
    encryptFeatures: encryptFeaturesEffect,
    queryKeys: queryKeysEffect,
    encryptRows: encryptRowsEffect,
    evaluateLinear: evaluateLinearEffect,
    decryptScore: decryptScoreEffect,
    generateKeys: generateKeysEffect,
    encryptVector: encryptVectorEffect,
    addCiphertexts: addCiphertextsEffect,
    decryptVector: decryptVectorEffect
  }
}

/** The `Ckks` service over `load`'s SEAL build. */
export const layer = (load: () => Promise<SEALLibrary>): Layer.Layer<Ckks> => Layer.sync(Ckks, () => make(load))

// ---------- plain library API ----------

/** Promise facade of a `CkksApi` for embedders that do not use Effect; every call rejects with CkksError. */
export const promises = (api: CkksApi) => ({
  /** Requester: keys (keep them) and the request to send to the model owner. */
  encryptFeatures: (rows: ReadonlyArray<ArrayLike<number>>, parameters?: Parameters) => Effect.runPromise(api.encryptFeatures(rows, parameters)),
  /** Requester: keys to keep for many queries of `features`-wide rows (key generation paid once). */
  queryKeys: (features: number, parameters?: Parameters) => Effect.runPromise(api.queryKeys(features, parameters)),
  /** Requester: the request for `rows` under kept query keys. */
  encryptRows: (keys: QueryKeys, rows: ReadonlyArray<ArrayLike<number>>) => Effect.runPromise(api.encryptRows(keys, rows)),
  /** Model owner: encrypted scores w·x + b for the requester. */
  evaluateLinear: (request: EncryptedFeatures, model: { readonly weights: ReadonlyArray<number>; readonly bias: number }) =>
    Effect.runPromise(api.evaluateLinear(request, model)),
  /** Requester: the score of each row. */
  decryptScore: (keys: RequesterKeys, scores: EncryptedScores) => Effect.runPromise(api.decryptScore(keys, scores))
})
