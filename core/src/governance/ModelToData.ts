/**
 * "Send the model to the data" (PROTOCOLS.md §2.3, ours): the initiator writes a declarative analysis from a
 * small template registry (never code), signs it, and encrypts it to the owner's registered encryption key; the
 * owner checks the signature and its policy, runs it next to its rows, and returns an aggregate-only result
 * (size-capped) encrypted to the initiator. Only digests of both ciphertexts go on chain (ModelRequests.sol).
 *
 * Ciphertexts are ECIES (Ecies.ts) with the request id as associated data, so neither payload nor result can be
 * moved to another request. Pure and browser-safe.
 */
import { Schema } from "effect"
import { getAddress, getBytes, keccak256, verifyMessage, type Signer } from "ethers"
import * as Ecies from "../crypto/Ecies.ts"
import type { TabularData } from "../data/Tabular.ts"
import { LinearArtifact, predictLinear } from "../models/ModelArtifact.ts"
import { canonicalJson } from "../wire/Canonical.ts"

/** Joint-statistics-like aggregates over numeric columns: count, sum, mean, variance (sample), std. */
export const StatisticsAnalysis = Schema.Struct({
  template: Schema.Literal("statistics"),
  columns: Schema.Array(Schema.String).check(Schema.isMinLength(1), Schema.isMaxLength(32)),
  statistics: Schema.Array(Schema.Literals(["count", "sum", "mean", "variance", "std"])).check(Schema.isMinLength(1))
})

/** Scores a `linear` model (e.g. a SecureSVM's) on the owner's labelled rows: only the confusion counts return. */
export const LinearScoreAnalysis = Schema.Struct({
  template: Schema.Literal("linear-score"),
  model: LinearArtifact,
  label: Schema.String,
  /** The label value that counts as the positive class; predictions ≥ 0 (sign) or ≥ 0.5 (sigmoid) are positive. */
  positive: Schema.Number
})

export const Analysis = Schema.Union([StatisticsAnalysis, LinearScoreAnalysis])
export type Analysis = typeof Analysis.Type
export const templates = ["statistics", "linear-score"] as const

export const RequestPayload = Schema.Struct({
  version: Schema.Literal(1),
  reqId: Schema.String,
  datasetId: Schema.String,
  /** The dataset's name at the owner (the catalogue entry's name). */
  dataset: Schema.String,
  from: Schema.String,
  to: Schema.String,
  nonce: Schema.String,
  analysis: Analysis
})
export type RequestPayload = typeof RequestPayload.Type

const Envelope = Schema.Struct({ payload: RequestPayload, signature: Schema.String })

export class ModelRequestError extends Schema.TaggedError<ModelRequestError>()("ModelRequestError", {
  reason: Schema.Literals(["Malformed", "Undecryptable", "BadSignature", "Mismatch", "PayloadHashMismatch", "NotAllowed", "TooFewRows", "OutputTooLarge", "UnknownColumn"]),
  detail: Schema.String
}) {
  override get message() {
    return `model request ${this.reason}: ${this.detail}`
  }
}

export interface Limits {
  /** Fewest rows an aggregate may be computed over (no aggregate of one person). */
  readonly minRows: number
  /** Largest canonical-JSON result, in bytes (§2.3: an output-size cap). */
  readonly maxOutputBytes: number
}
export const defaultLimits: Limits = { minRows: 10, maxOutputBytes: 4096 }

const utf8 = new TextEncoder()
const bytesOf = (v: unknown) => utf8.encode(canonicalJson(v))
const ad = (reqId: string) => getBytes(reqId)

/** The digest the initiator signs (EIP-191): keccak256 of the payload's canonical JSON. */
export const payloadDigest = (payload: RequestPayload): string => keccak256(bytesOf(payload))

export const sign = (signer: Pick<Signer, "signMessage">, payload: RequestPayload): Promise<string> => signer.signMessage(getBytes(payloadDigest(payload)))

/** Encrypts the signed payload to the owner's registered key; returns the ciphertext and its on-chain digest. */
export const seal = (ownerEncPubKey: string, payload: RequestPayload, signature: string) => {
  const ciphertext = Ecies.encrypt(getBytes(ownerEncPubKey), bytesOf({ payload, signature }), ad(payload.reqId))
  return { ciphertext, payloadHash: keccak256(ciphertext) }
}

/** What the owner knows from the chain about a request (ModelRequests.getRequest). */
export interface OnChainRequest {
  readonly reqId: string
  readonly datasetId: string
  readonly from: string
  readonly to: string
  readonly payloadHash: string
}

/**
 * Owner side: digest, decryption, signature by the on-chain requester, and binding of every field to the
 * on-chain request. Throws ModelRequestError.
 */
export const open = (secretKey: Uint8Array, ciphertext: Uint8Array, request: OnChainRequest): RequestPayload => {
  if (keccak256(ciphertext) !== request.payloadHash.toLowerCase()) {
    throw new ModelRequestError({ reason: "PayloadHashMismatch", detail: `the payload does not hash to ${request.payloadHash}` })
  }
  let plain: Uint8Array
  try {
    plain = Ecies.decrypt(secretKey, ciphertext, ad(request.reqId))
  } catch (error) {
    throw new ModelRequestError({ reason: "Undecryptable", detail: String((error as Error).message ?? error) })
  }
  let envelope: typeof Envelope.Type
  try {
    envelope = Schema.decodeUnknownSync(Envelope)(JSON.parse(new TextDecoder().decode(plain)))
  } catch (error) {
    throw new ModelRequestError({ reason: "Malformed", detail: String((error as Error).message ?? error).split("\n")[0]! })
  }
  const { payload, signature } = envelope
  let signer: string
  try {
    signer = getAddress(verifyMessage(getBytes(payloadDigest(payload)), signature))
  } catch {
    throw new ModelRequestError({ reason: "BadSignature", detail: "the signature does not parse" })
  }
  if (signer !== getAddress(request.from)) {
    throw new ModelRequestError({ reason: "BadSignature", detail: `the request is signed by ${signer}, not by the requester ${getAddress(request.from)}` })
  }
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  if (!same(payload.reqId, request.reqId) || !same(payload.datasetId, request.datasetId) || !same(payload.from, request.from) || !same(payload.to, request.to)) {
    throw new ModelRequestError({ reason: "Mismatch", detail: "the payload names another request, dataset or party than the chain" })
  }
  return payload
}

const mean = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0) / xs.length

/** Runs an analysis over the owner's rows; aggregate-only and capped (throws ModelRequestError). */
export const run = (analysis: Analysis, data: TabularData, limits: Limits = defaultLimits): unknown => {
  if (data.rowCount < limits.minRows) {
    throw new ModelRequestError({ reason: "TooFewRows", detail: `${data.rowCount} rows, fewer than the ${limits.minRows} an aggregate needs` })
  }
  const column = (name: string) => {
    if (!data.columnNames.includes(name) || !data.isNumeric(name)) throw new ModelRequestError({ reason: "UnknownColumn", detail: `no numeric column ${name}` })
    return data.numeric(name)
  }
  let result: unknown
  if (analysis.template === "statistics") {
    result = {
      template: "statistics",
      count: data.rowCount,
      columns: Object.fromEntries(analysis.columns.map((name) => {
        const xs = column(name)
        const m = mean(xs)
        const variance = xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)
        const all: Record<string, number> = { count: xs.length, sum: xs.reduce((a, b) => a + b, 0), mean: m, variance, std: Math.sqrt(variance) }
        return [name, Object.fromEntries(analysis.statistics.map((s) => [s, all[s]!]))]
      }))
    }
  } else {
    const features = analysis.model.featureColumns.map(column)
    const labels = column(analysis.label)
    let tp = 0, fp = 0, tn = 0, fn = 0
    const threshold = analysis.model.link === "sigmoid" ? 0.5 : 0
    for (let r = 0; r < data.rowCount; r++) {
      const predicted = predictLinear(analysis.model, features.map((f) => f[r]!)) >= threshold
      const actual = labels[r] === analysis.positive
      if (predicted && actual) tp++
      else if (predicted) fp++
      else if (actual) fn++
      else tn++
    }
    const precision = tp + fp === 0 ? 0 : tp / (tp + fp)
    const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
    result = { template: "linear-score", n: data.rowCount, tp, fp, tn, fn, accuracy: (tp + tn) / data.rowCount, precision, recall, f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall) }
  }
  const size = bytesOf(result).length
  if (size > limits.maxOutputBytes) throw new ModelRequestError({ reason: "OutputTooLarge", detail: `${size} bytes exceed the cap of ${limits.maxOutputBytes}` })
  return result
}

/** Owner → initiator: the result encrypted to the initiator's key, bound to the request id. */
export const sealResult = (initiatorEncPubKey: string, reqId: string, result: unknown) => {
  const ciphertext = Ecies.encrypt(getBytes(initiatorEncPubKey), bytesOf(result), ad(reqId))
  return { ciphertext, resultHash: keccak256(ciphertext) }
}

export const openResult = (secretKey: Uint8Array, reqId: string, ciphertext: Uint8Array, resultHash: string): unknown => {
  if (keccak256(ciphertext) !== resultHash.toLowerCase()) throw new ModelRequestError({ reason: "PayloadHashMismatch", detail: `the result does not hash to ${resultHash}` })
  try {
    return JSON.parse(new TextDecoder().decode(Ecies.decrypt(secretKey, ciphertext, ad(reqId))))
  } catch (error) {
    throw new ModelRequestError({ reason: "Undecryptable", detail: String((error as Error).message ?? error) })
  }
}
