/**
 * Participant side of private arithmetic (the protocol, its roles and leakage: spec.ts): the recipient's key and
 * decryption, the other holder's encryption, the combiner's homomorphic step, and — per id — the aligned PSI
 * of joint-query run between the two operand holders only.
 */
import { Effect } from "effect"
import { BigIntKernels } from "../../compute/Kernels.ts"
import * as FixedPoint from "../../crypto/FixedPoint.ts"
import { frames, unframe } from "../../crypto/paillier/Bytes.ts"
import * as Keys from "../../crypto/paillier/Keys.ts"
import * as Paillier from "../../crypto/paillier/Paillier.ts"
import * as Randomness from "../../crypto/paillier/Randomness.ts"
import * as Serialization from "../../crypto/paillier/Serialization.ts"
import { LocalData } from "../../data/Tabular.ts"
import * as TaskOutput from "../../data/TaskOutput.ts"
import { sha256Digest } from "../../wire/Canonical.ts"
import type { PartyContext } from "../Define.ts"
import { handler, ParticipantFailure, type ParticipantSession, type StageHandler } from "../Protocol.ts"
import * as Channel from "../joint-query/Channel.ts"
import * as PsiParticipant from "../joint-query/psi/participant.ts"
import * as PsiSpec from "../joint-query/psi/spec.ts"
import * as Arithmetic from "./Arithmetic.ts"
import * as Spec from "./spec.ts"

const MEMORY = "statistics/arithmetic"
/** What joint-query's PSI keeps under "query/psi" (psi/Party.ts `State`), read-only here. */
const PSI_MEMORY = "query/psi"

interface PsiView {
  readonly aligned?: { readonly positions: ReadonlyArray<number> }
  readonly set: { readonly ids: ReadonlyArray<string>; readonly rows: ReadonlyArray<number> }
}

interface State {
  readonly channel: Channel.Keys["channel"]
  readonly reply: typeof Spec.keys.reply.Type
  /** The recipient's own key pair. */
  readonly keyPair?: Keys.KeyPair
  peers?: ReadonlyMap<string, Channel.Advertisement>
  /** The recipient's public key, decoded at the 2048/3072-bit policy (everyone but the recipient). */
  recipientKey?: Keys.PublicKey
  readonly seen: Set<string>
}

const failure = (session: ParticipantSession, stage: string, code: string, detail: string) =>
  new ParticipantFailure({ participant: session.self, stage, code, detail })
const fail = (session: ParticipantSession, stage: string, code: string, detail: string) => Effect.fail(failure(session, stage, code, detail))
const attempt = <A>(session: ParticipantSession, stage: string, code: string, f: () => A) =>
  Effect.try({ try: f, catch: (error) => failure(session, stage, code, error instanceof Error ? error.message : String(error)) })

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** Runs the PSI handlers as if the task had only the operand holders (the recipient takes no part in the join). */
const among = (holders: ReadonlyArray<string>) => <R>(h: StageHandler<any, any, R>): StageHandler<any, any, R> =>
  handler(h.stage, (request, session) => h.handle(request, { ...session, participants: holders }))

export const handlers = (datasetName: string, params: Spec.Params, task: PartyContext) => {
  const roles = Spec.rolesOf(params, task.parties)
  const scaleBits = params.scaleBits ?? Spec.defaults.scaleBits
  const kappa = Spec.defaults.kappa
  const perValue = Arithmetic.ciphertextsPerValue(params.operation)

  const state = (session: ParticipantSession, stage: string) => {
    const s = session.memory.get(MEMORY) as State | undefined
    return s?.peers === undefined ? fail(session, stage, "MissingState", "keys not exchanged yet") : Effect.succeed(s as State & { peers: ReadonlyMap<string, Channel.Advertisement> })
  }
  const once = (session: ParticipantSession, s: State, stage: string) => {
    if (s.seen.has(stage)) return fail(session, stage, "DuplicateChunk", `${stage} was already answered`)
    s.seen.add(stage)
    return Effect.void
  }
  const role = (session: ParticipantSession, stage: string, who: string, name: string) =>
    session.self === who ? Effect.void : fail(session, stage, "WrongRole", `only the ${name} answers ${stage}`)
  const seal = (session: ParticipantSession, s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, stage: string, to: string, label: string, bytes: Uint8Array) =>
    Channel.seal(session, stage, s.channel.secretKey, to, s.peers.get(to)!.channelPublicKey, `arithmetic|${label}`, bytes)
  const open = (session: ParticipantSession, s: State & { peers: ReadonlyMap<string, Channel.Advertisement> }, stage: string, from: string, label: string, bytes: Uint8Array) =>
    Channel.open(session, stage, s.channel.secretKey, from, s.peers.get(from)!.channelPublicKey, `arithmetic|${label}`, bytes)

  /** This holder's operand: the encoded total, or the encoded values of its aligned rows with their ids. */
  const operand = (session: ParticipantSession, stage: string) =>
    Effect.gen(function*() {
      const mine = params.left.party === session.self ? params.left : params.right
      const data = yield* (yield* LocalData).dataset(datasetName)
      if (!data.columnNames.includes(mine.column)) return yield* fail(session, stage, "MissingColumn", `dataset ${data.name} has no column ${mine.column}`)
      if (!data.isNumeric(mine.column)) return yield* fail(session, stage, "NotNumeric", `column ${mine.column} of dataset ${data.name} is not numeric`)
      const column = data.numeric(mine.column)
      const encode = (row: number) => attempt(session, stage, "NotEncodable", () => FixedPoint.scale(scaleBits, column[row]!))
      if (params.over === "totals") {
        let total = 0n
        for (let row = 0; row < column.length; row++) total += yield* encode(row)
        return { values: [total], ids: [] as ReadonlyArray<string> }
      }
      const psi = session.memory.get(PSI_MEMORY) as PsiView | undefined
      if (psi?.aligned === undefined) return yield* fail(session, stage, "MissingAlignment", "the aligned PSI join has not finished")
      const values: Array<bigint> = []
      for (const position of psi.aligned.positions) values.push(yield* encode(psi.set.rows[position]!))
      return { values, ids: psi.aligned.positions.map((position) => psi.set.ids[position]!) }
    })

  const headroom = (session: ParticipantSession, stage: string, pk: Keys.PublicKey, values: ReadonlyArray<bigint>) => {
    // Encoded values are below 2^53 (FixedPoint.scale); a total sums at most 2^32 of them. The other holder's
    // operand is bounded by that public bound, this holder's by its own values.
    let max = params.over === "totals" ? 1n << 85n : 1n << 53n
    for (const v of values) if ((v < 0n ? -v : v) > max) max = v < 0n ? -v : v
    return attempt(session, stage, "HeadroomExceeded", () => Arithmetic.checkHeadroom(pk, params.operation, max, kappa))
  }

  const keys = handler(Spec.keys, (_request, session) =>
    Effect.gen(function*() {
      const existing = session.memory.get(MEMORY) as State | undefined
      if (existing !== undefined) return existing.reply
      const keyPair = session.self === roles.recipient
        ? yield* Effect.catchTag(Keys.generate({ bits: params.keyBits ?? Spec.defaults.keyBits }), "PaillierKeyGenerationFailed", (error) => fail(session, Spec.keys.name, "KeyGeneration", error.message))
        : undefined
      const extra = keyPair === undefined ? new Uint8Array(0) : Serialization.encodePublicKey(keyPair.publicKey)
      const { channel, advertisement } = yield* Channel.advertise(session, 1, extra)
      session.memory.set(MEMORY, { channel, reply: advertisement, keyPair, seen: new Set() } satisfies State)
      return advertisement
    })
  )

  const peers = handler(Spec.peers, ({ advertisements }, session) =>
    Effect.gen(function*() {
      const stage = Spec.peers.name
      const s = session.memory.get(MEMORY) as State | undefined
      if (s === undefined) return yield* fail(session, stage, "MissingState", "no keys yet")
      if (s.peers !== undefined) return yield* fail(session, stage, "DuplicateChunk", "peer keys were already received")
      const verified = yield* Channel.verify(session, stage, session.participants, advertisements, s.channel.publicKey)
      // Production key sizes only, whatever the task says: decodePublicKey refuses anything but 2048/3072 bits.
      s.recipientKey = s.keyPair?.publicKey ?? (yield* attempt(session, stage, "WeakKey", () => Serialization.decodePublicKey(verified.get(roles.recipient)!.extra)))
      s.peers = verified
      return { ok: true as const }
    })
  )

  const encrypt = handler(Spec.encrypt, (_request, session) =>
    Effect.gen(function*() {
      const stage = Spec.encrypt.name
      yield* role(session, stage, roles.other, "other operand holder")
      const s = yield* state(session, stage)
      yield* once(session, s, stage)
      const pk = s.recipientKey!
      const { values } = yield* operand(session, stage)
      yield* headroom(session, stage, pk, values)
      const kernels = yield* BigIntKernels
      const randomness = Randomness.automatic(pk, kernels)
      const ciphertexts = yield* attempt(session, stage, "Encryption", () => values.map((v) => Paillier.encryptSigned(pk, v, randomness)))
      const payload = yield* seal(session, s, stage, roles.combiner, "encrypt", Serialization.encodeCiphertexts(pk, ciphertexts))
      return { payload, count: values.length }
    })
  )

  const combine = handler(Spec.combine, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.combine.name
      yield* role(session, stage, roles.combiner, "combiner")
      const s = yield* state(session, stage)
      yield* once(session, s, stage)
      const pk = s.recipientKey!
      const opened = yield* open(session, s, stage, roles.other, "encrypt", payload)
      const theirs = yield* attempt(session, stage, "InvalidCiphertext", () => Serialization.decodeCiphertexts(pk, opened))
      const { values, ids } = yield* operand(session, stage)
      if (theirs.length !== values.length) {
        return yield* fail(session, stage, "CountMismatch", `${theirs.length} encrypted values for ${values.length} of this party's`)
      }
      yield* headroom(session, stage, pk, values)
      const kernels = yield* BigIntKernels
      const randomness = Randomness.automatic(pk, kernels)
      const out = yield* attempt(session, stage, "Computation", () =>
        values.flatMap((own, i) => Arithmetic.combine(params.operation, roles.combinerSide, own, theirs[i]!, { kappa, kernels, randomness })))
      // A recipient outside the PSI gets the ids of the aligned rows with their results.
      const withIds = params.over === "per-id" && !roles.holders.includes(roles.recipient)
      const parts = [Serialization.encodeCiphertexts(pk, out), ...(withIds ? [textEncoder.encode(JSON.stringify(ids))] : [])]
      return { payload: yield* seal(session, s, stage, roles.recipient, "combine", frames(parts)), count: values.length }
    })
  )

  const outputHandler = handler(Spec.output, ({ payload }, session) =>
    Effect.gen(function*() {
      const stage = Spec.output.name
      yield* role(session, stage, roles.recipient, "recipient")
      const s = yield* state(session, stage)
      yield* once(session, s, stage)
      const keyPair = s.keyPair!
      const opened = yield* open(session, s, stage, roles.combiner, "combine", payload)
      const parts = yield* attempt(session, stage, "MalformedPayload", () => unframe(opened, "arithmetic result"))
      const ciphertexts = yield* attempt(session, stage, "InvalidCiphertext", () => Serialization.decodeCiphertexts(keyPair.publicKey, parts[0] ?? new Uint8Array(0)))
      if (ciphertexts.length % perValue !== 0) return yield* fail(session, stage, "CountMismatch", `${ciphertexts.length} ciphertexts for ${perValue} per value`)
      const count = ciphertexts.length / perValue
      const ids = params.over === "totals"
        ? []
        : roles.holders.includes(session.self)
          ? (yield* operand(session, stage)).ids
          : yield* attempt(session, stage, "MalformedPayload", () => {
            const parsed: unknown = JSON.parse(textDecoder.decode(parts[1]))
            if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) throw new Error("not a list of ids")
            return parsed as Array<string>
          })
      if (params.over === "per-id" && ids.length !== count) return yield* fail(session, stage, "CountMismatch", `${count} results for ${ids.length} aligned ids`)
      const kernels = yield* BigIntKernels
      const plaintexts = yield* attempt(session, stage, "Decryption", () =>
        Paillier.decryptBatch(keyPair.privateKey, ciphertexts, kernels).map((m) => Paillier.toSigned(keyPair.publicKey, m)))
      const values = Array.from({ length: count }, (_, i) => Arithmetic.read(params.operation, scaleBits, plaintexts.slice(i * perValue, (i + 1) * perValue)))
      const divisionsByZero = values.filter((v) => v.divisionByZero === true).length
      const base = { taskId: session.taskId, kind: Spec.kind, operation: params.operation, left: params.left, right: params.right, over: params.over, scaleBits }
      const output = params.over === "totals"
        ? { ...base, result: values[0]! }
        : { ...base, idColumn: params.idColumn, count, results: values.map((v, i) => ({ id: ids[i]!, ...v })) }
      const digest = sha256Digest(output)
      const location = yield* TaskOutput.deliver(session, { ...output, digest })
      return { count, divisionsByZero, digest, location }
    })
  )

  const psi = params.over === "per-id" && roles.holders.includes(task.party.participant)
    ? PsiParticipant.handlers(datasetName, "aligned", PsiSpec.alignedJoin(params.idColumn!, roles.holders, params.maxIds!)).map(among(roles.holders))
    : []
  return [keys, peers, ...psi, encrypt, combine, outputHandler]
}
