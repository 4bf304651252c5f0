/**
 * The heavy part of the joint-query protocols — hashing ids into the group and raising chunks of points to a
 * secret scalar — as a service, so the same protocol code runs inline (InMemoryHost tests, browsers without
 * workers) or spread over the participant's worker pool (`participant/src/host/QueryServices.ts`), like
 * Effect's `Worker` vs `NodeWorker` split (STYLE.md). `QueryCompute` is a `Context.Reference` whose default is
 * `inline` over the host's groups, so a protocol needs no more than LocalData and never asks whether a pool is
 * there.
 *
 * Every operation names its group (`Group.GroupName`: the task's). The arithmetic of each group sits behind
 * `GroupKernels` (DESIGN.md §6: Node-only fast paths behind the same names), reached through the `Groups`
 * service: libsodium's WASM build (`Group.ts`) where the host composed nothing else; a Node host composes the
 * native builds of `@jointly/backends` (OpenSSL's X25519, libsodium's ristretto255) in every thread. Native and
 * WASM outputs are byte-identical (the group conformance suite in `testing/kernel-conformance.ts`), so parties
 * on different hosts (browser, Node) interoperate.
 *
 * Job byte formats (what crosses the worker boundary; only bytes cross; integers big-endian; `group` is the index
 * of the group in `Group.groupNames`):
 *   query.hash-blind  in: u8 group ‖ u32 domainLength ‖ domain ‖ scalar (32) ‖ u32 count ‖ u32 end[count] ‖ utf8 ids   out: points
 *   query.blind       in: u8 group ‖ scalar (32) ‖ points                                                              out: points
 * (`end[i]` is where id i stops in the concatenated ids, so a kernel hashes ids without decoding them to strings.)
 * A bad point makes `query.blind` throw an Error named "InvalidPoint" whose message starts with its index.
 */
import { Context, Effect, Schema } from "effect"
import * as Group from "./Group.ts"

export class InvalidPoint extends Schema.TaggedError<InvalidPoint>()("InvalidPoint", {
  index: Schema.Int,
  detail: Schema.String
}) {
  override get message() {
    return `invalid group element at ${this.index}: ${this.detail}`
  }
}

/** A batch that did not run: the group's kernels did not load, or the worker that ran it failed (crashed, exited). */
export class ComputeFailed extends Schema.TaggedError<ComputeFailed>()("QueryComputeFailed", {
  job: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.job} failed: ${this.detail}`
  }
}

export interface QueryComputeService {
  /** Hg(id)^scalar for each id, as one chunk of 32-byte points. */
  readonly hashBlind: (group: Group.GroupName, domain: Uint8Array, ids: ReadonlyArray<string>, scalar: Uint8Array) => Effect.Effect<Uint8Array, ComputeFailed>
  /** Each point of `points` raised to `scalar`; InvalidPoint when one does not decode. */
  readonly blind: (group: Group.GroupName, points: Uint8Array, scalar: Uint8Array) => Effect.Effect<Uint8Array, InvalidPoint>
}

/** One implementation of one group's batch operations; each call handles a whole chunk. */
export interface GroupKernels {
  readonly group: Group.GroupName
  /** The implementation, e.g. "libsodium WASM", "OpenSSL native". */
  readonly name: string
  readonly ready: () => Promise<void>
  /** `GroupOps.hashBlindEncoded`. */
  readonly hashBlind: (domain: Uint8Array, ids: Group.EncodedIds, scalar: Uint8Array) => Uint8Array
  /** `GroupOps.blind`: throws Group.InvalidPointError naming the first bad element. */
  readonly blind: (points: Uint8Array, scalar: Uint8Array) => Uint8Array
  /** `GroupOps.validate`. */
  readonly validate: (points: Uint8Array) => void
}

const wasm = (ops: Group.GroupOps): GroupKernels => ({
  group: ops.name,
  name: "libsodium WASM",
  ready: Group.ready,
  hashBlind: ops.hashBlindEncoded,
  blind: ops.blind,
  validate: ops.validate
})

/** Kernels of every group. */
export type GroupKernelSet = Readonly<Record<Group.GroupName, GroupKernels>>

export const wasmKernels: GroupKernelSet = { x25519: wasm(Group.x25519), ristretto255: wasm(Group.ristretto255) }

/** The host's group kernels; libsodium's WASM build where the host composed none. */
export const Groups = Context.Reference<GroupKernelSet>("jointly/GroupKernels", { defaultValue: () => wasmKernels })

const toInvalidPoint = (error: unknown, offset = 0): InvalidPoint =>
  error instanceof Group.InvalidPointError
    ? new InvalidPoint({ index: offset + error.index, detail: error.message })
    : new InvalidPoint({ index: -1, detail: String(error) })

/** On the calling thread, over `groups`. */
export const inline = (groups: GroupKernelSet): QueryComputeService => ({
  hashBlind: (group, domain, ids, scalar) => Effect.tryPromise({
    try: async () => {
      const k = groups[group]
      await k.ready()
      return k.hashBlind(domain, Group.encodeIds(ids), scalar)
    },
    catch: (error) => new ComputeFailed({ job: jobNames.hashBlind, detail: error instanceof Error ? error.message : String(error) })
  }),
  blind: (group, points, scalar) => Effect.tryPromise({
    try: async () => {
      const k = groups[group]
      await k.ready()
      return k.blind(points, scalar)
    },
    catch: (error) => toInvalidPoint(error)
  })
})

/** `inline` over the calling context's `Groups`, read at each call. */
const inlineOverGroups: QueryComputeService = {
  hashBlind: (group, domain, ids, scalar) => Effect.flatMap(Groups, (groups) => inline(groups).hashBlind(group, domain, ids, scalar)),
  blind: (group, points, scalar) => Effect.flatMap(Groups, (groups) => inline(groups).blind(group, points, scalar))
}

/**
 * The host's batch service: its worker pool where it provides one (participant/src/host/QueryServices.ts), else
 * the same operations inline over whatever `Groups` the host composed.
 */
export const QueryCompute = Context.Reference<QueryComputeService>("jointly/QueryCompute", { defaultValue: () => inlineOverGroups })

// ---- job codecs, shared by the pool-backed layer (caller side) and participant/src/worker/jobs.ts (worker side)

export const jobNames = { hashBlind: "query.hash-blind", blind: "query.blind" } as const

const groupByte = (group: Group.GroupName) => Group.groupNames.indexOf(group)
const groupOf = (byte: number): Group.GroupName => {
  const group = Group.groupNames[byte]
  if (group === undefined) throw new RangeError(`query job: unknown group ${byte}`)
  return group
}

export const encodeHashBlind = (group: Group.GroupName, domain: Uint8Array, ids: ReadonlyArray<string>, scalar: Uint8Array): Uint8Array => {
  const encoded = Group.encodeIds(ids)
  const count = encoded.ends.length
  const out = new Uint8Array(1 + 4 + domain.length + Group.SCALAR_BYTES + 4 + 4 * count + encoded.bytes.length)
  const view = new DataView(out.buffer)
  out[0] = groupByte(group)
  let at = 1
  view.setUint32(at, domain.length); at += 4
  out.set(domain, at); at += domain.length
  out.set(scalar, at); at += Group.SCALAR_BYTES
  view.setUint32(at, count); at += 4
  for (let i = 0; i < count; i++, at += 4) view.setUint32(at, encoded.ends[i]!)
  out.set(encoded.bytes, at)
  return out
}

export const decodeHashBlind = (input: Uint8Array): { readonly group: Group.GroupName; readonly domain: Uint8Array; readonly scalar: Uint8Array; readonly ids: Group.EncodedIds } => {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const group = groupOf(input[0]!)
  let at = 1
  const domainLength = view.getUint32(at); at += 4
  const domain = input.subarray(at, at + domainLength); at += domainLength
  const scalar = input.subarray(at, at + Group.SCALAR_BYTES); at += Group.SCALAR_BYTES
  const count = view.getUint32(at); at += 4
  const ends = new Uint32Array(count)
  for (let i = 0; i < count; i++, at += 4) ends[i] = view.getUint32(at)
  const bytes = input.subarray(at)
  if (count > 0 && ends[count - 1]! > bytes.length) throw new RangeError("query.hash-blind: ids overrun the input")
  for (let i = 1; i < count; i++) if (ends[i]! < ends[i - 1]!) throw new RangeError("query.hash-blind: id ends out of order")
  return { group, domain, scalar, ids: { bytes, ends } }
}

export const encodeBlind = (group: Group.GroupName, points: Uint8Array, scalar: Uint8Array): Uint8Array => {
  const out = new Uint8Array(1 + Group.SCALAR_BYTES + points.length)
  out[0] = groupByte(group)
  out.set(scalar, 1)
  out.set(points, 1 + Group.SCALAR_BYTES)
  return out
}

/** The worker-side job bodies over a worker's `groups`. */
export const makeJobs = (groups: GroupKernelSet) => ({
  [jobNames.hashBlind]: async (input: Uint8Array): Promise<Uint8Array> => {
    const { group, domain, scalar, ids } = decodeHashBlind(input)
    const k = groups[group]
    await k.ready()
    return k.hashBlind(domain, ids, scalar)
  },
  [jobNames.blind]: async (input: Uint8Array): Promise<Uint8Array> => {
    const k = groups[groupOf(input[0]!)]
    await k.ready()
    return k.blind(input.subarray(1 + Group.SCALAR_BYTES), input.subarray(1, 1 + Group.SCALAR_BYTES))
  }
})

/** Splits `total` items into at most `parts` contiguous ranges of near-equal size. */
export const ranges = (total: number, parts: number): Array<readonly [number, number]> => {
  const n = Math.max(1, Math.min(parts, total))
  const out: Array<readonly [number, number]> = []
  for (let i = 0; i < n; i++) out.push([Math.floor((i * total) / n), Math.floor(((i + 1) * total) / n)] as const)
  return out
}

/** Parses the index out of a job failure from `query.blind` ("InvalidPoint: element 7 …"). */
export const invalidPointFromJob = (detail: string, offset: number): InvalidPoint | undefined => {
  const match = /InvalidPoint: element (\d+)/.exec(detail)
  return match ? new InvalidPoint({ index: offset + Number(match[1]), detail }) : undefined
}
