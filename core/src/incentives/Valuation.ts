/**
 * The settlement a payer posts (PROTOCOLS.md §9 "Settlement", Thm. 3): the Valuation the Settlement contract
 * takes, its EIP-712 typed data, and exact bigint mirrors of the contract's model — Thm. 1/2 shares from a
 * coalition score table (`lib/Incentives.sol`), PoW/PoS/PBFT mining shares and the integer payouts with the
 * remainder to the treasury — so a payer builds a valuation the chain accepts, and anyone can check one off chain.
 * Pure: no I/O.
 */
import { AbiCoder, getAddress, keccak256, TypedDataEncoder, type Signer, type TypedDataField } from "ethers"

export type MiningRule = "None" | "PoW" | "PoS" | "PBFT"
export const miningRules: ReadonlyArray<MiningRule> = ["None", "PoW", "PoS", "PBFT"]

/** One revenue stream of Thm. 3: a service sold by one third party, with the owners holding its data type. */
export interface Stream {
  /** alpha_r, points per use. */
  readonly price: bigint
  /** x_j^r, uses in the period. */
  readonly uses: bigint
  readonly thirdParty: string
  readonly owners: ReadonlyArray<string>
  /** Shapley numerators over `denominator`, one per owner. */
  readonly ownerShares: ReadonlyArray<bigint>
  /** Each miner's numerator. */
  readonly minerShare: bigint
  readonly thirdPartyShare: bigint
  readonly denominator: bigint
  /** `scoresHash(salt, scores)` of the stream's score table. */
  readonly scoresHash: string
}

export interface Miners {
  readonly rule: MiningRule
  readonly accounts: ReadonlyArray<string>
  /** PoW hash rates or PoS stakes (empty for PBFT). */
  readonly weights: ReadonlyArray<bigint>
  /** PBFT: blocks in the period. */
  readonly rounds: number
  /** PBFT: `healthWords` of the validators' healthy rounds. */
  readonly health: ReadonlyArray<bigint>
}

export interface Valuation {
  readonly settlementId: string
  readonly period: bigint
  readonly streams: ReadonlyArray<Stream>
  readonly miners: Miners
  readonly testSetHash: string
  readonly modelHashes: ReadonlyArray<string>
}

export const noMiners: Miners = { rule: "None", accounts: [], weights: [], rounds: 0, health: [] }

// ---------------------------------------------------------------- EIP-712 (Settlement.VALUATION_TYPEHASH)

export const valuationTypes: Record<string, Array<TypedDataField>> = {
  Valuation: [
    { name: "settlementId", type: "bytes32" },
    { name: "period", type: "uint64" },
    { name: "streams", type: "Stream[]" },
    { name: "miners", type: "Miners" },
    { name: "testSetHash", type: "bytes32" },
    { name: "modelHashes", type: "bytes32[]" }
  ],
  Miners: [
    { name: "rule", type: "uint8" },
    { name: "accounts", type: "address[]" },
    { name: "weights", type: "uint256[]" },
    { name: "rounds", type: "uint32" },
    { name: "health", type: "uint256[]" }
  ],
  Stream: [
    { name: "price", type: "uint256" },
    { name: "uses", type: "uint256" },
    { name: "thirdParty", type: "address" },
    { name: "owners", type: "address[]" },
    { name: "ownerShares", type: "uint256[]" },
    { name: "minerShare", type: "uint256" },
    { name: "thirdPartyShare", type: "uint256" },
    { name: "denominator", type: "uint256" },
    { name: "scoresHash", type: "bytes32" }
  ]
}

export interface SettlementDomain {
  readonly name: "Jointly Settlement"
  readonly version: "1"
  readonly chainId: bigint
  readonly verifyingContract: string
}

export const settlementDomain = (chainId: bigint, settlement: string): SettlementDomain => ({
  name: "Jointly Settlement",
  version: "1",
  chainId,
  verifyingContract: getAddress(settlement)
})

/** The valuation as the contract's ABI and the typed data take it (enum as its index, accounts checksummed). */
export const toAbi = (v: Valuation) => ({
  settlementId: v.settlementId,
  period: v.period,
  streams: v.streams.map((s) => ({
    price: s.price,
    uses: s.uses,
    thirdParty: getAddress(s.thirdParty),
    owners: s.owners.map((o) => getAddress(o)),
    ownerShares: [...s.ownerShares],
    minerShare: s.minerShare,
    thirdPartyShare: s.thirdPartyShare,
    denominator: s.denominator,
    scoresHash: s.scoresHash
  })),
  miners: {
    rule: miningRules.indexOf(v.miners.rule),
    accounts: v.miners.accounts.map((a) => getAddress(a)),
    weights: [...v.miners.weights],
    rounds: v.miners.rounds,
    health: [...v.miners.health]
  },
  testSetHash: v.testSetHash,
  modelHashes: [...v.modelHashes]
})

export const valuationDigest = (domain: SettlementDomain, v: Valuation): string => TypedDataEncoder.hash(domain, valuationTypes, toAbi(v))

/** The payer's signature of the valuation (any signer of typed data: a Wallet, a browser wallet). */
export const signValuation = (signer: Pick<Signer, "signTypedData">, domain: SettlementDomain, v: Valuation): Promise<string> =>
  signer.signTypedData(domain, valuationTypes, toAbi(v))

/** keccak256(abi.encode(salt, scores)): what a stream commits to; a dispute reveals salt and scores. */
export const scoresHash = (salt: string, scores: ReadonlyArray<bigint>): string =>
  keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "uint256[]"], [salt, scores]))

// ---------------------------------------------------------------- the model, exactly (mirrors lib/Incentives.sol)

export interface Shares {
  readonly owners: ReadonlyArray<bigint>
  readonly miner: bigint
  readonly thirdParty: bigint
  readonly denominator: bigint
  /** Some owner's contribution was negative and clamped to 0, the others renormalised (§9). */
  readonly clamped: boolean
}

export const maxOwners = 10
export const maxMiners = 8
export const maxScore = 1n << 32n

const factorial = (n: number): bigint => {
  let f = 1n
  for (let i = 2n; i <= BigInt(n); i++) f *= i
  return f
}
const binomial = (n: number, k: number) => factorial(n) / (factorial(k) * factorial(n - k))
const popcount = (x: number) => {
  let c = 0
  for (; x; x &= x - 1) c++
  return c
}

/**
 * Thm. 2 (Eqs. 7.9-7.10) with `miners` identical miners and one third party, or Thm. 1 (Eq. 7.8, owners alone)
 * when `miners` is 0: numerators over N! F(H), from `scores[mask]` = F1 of the owners in `mask` in a fixed-point
 * unit (scores[0] = 0). Negative owner contributions are clamped and the owners renormalised exactly.
 */
export const simpleModel = (owners: number, miners: number, scores: ReadonlyArray<bigint>): Shares => {
  if (owners < 1 || owners > maxOwners || miners < 0 || miners > maxMiners) throw new RangeError(`simpleModel: ${owners} owners and ${miners} miners (at most ${maxOwners} and ${maxMiners})`)
  const masks = 1 << owners
  if (scores.length !== masks || scores[0] !== 0n) throw new RangeError(`simpleModel: the score table needs ${masks} entries, the empty coalition's 0`)
  scores.forEach((s, m) => {
    if (s < 0n || s >= maxScore) throw new RangeError(`simpleModel: score of coalition ${m} is ${s}, outside [0, 2^32)`)
  })
  const full = scores[masks - 1]!
  if (full === 0n) throw new RangeError("simpleModel: the whole coalition's score is 0")
  const n = owners + miners + (miners === 0 ? 0 : 1)
  const w = Array.from({ length: n }, (_, k) => factorial(n - k - 1) * factorial(k))
  const cOwner = Array.from({ length: owners }, (_, k) => {
    if (miners === 0) return w[k]!
    let c = 0n
    for (let j = 1; j <= miners; j++) c += binomial(miners, j) * w[k + j + 1]!
    return c
  })
  const cThird = Array.from({ length: owners + 1 }, (_, k) => {
    let c = 0n
    if (k > 0) for (let j = 1; j <= miners; j++) c += binomial(miners, j) * w[k + j]!
    return c
  })
  let miner = 0n
  let thirdParty = 0n
  const raw = new Array<bigint>(owners).fill(0n)
  for (let m = 0; m < masks; m++) {
    const size = popcount(m)
    if (m !== 0 && miners > 0) {
      miner += w[size + 1]! * scores[m]!
      thirdParty += cThird[size]! * scores[m]!
    }
    for (let i = 0; i < owners; i++) {
      if (m & (1 << i)) continue
      raw[i]! += cOwner[size]! * (scores[m | (1 << i)]! - scores[m]!)
    }
  }
  const denominator = factorial(n) * full
  const clamped = raw.some((x) => x < 0n)
  if (!clamped) return { owners: raw, miner, thirdParty, denominator, clamped }
  const total = raw.reduce((a, b) => a + b, 0n)
  const kept = raw.reduce((a, b) => a + (b > 0n ? b : 0n), 0n)
  if (total <= 0n || kept === 0n) throw new RangeError("simpleModel: the owners' contributions add up to nothing positive")
  return { owners: raw.map((x) => (x > 0n ? x * total : 0n)), miner: miner * kept, thirdParty: thirdParty * kept, denominator: denominator * kept, clamped }
}

/** Fixed-point scores (units of 1/scale, rounded) from F1 values per coalition mask; F1(∅) is 0. */
export const fixedPointScores = (n: number, f1: (mask: number) => number, scale = 1_000_000_000): Array<bigint> =>
  Array.from({ length: 1 << n }, (_, mask) => (mask === 0 ? 0n : BigInt(Math.round(f1(mask) * scale))))

/** P_k numerators over one denominator (Eqs. 7.13-7.16). */
export const miningShares = (miners: Miners): { readonly numerators: ReadonlyArray<bigint>; readonly denominator: bigint } => {
  if (miners.rule === "None") return { numerators: [], denominator: 1n }
  if (miners.rule !== "PBFT") {
    const denominator = miners.weights.reduce((a, b) => a + b, 0n)
    if (denominator === 0n || miners.weights.length !== miners.accounts.length) throw new RangeError("miningShares: one positive weight per miner")
    return { numerators: miners.weights, denominator }
  }
  const k = miners.accounts.length
  const words = Math.ceil(miners.rounds / 256)
  const healthy = (v: number, i: number) => ((miners.health[v * words + Math.floor(i / 256)]! >> BigInt(i % 256)) & 1n) === 1n
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b))
  const q = Array.from({ length: miners.rounds }, (_, i) => BigInt(Array.from({ length: k }, (_, v) => v).filter((v) => healthy(v, i)).length))
  const l = q.reduce((acc, x) => (x > 0n ? (acc / gcd(acc, x)) * x : acc), 1n)
  const numerators = Array.from({ length: k }, (_, v) => {
    let s = 0n
    for (let i = 0; i < miners.rounds; i++) if (healthy(v, i)) s += l / q[i]!
    return s
  })
  return { numerators, denominator: BigInt(miners.rounds) * l }
}

/** PBFT evidence words from each validator's healthy rounds (0-based), as the contract reads them. */
export const healthWords = (rounds: number, healthy: ReadonlyArray<ReadonlyArray<number>>): Array<bigint> => {
  const words = Math.ceil(rounds / 256)
  return healthy.flatMap((rs) => {
    const out = new Array<bigint>(words).fill(0n)
    for (const i of rs) {
      if (!Number.isInteger(i) || i < 0 || i >= rounds) throw new RangeError(`healthWords: round ${i} outside 0..${rounds - 1}`)
      out[Math.floor(i / 256)]! |= 1n << BigInt(i % 256)
    }
    return out
  })
}

export interface Payout {
  readonly to: string
  readonly amount: bigint
}

/** What the contract pays for `v` (Settlement.payouts): entries stream by stream, and the treasury's remainder. */
export const payouts = (v: Valuation): { readonly entries: ReadonlyArray<Payout>; readonly toTreasury: bigint; readonly revenue: bigint } => {
  const m = BigInt(v.miners.accounts.length)
  const p = miningShares(v.miners)
  const entries: Array<Payout> = []
  let revenue = 0n
  for (const s of v.streams) {
    const sp = s.price * s.uses
    revenue += sp
    s.owners.forEach((o, i) => entries.push({ to: getAddress(o), amount: (sp * s.ownerShares[i]!) / s.denominator }))
    const group = m === 0n ? 0n : (sp * m * s.minerShare) / s.denominator
    v.miners.accounts.forEach((a, k) => entries.push({ to: getAddress(a), amount: (group * p.numerators[k]!) / p.denominator }))
    entries.push({ to: getAddress(s.thirdParty), amount: (sp * s.thirdPartyShare) / s.denominator })
  }
  const paid = entries.reduce((a, e) => a + e.amount, 0n)
  return { entries, toTreasury: revenue - paid, revenue }
}

/** A stream from its score table: the model's exact shares, committed to by `scoresHash(salt, scores)`. */
export const stream = (p: {
  readonly price: bigint
  readonly uses: bigint
  readonly thirdParty: string
  readonly owners: ReadonlyArray<string>
  readonly miners: number
  readonly scores: ReadonlyArray<bigint>
  readonly salt: string
}): Stream & { readonly clamped: boolean } => {
  const s = simpleModel(p.owners.length, p.miners, p.scores)
  return {
    price: p.price,
    uses: p.uses,
    thirdParty: p.thirdParty,
    owners: p.owners,
    ownerShares: s.owners,
    minerShare: s.miner,
    thirdPartyShare: s.thirdParty,
    denominator: s.denominator,
    scoresHash: scoresHash(p.salt, p.scores),
    clamped: s.clamped
  }
}
