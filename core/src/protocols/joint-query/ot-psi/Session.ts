/**
 * What both roles of the OT-based PSI share (spec.ts): options, the hello exchange's outcome (keys, encoding,
 * partitions and their sizes), the schedule of partitions, and the statistics each role reports.
 */
import { Effect } from "effect"
import { Aes, type AesError, type AesKey } from "./Aes.ts"
import * as BaseOt from "./BaseOt.ts"
import { assertLittleEndian, words } from "./Bits.ts"
import * as Encoding from "./Encoding.ts"
import { type Counted, counted, type Link, type LinkError } from "./Link.ts"
import * as Messages from "./Messages.ts"
import type * as Oprf from "./Oprf.ts"
import * as Spec from "./spec.ts"
import { OtPsiError } from "./spec.ts"

export interface Options {
  /** Binds the session (task id, attempt, both parties): the two sides must pass the same bytes. */
  readonly context: Uint8Array
  /** The most elements the peer may announce; a larger peer is refused (PeerTooLarge) before any bulk work. */
  readonly maxPeerElements: number
  /** The receiver sends the positions of the intersection so the sender learns it too (both must agree). */
  readonly revealToSender?: boolean
  /** Largest partition (default 2^20); the two parties use the smaller of their two values. */
  readonly partitionElements?: number
  /** Receiver: stash slots per partition (default 0, spec.ts). */
  readonly stash?: number
  /** Source of randomness (default: the platform CSPRNG); tests pass a seeded one to compare transcripts. */
  readonly random?: (bytes: number) => Uint8Array
  readonly onProgress?: (progress: Progress) => void
}

export interface Progress {
  readonly stage: "matrix" | "values" | "reveal"
  readonly partition: number
  readonly partitions: number
}

export interface Stats {
  readonly role: "receiver" | "sender"
  readonly aes: string
  readonly elements: number
  readonly duplicates: number
  readonly peerElements: number
  readonly partitions: number
  /** OT rows (bins, stash and padding) over all partitions. */
  readonly rows: number
  readonly valueBytes: number
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly messagesSent: number
}

export interface Output {
  /** Input indices of this party's elements in the intersection, in the common order (empty: sender without reveal). */
  readonly indices: Uint32Array
  readonly stats: Stats
}

/** A refusal of the protocol or the peer (OtPsiError), the link failing, or this party's AES failing. */
export type EngineError = OtPsiError | LinkError | AesError

export const platformRandom = (bytes: number): Uint8Array => {
  const out = new Uint8Array(bytes)
  for (let at = 0; at < bytes; at += 65_536) crypto.getRandomValues(out.subarray(at, Math.min(bytes, at + 65_536)))
  return out
}

export const fail = (reason: OtPsiError["reason"], detail: string) => Effect.fail(new OtPsiError({ reason, detail }))

export const checkOptions = (link: Link, options: Options, count: number): Effect.Effect<void, OtPsiError> => {
  const partitionElements = options.partitionElements ?? Spec.DEFAULT_PARTITION_ELEMENTS
  const stash = options.stash ?? 0
  if (link.maxMessageBytes < Spec.MIN_MESSAGE_BYTES) return fail("BadOptions", `the link carries ${link.maxMessageBytes}-byte messages; the engine needs ${Spec.MIN_MESSAGE_BYTES}`)
  if (!Number.isInteger(partitionElements) || partitionElements < Spec.MIN_PARTITION_ELEMENTS || partitionElements > Spec.MAX_PARTITION_ELEMENTS) {
    return fail("BadOptions", `partitionElements must be an integer in [${Spec.MIN_PARTITION_ELEMENTS}, ${Spec.MAX_PARTITION_ELEMENTS}], got ${partitionElements}`)
  }
  if (!Number.isInteger(stash) || stash < 0 || stash > Spec.MAX_STASH) return fail("BadOptions", `stash must be an integer in [0, ${Spec.MAX_STASH}], got ${stash}`)
  if (!Number.isInteger(options.maxPeerElements) || options.maxPeerElements < 0) return fail("BadOptions", `maxPeerElements must be a non-negative integer`)
  if (count > Spec.MAX_ELEMENTS) return fail("BadOptions", `${count} elements exceed the ${Spec.MAX_ELEMENTS} the wire can announce`)
  return Effect.void
}

/** What both roles derive once the hellos have crossed. */
export interface Session {
  readonly link: Counted
  readonly random: (bytes: number) => Uint8Array
  readonly root: Uint8Array
  readonly oprf: Oprf.OprfKeys
  readonly partitions: number
  readonly stash: number
  readonly reveal: boolean
  readonly ownSizes: Uint32Array
  readonly peerSizes: Uint32Array
  readonly receiverSizes: Uint32Array
  readonly senderSizes: Uint32Array
  readonly valueBytes: number
  /** Elements of each of this party's partitions (indices into its distinct elements). */
  readonly members: ReadonlyArray<Uint32Array>
  readonly blocks: Uint8Array
  readonly hash: Encoding.Hashes
}

/** One partition both sides run. */
export interface Step {
  readonly partition: number
  readonly bins: number
  readonly rows: number
  readonly rowOffset: number
  readonly positionOffset: number
}

/** The partitions both sides run (both non-empty), with the OT row offset and the sender's position offset of each. */
export const schedule = (session: Pick<Session, "partitions" | "receiverSizes" | "senderSizes" | "stash">): Array<Step> => {
  const out: Array<Step> = []
  let rowOffset = 0
  let positionOffset = 0
  for (let p = 0; p < session.partitions; p++) {
    const ny = session.receiverSizes[p]!
    const nx = session.senderSizes[p]!
    if (ny > 0 && nx > 0) {
      const bins = Spec.binCount(ny, session.partitions)
      const rows = Spec.rowCount(bins, session.stash)
      out.push({ partition: p, bins, rows, rowOffset, positionOffset })
      rowOffset += rows
    }
    positionOffset += nx
  }
  return out
}

/** Each element's partition: the sizes, and the members of each partition in element order. */
const partition = (hash: Encoding.Hashes, count: number, partitions: number) => {
  const sizes = new Uint32Array(partitions)
  const of = new Uint32Array(count)
  for (let i = 0; i < count; i++) sizes[of[i] = Encoding.partitionOf(hash, i, partitions)]!++
  const members = Array.from(sizes, (size) => new Uint32Array(size))
  const filled = new Uint32Array(partitions)
  for (let i = 0; i < count; i++) members[of[i]!]![filled[of[i]!]!++] = i
  return { sizes, members }
}

/** The session root (spec.ts step 1) from both hellos' public fields (the base-OT points enter the OT keys instead). */
export const rootOf = (context: Uint8Array, receiver: Messages.Hello, sender: Messages.Hello): Uint8Array =>
  Spec.master(context, receiver.seed, sender.seed, receiver.count, sender.count, {
    partitionElements: Math.min(receiver.partitionElements, sender.partitionElements),
    stash: receiver.stash,
    revealToSender: receiver.reveal
  })

/** Hellos crossed: keys, encoding, partitioning and the exchange of partition sizes. */
export const establish = (
  role: Stats["role"],
  link: Counted,
  own: Encoding.Prepared,
  options: Options,
  random: (bytes: number) => Uint8Array,
  hellos: { readonly receiver: Messages.Hello; readonly sender: Messages.Hello }
) =>
  Effect.gen(function*() {
    const aes = yield* Aes
    const { receiver, sender } = hellos
    const peer = role === "receiver" ? sender : receiver
    if (peer.version !== Spec.VERSION) return yield* fail("VersionMismatch", `peer speaks ot-psi v${peer.version}, this party v${Spec.VERSION}`)
    if (peer.reveal !== (options.revealToSender ?? false)) {
      return yield* fail("ParameterMismatch", `revealToSender: this party ${options.revealToSender ?? false}, peer ${peer.reveal}`)
    }
    if (peer.count > options.maxPeerElements) return yield* fail("PeerTooLarge", `peer announced ${peer.count} elements, over the ${options.maxPeerElements} allowed`)
    if (peer.partitionElements < Spec.MIN_PARTITION_ELEMENTS || peer.partitionElements > Spec.MAX_PARTITION_ELEMENTS) {
      return yield* fail("ParameterMismatch", `peer's partitionElements ${peer.partitionElements} is out of range`)
    }
    if (receiver.stash > Spec.MAX_STASH) return yield* fail("ParameterMismatch", `receiver's stash ${receiver.stash} is over ${Spec.MAX_STASH}`)
    const partitionElements = Math.min(receiver.partitionElements, sender.partitionElements)
    const { stash, reveal } = receiver
    const root = rootOf(options.context, receiver, sender)
    const raw = Spec.sessionKeys(root)
    const [encode, locate0, locate1, code0, code1, code2, code3, out] = yield* Effect.all(
      [raw.encode, ...raw.locate, ...raw.code, raw.out].map((k) => aes.importKey(k))
    ) as unknown as Effect.Effect<[AesKey, AesKey, AesKey, AesKey, AesKey, AesKey, AesKey, AesKey]>
    const blocks = yield* Encoding.complete(encode, own)
    const hash = yield* Encoding.hashWords([locate0, locate1], blocks)
    const count = own.inputIndex.length
    const partitions = Spec.partitionCount(receiver.count, sender.count, partitionElements)
    const { sizes: ownSizes, members } = partition(hash, count, partitions)
    yield* link.send(Messages.encodeSizes(ownSizes))
    const peerSizes = yield* Effect.flatMap(link.receive, (m) => Messages.decodeSizes(m, partitions, peer.count))
    const receiverSizes = role === "receiver" ? ownSizes : peerSizes
    const senderSizes = role === "receiver" ? peerSizes : ownSizes
    let comparisons = 0
    for (let p = 0; p < partitions; p++) comparisons += receiverSizes[p]! * senderSizes[p]!
    const session: Session = {
      link,
      random,
      root,
      oprf: { code: [code0, code1, code2, code3], out },
      partitions,
      stash,
      reveal,
      ownSizes,
      peerSizes,
      receiverSizes,
      senderSizes,
      valueBytes: Spec.valueBytes(comparisons),
      members,
      blocks,
      hash
    }
    return session
  })

export const stats = (role: Stats["role"], aes: string, own: Encoding.Prepared, session: Session, peerCount: number): Stats => {
  const link = session.link.stats()
  return {
    role,
    aes,
    elements: own.inputIndex.length,
    duplicates: own.duplicates,
    peerElements: peerCount,
    partitions: session.partitions,
    rows: schedule(session).reduce((sum, s) => sum + s.rows, 0),
    valueBytes: session.valueBytes,
    bytesSent: link.bytesSent,
    bytesReceived: link.bytesReceived,
    messagesSent: link.messagesSent
  }
}

/** Rows per matrix message for this link. */
export const matrixChunkRows = (link: Link) =>
  Math.min(Spec.MATRIX_CHUNK_ROWS, Math.floor((link.maxMessageBytes - Messages.BULK_HEADER) / Spec.CODE_BYTES / Spec.ROW_ALIGN) * Spec.ROW_ALIGN)

/**
 * The OPRF inputs e(x)‖tag, packed 16 bytes each (the tag in bits 5–6 of byte 0): per listed element either its own
 * tag (`tags` an array) or every tag 0…tags−1 in turn (`tags` a count, the sender's three locations and the stash).
 */
export const taggedInputs = (blocks: Uint8Array, elements: ArrayLike<number>, tags: ArrayLike<number> | number): Uint8Array => {
  const src = words(blocks)
  const perElement = typeof tags === "number" ? tags : 1
  const out = new Uint32Array(elements.length * perElement * 4)
  for (let i = 0, o = 0; i < elements.length; i++) {
    const at = elements[i]! * 4
    for (let k = 0; k < perElement; k++, o += 4) {
      out[o] = src[at]! | ((typeof tags === "number" ? k : tags[i]!) << 5)
      out[o + 1] = src[at + 1]!
      out[o + 2] = src[at + 2]!
      out[o + 3] = src[at + 3]!
    }
  }
  return new Uint8Array(out.buffer)
}

/** What every session starts with: the counted link, the randomness, and this party's distinct elements. */
export const start = (link: Link, elements: ReadonlyArray<string>, options: Options) =>
  Effect.gen(function*() {
    assertLittleEndian()
    const own = Encoding.prepare(elements)
    yield* checkOptions(link, options, own.inputIndex.length)
    yield* Effect.promise(BaseOt.ready)
    return { aes: yield* Aes, channel: counted(link), random: options.random ?? platformRandom, own }
  })

/** A uniformly random permutation of 0…n−1 from `random` (Fisher–Yates, rejection sampling: no modulo bias). */
export const shuffle = (n: number, random: (bytes: number) => Uint8Array): Uint32Array => {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  let pool = new Uint32Array(0)
  let at = 0
  const word = () => {
    if (at === pool.length) {
      pool = new Uint32Array(random(65_536).slice().buffer)
      at = 0
    }
    return pool[at++]!
  }
  for (let i = n - 1; i > 0; i--) {
    const range = i + 1
    const limit = Math.floor(0x1_0000_0000 / range) * range
    let w = word()
    while (w >= limit) w = word()
    const j = w % range
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  return order
}
