/**
 * Private arithmetic between parties (PROTOCOLS.md §3 items 3–4, §11 item 44): `left op right` for
 * op ∈ {add, subtract, multiply, divide}, where `left` is a column of one party and `right` a column of another,
 * either per aligned id (after an aligned PSI between the two holders) or over the column totals. Only the
 * recipient learns the result. Semi-honest; Paillier (N of 2048 bits by default, 3072 on request, never less:
 * every party refuses a smaller recipient key whatever the task says).
 *
 * Roles: the recipient R owns the Paillier key. The combiner C is the operand holder that is not R (the left
 * holder when R holds neither operand); D is the other operand holder.
 *
 *   1. arithmetic.keys / .peers  every party signs a fresh X25519 channel key (joint-query `Channel.ts`); R's
 *                                advertisement carries its Paillier public key, bound by the signature.
 *   2. (per id) the aligned PSI of joint-query between C and D only: both get their rows of the intersection in
 *                                one common order.
 *   3. arithmetic.encrypt        D encrypts its fixed-point values d̂ under R's key, sealed to C.
 *   4. arithmetic.combine        C, with its own values ĉ in the clear, computes per value
 *                                  add       [[ĉ + d̂]]                     = [[d̂]]·(1 + ĉN)
 *                                  subtract  [[l̂ − r̂]]                     (C's side decides the sign)
 *                                  multiply  [[ĉ·d̂]]                       = [[d̂]]^ĉ
 *                                  divide    [[t·x̂]], [[t·ŷ]]              t fresh per value, |t| ∈ [2^κ, 2^(κ+1)),
 *                                                                          random sign, κ = 40 (PROTOCOLS §3 item 4)
 *                                re-randomises every ciphertext and seals them to R (with the aligned ids when R
 *                                took no part in the PSI).
 *   5. arithmetic.output         R decrypts and keeps the result locally (TaskOutput); only its digest and count
 *                                go back to the coordinator.
 *
 * Leakage: R learns the result and whatever follows from it and R's own operand (a recipient holding d learns c
 * from c·d, c ± d or c/d — inherent in the output); for a division it also learns t·gcd(x̂, ŷ) (the size of the
 * common factor of the two encodings, to about one bit) and, for a zero divisor, that fact and t·x̂ (the size of
 * x̂). C learns nothing (it sees only ciphertexts under R's key) and D nothing; both learn the intersection in
 * per-id mode (PSI). The coordinator sees sizes only: every payload is sealed end to end. If C and R collude
 * they decrypt D's values: the construction assumes they do not.
 *
 * Exactness: values are encoded v̂ = round(v·2^s) (s = scaleBits, default 16); the arithmetic on encodings is
 * exact, and results come back exact (a decimal string for add, subtract and multiply, the reduced fraction
 * "p/q" for divide) beside their nearest double. Integer-valued inputs are encoded without error, so their
 * results are exact. Otherwise, with e = 2^−(s+1) the per-value encoding error (totals: rows·e):
 *   add, subtract  |err| ≤ 2e                multiply  |err| ≤ e·(|x| + |y|) + e²
 *   divide         |err| ≤ e·(1 + |x/y|) / (|y| − e)
 * plus the rounding of the double (half an ulp).
 */
import { Schema } from "effect"
import { Address } from "../../task/TaskSpec.ts"
import { stage } from "../Protocol.ts"
import { Advertisement } from "../joint-query/Channel.ts"

export const kind = "statistics.arithmetic" as const

export const Operation = Schema.Literals(["add", "subtract", "multiply", "divide"])
export type Operation = typeof Operation.Type

export const Operand = Schema.Struct({
  /** The party holding the column. */
  party: Address,
  /** A numeric column of that party's dataset. */
  column: Schema.String
})
export type Operand = typeof Operand.Type

export const Params = Schema.Struct({
  operation: Operation,
  left: Operand,
  right: Operand,
  /** The only party that learns the result; one of the operand holders or a third party of the task. */
  recipient: Address,
  /** "totals": the column sums; "per-id": row by row over the ids both holders have (aligned PSI on `idColumn`). */
  over: Schema.Literals(["totals", "per-id"]),
  idColumn: Schema.optional(Schema.String),
  /** per-id: the most ids either holder brings (a holder with more refuses; policies cap it through `limits`). */
  maxIds: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  /** Fixed-point scale 2^scaleBits (default 16). */
  scaleBits: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 32 }))),
  /** Paillier modulus size of the recipient's key (default 2048). */
  keyBits: Schema.optional(Schema.Literals([2048, 3072]))
})
export type Params = typeof Params.Type

export const defaults = { scaleBits: 16, keyBits: 2048, kappa: 40 } as const

const Bytes = Schema.Uint8ArrayFromBase64
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const keys = stage("arithmetic.keys", Schema.Struct({}), Schema.Struct({ channelPublicKey: Bytes, count: Count, extra: Bytes, signature: Schema.String }))
export const peers = stage("arithmetic.peers", Schema.Struct({ advertisements: Schema.Array(Advertisement) }), Schema.Struct({ ok: Schema.Literal(true) }))
/** D → C: its values encrypted under R's key (sealed). */
export const encrypt = stage("arithmetic.encrypt", Schema.Struct({}), Schema.Struct({ payload: Bytes, count: Count }))
/** C → R: the result ciphertexts (sealed). */
export const combine = stage("arithmetic.combine", Schema.Struct({ payload: Bytes }), Schema.Struct({ payload: Bytes, count: Count }))
/** R: decrypts and keeps the result; reports its digest only. */
export const output = stage(
  "arithmetic.output",
  Schema.Struct({ payload: Bytes }),
  Schema.Struct({ count: Count, divisionsByZero: Count, digest: Schema.String, location: Schema.String })
)

/** What the coordinator stores and notarizes: no value, no id. */
export const Result = Schema.Struct({
  kind: Schema.Literal(kind),
  operation: Operation,
  over: Schema.Literals(["totals", "per-id"]),
  recipient: Schema.String,
  /** Values computed: 1 for totals, |intersection| per id. */
  count: Count,
  divisionsByZero: Count,
  /** sha256 of the recipient's output as stored there. */
  digest: Schema.String,
  location: Schema.String
})
export type Result = typeof Result.Type

export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", { field: Schema.String, detail: Schema.String }) {
  override get message() {
    return `invalid arithmetic parameters: ${this.field}: ${this.detail}`
  }
}

/** Who computes what (spec above): C combines, D encrypts, R decrypts. */
export interface Roles {
  readonly recipient: string
  readonly combiner: string
  readonly other: string
  /** Which operand the combiner holds. */
  readonly combinerSide: "left" | "right"
  /** The operand holders in task order (the PSI ring). */
  readonly holders: ReadonlyArray<string>
}

export const rolesOf = (params: Params, parties: ReadonlyArray<string>): Roles => {
  const combinerSide = params.left.party !== params.recipient ? "left" : "right"
  const combiner = params[combinerSide].party
  const other = params[combinerSide === "left" ? "right" : "left"].party
  return { recipient: params.recipient, combiner, other, combinerSide, holders: parties.filter((p) => p === combiner || p === other) }
}

export const validate = (params: Params, parties: ReadonlyArray<string>): InvalidParams | undefined => {
  if (new Set(parties).size !== parties.length) return new InvalidParams({ field: "parties", detail: "a participant is named twice" })
  if (params.left.party === params.right.party) {
    return new InvalidParams({ field: "right.party", detail: "both operands belong to one party, which needs no joint computation" })
  }
  for (const [field, address] of [["left.party", params.left.party], ["right.party", params.right.party], ["recipient", params.recipient]] as const) {
    if (!parties.includes(address)) return new InvalidParams({ field, detail: `${address} is not a party of the task` })
  }
  const involved = new Set([params.left.party, params.right.party, params.recipient])
  if (parties.length !== involved.size) {
    return new InvalidParams({ field: "parties", detail: `the task names ${parties.length} parties; the operand holders and the recipient are ${involved.size}` })
  }
  if (params.over === "per-id") {
    if (params.idColumn === undefined) return new InvalidParams({ field: "idColumn", detail: "per-id arithmetic aligns rows on an id column" })
    if (params.maxIds === undefined) return new InvalidParams({ field: "maxIds", detail: "per-id arithmetic needs a bound on the ids each holder brings" })
  } else if (params.idColumn !== undefined || params.maxIds !== undefined) {
    return new InvalidParams({ field: params.idColumn !== undefined ? "idColumn" : "maxIds", detail: "only per-id arithmetic reads ids" })
  }
  return undefined
}
