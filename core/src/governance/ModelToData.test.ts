import { getBytes, hexlify, keccak256, Wallet } from "ethers"
import { describe, expect, it } from "vitest"
import type { TabularData } from "../data/Tabular.ts"
import * as ModelToData from "./ModelToData.ts"

const initiator = new Wallet(Wallet.createRandom().privateKey)
const owner = new Wallet(Wallet.createRandom().privateKey)
const ownerKey = owner.signingKey.compressedPublicKey
const reqId = hexlify(crypto.getRandomValues(new Uint8Array(32)))
const datasetId = keccak256("0x01")

const table = (rows: number): TabularData => {
  const x = Float64Array.from({ length: rows }, (_, i) => i)
  const y = Float64Array.from({ length: rows }, (_, i) => (i % 2 === 0 ? 1 : 0))
  const cols: Record<string, Float64Array> = { x, y }
  return { name: "t", rowCount: rows, columnNames: ["x", "y"], isNumeric: () => true, numeric: (c) => cols[c]!, strings: (c) => Array.from(cols[c]!, String) }
}

const payload = (analysis: ModelToData.Analysis): ModelToData.RequestPayload => ({
  version: 1, reqId, datasetId, dataset: "t", from: initiator.address, to: owner.address, nonce: "0x00", analysis
})
const onChain = (payloadHash: string) => ({ reqId, datasetId, from: initiator.address, to: owner.address, payloadHash })
const stats: ModelToData.Analysis = { template: "statistics", columns: ["x"], statistics: ["count", "mean"] }

describe("model to data (PROTOCOLS.md §2.3)", () => {
  it("round-trips a signed, encrypted request and an encrypted result", async () => {
    const p = payload(stats)
    const sealed = ModelToData.seal(ownerKey, p, await ModelToData.sign(initiator, p))
    const opened = ModelToData.open(getBytes(owner.privateKey), sealed.ciphertext, onChain(sealed.payloadHash))
    const result = ModelToData.run(opened.analysis, table(20))
    expect(result).toEqual({ template: "statistics", count: 20, columns: { x: { count: 20, mean: 9.5 } } })
    const back = ModelToData.sealResult(initiator.signingKey.compressedPublicKey, reqId, result)
    expect(ModelToData.openResult(getBytes(initiator.privateKey), reqId, back.ciphertext, back.resultHash)).toEqual(result)
  })

  it("rejects a forged signature, a payload that is not the one on chain, and a swapped request id", async () => {
    const p = payload(stats)
    const forged = ModelToData.seal(ownerKey, p, await ModelToData.sign(new Wallet(Wallet.createRandom().privateKey), p))
    expect(() => ModelToData.open(getBytes(owner.privateKey), forged.ciphertext, onChain(forged.payloadHash))).toThrow(/BadSignature/)
    const honest = ModelToData.seal(ownerKey, p, await ModelToData.sign(initiator, p))
    expect(() => ModelToData.open(getBytes(owner.privateKey), honest.ciphertext, onChain(keccak256("0x02")))).toThrow(/PayloadHashMismatch/)
    const swapped = { ...onChain(honest.payloadHash), reqId: keccak256("0x03") }
    expect(() => ModelToData.open(getBytes(owner.privateKey), honest.ciphertext, swapped)).toThrow(/Undecryptable/)
  })

  it("keeps outputs aggregate and small: too few rows and oversize outputs are refused", () => {
    expect(() => ModelToData.run(stats, table(5))).toThrow(/TooFewRows/)
    expect(() => ModelToData.run(stats, table(20), { minRows: 10, maxOutputBytes: 10 })).toThrow(/OutputTooLarge/)
  })

  it("scores a linear model with confusion counts only", () => {
    const r = ModelToData.run({ template: "linear-score", model: { format: "linear", weights: [-1], bias: 0.5, link: "sign", featureColumns: ["x"] }, label: "y", positive: 1 }, table(20)) as Record<string, number>
    // Only x = 0 scores ≥ 0, and it is labelled 1.
    expect(r).toMatchObject({ n: 20, tp: 1, fp: 0, fn: 9, tn: 10 })
  })
})
