/**
 * `ArtifactBlocks` over an embedded Helia node (the default; `@jointly/core/internal/artifacts/Blocks`).
 *
 * The node is assembled from Helia's light parts rather than `createHelia()`, because the defaults dial out:
 * they add public bootstrap peers, the Amino DHT, mDNS, AutoNAT, UPnP, circuit relays and HTTP gateways. Here
 * libp2p has TCP (Noise, Yamux) and identify only, no peer discovery and no router, and blocks move by bitswap
 * to and from the peers this node is told to dial (`peers`) or that dial it — the parties of a task, never a
 * public network. Whatever else reaches a block, it is sealed to its readers before it is put (Envelope.ts).
 *
 * Storage is in memory unless `directory` is given; then blocks and pins live in files there (blockstore-fs,
 * datastore-fs), and the node keeps its libp2p key across restarts (Helia's keychain in the datastore).
 */
import { noise } from "@chainsafe/libp2p-noise"
import { yamux } from "@chainsafe/libp2p-yamux"
import { withBitswap } from "@helia/bitswap"
import { withLibp2pLight } from "@helia/libp2p"
import { generateKeyPair } from "@libp2p/crypto/keys"
import { identify } from "@libp2p/identify"
import { tcp } from "@libp2p/tcp"
import { multiaddr } from "@multiformats/multiaddr"
import * as dagJson from "@ipld/dag-json"
import { FsBlockstore } from "blockstore-fs"
import { FsDatastore } from "datastore-fs"
import { Effect, Layer, Semaphore } from "effect"
import { createHeliaLight } from "helia"
import { CID } from "multiformats/cid"
import * as json from "multiformats/codecs/json"
import { join } from "node:path"
import {
  ArtifactBlocks,
  BlockNotFound,
  BlockStoreFailed,
  checkBlock,
  cidOf,
  type Codec,
  type GetOptions,
  parseCid
} from "@jointly/core/internal/artifacts/Blocks"
import * as StoreLock from "./StoreLock.ts"

export interface HeliaOptions {
  /** libp2p listen addresses (default: one TCP port on loopback, `/ip4/127.0.0.1/tcp/0`). */
  readonly listen?: ReadonlyArray<string>
  /** Multiaddrs (with `/p2p/<peer id>`) dialled at start: the other parties' nodes. */
  readonly peers?: ReadonlyArray<string>
  /** Where blocks, pins and the node key are kept (default: memory, gone when the node stops). */
  readonly directory?: string
  /** How long `get` looks for a block among connected peers when the call gives no timeout (default 30 s). */
  readonly defaultTimeoutMs?: number
  /**
   * A fresh peer id for this node even when `directory` holds a node key: for a second process on a running
   * node's store (`jointly files` beside the participant), so that peers never take the two for one node and send
   * one's blocks to the other.
   */
  readonly ownIdentity?: boolean
  /**
   * How long a change to a `directory` store (put, pin, unpin, the node's start) waits for the inter-process lock
   * another process on the same directory holds (StoreLock.ts; default 30 s).
   */
  readonly lockTimeoutMs?: number
}

/** What a started node tells its peers: its id and the addresses they dial. */
export interface HeliaNode {
  readonly peerId: string
  readonly addresses: ReadonlyArray<string>
  /** Dials another node (multiaddr with `/p2p/<peer id>`) and keeps the connection. */
  readonly dial: (address: string) => Effect.Effect<void, BlockStoreFailed>
}

const failed = (operation: string) => (cause: unknown) =>
  new BlockStoreFailed({ operation, message: `helia ${operation}: ${cause instanceof Error ? cause.message : String(cause)}` })

/** What `closingWrites` gates of blockstore-fs and datastore-fs: their `putMany`, `deleteMany` and `batch` call these. */
interface WritableStore {
  put: (...args: Array<never>) => Promise<unknown>
  delete: (...args: Array<never>) => Promise<unknown>
  close: () => Promise<void>
}

/**
 * An on-disk store whose writes end with `close`: it waits for those under way and refuses later ones. libp2p
 * (3.x) keeps writing after its node stopped: its address manager saves the node's own peer record from a 1 s
 * debounce that a closing transport arms and that stop does not cancel, so a second after `stop()` a file (and
 * `datastore/peers/`, made anew) appeared in a directory its owner had already started removing (ENOTEMPTY in a
 * test's teardown). Refused, that write fails where libp2p only logs it.
 */
const closingWrites = <S extends WritableStore>(store: S, directory: string): S => {
  const underWay = new Set<Promise<void>>()
  let closed = false
  const gated = <F extends (...args: Array<never>) => Promise<unknown>>(write: F) =>
    ((...args: Parameters<F>) => {
      if (closed) return Promise.reject(new Error(`the IPFS store in ${directory} is closed: nothing more is written to it`))
      const writing = write(...args)
      const settled = writing.then(() => {}, () => {})
      underWay.add(settled)
      void settled.then(() => underWay.delete(settled))
      return writing
    }) as F
  const close = store.close.bind(store)
  // Own properties over the prototype's methods, which the stores' batch operations reach through `this`.
  return Object.assign(store, {
    put: gated(store.put.bind(store)),
    delete: gated(store.delete.bind(store)),
    close: async () => {
      closed = true
      await Promise.all(underWay)
      await close()
    }
  })
}

/** More changes than a node ever makes at once: a garbage collection takes them all. */
const MAX_CONCURRENT_CHANGES = 1 << 16

/** How long a garbage collection runs at most by default. */
const DEFAULT_GC_TIMEOUT_MS = 60_000

/** The CIDs a decoded dag-json value links, at any depth. */
const linksOf = (value: unknown): Array<CID> => {
  const cid = CID.asCID(value)
  if (cid !== null) return [cid]
  if (Array.isArray(value)) return value.flatMap(linksOf)
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(linksOf)
  return []
}

/** A block arrives as chunks (interface-blockstore 6); artifacts are single blocks, so this joins a few. */
const collect = async (chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> => {
  const parts: Array<Uint8Array> = []
  for await (const chunk of chunks) parts.push(chunk)
  return parts.length === 1 ? parts[0]! : new Uint8Array(Buffer.concat(parts))
}

/**
 * libp2p 3 (Helia 7) calls `Promise.withResolvers`, an ES2024 built-in that Node has from 22 on; on Node 20 the
 * standard behaviour is supplied once, when a node is first started (never at module load), and only where the
 * built-in is missing. Drop it when the engines floor reaches Node 22. (Its other Node 22 need, undici 8 in
 * `@libp2p/http`, which Helia imports but this node never uses, is pinned to undici 7 in the root `overrides`.)
 */
const ensureWithResolvers = () => {
  const P = Promise as unknown as { withResolvers?: unknown }
  if (typeof P.withResolvers === "function") return
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}

/** Starts a node (stopped when the scope closes) and the `ArtifactBlocks` over it. */
export const make = (options: HeliaOptions = {}) =>
  Effect.gen(function*() {
    ensureWithResolvers()
    const stores = options.directory === undefined
      ? {}
      : {
        blockstore: closingWrites(new FsBlockstore(join(options.directory, "blocks")), options.directory),
        datastore: closingWrites(new FsDatastore(join(options.directory, "datastore")), options.directory)
      }
    // Every change to an on-disk store is made holding its directory's lock: another process may share it.
    const storeLock = StoreLock.make(options.directory, options.lockTimeoutMs)
    // Within this process, puts, pins and unpins share the store and a garbage collection has it alone: between a
    // put's block and its pin the block is unpinned, and a collection running then would delete it. (An on-disk
    // store's lock already serialises them; a store in memory has only this.)
    const changes = Semaphore.makeUnsafe(MAX_CONCURRENT_CHANGES)
    const locked = <A, E>(operation: string, effect: Effect.Effect<A, E>) => storeLock(operation, changes.withPermits(1)(effect))
    const helia = yield* Effect.acquireRelease(
      locked("start", Effect.tryPromise({
        try: async () => {
          await stores.blockstore?.open()
          await stores.datastore?.open()
          // dag-json so that a pin follows a block's links (a task's checkpoint chain: pinning its head keeps every link).
          const light = createHeliaLight({ ...stores, codecs: [json, dagJson] })
          // Without a key, Helia loads the node's own from the datastore (or makes and keeps one there).
          const privateKey = options.ownIdentity === true ? await generateKeyPair("Ed25519") : undefined
          const node = withBitswap(withLibp2pLight(light, {
            ...(privateKey === undefined ? {} : { privateKey }),
            addresses: { listen: [...(options.listen ?? ["/ip4/127.0.0.1/tcp/0"])] },
            transports: [tcp()],
            connectionEncrypters: [noise()],
            streamMuxers: [yamux()],
            // No peerDiscovery and no DHT/autonat/upnp/relay services: nothing here dials a peer it was not given.
            peerDiscovery: [],
            services: { identify: identify() }
          }))
          await node.start()
          return node
        },
        catch: failed("start")
      })),
      // Closing must not fail the scope: a store that does not close cleanly is reported. The stores close even
      // when the node's stop failed: once the scope is closed nothing writes to the directory (`closingWrites`).
      (node) => Effect.tryPromise(async () => {
        try {
          await node.stop()
        } finally {
          await stores.blockstore?.close()
          await stores.datastore?.close()
        }
      }).pipe(Effect.catch((error) => Effect.logWarning("the IPFS node did not stop cleanly", error.cause)))
    )
    const dial = (address: string) => Effect.tryPromise({ try: () => helia.libp2p.dial(multiaddr(address)).then(() => undefined), catch: failed(`dial ${address}`) })
    for (const peer of options.peers ?? []) yield* dial(peer)

    const defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000
    const hasPinRecord = (cid: CID) =>
      helia.pins.get(cid as never).then(() => true, (cause: unknown) => {
        if (cause instanceof Error && cause.name === "NotFoundError") return false
        throw cause
      })
    const fetch = (cid: string, get: GetOptions = {}) =>
      Effect.gen(function*() {
        const parsed = yield* parseCid(cid)
        const timeoutMs = get.timeoutMs ?? defaultTimeoutMs
        // Helia's CID type comes from its own multiformats copy; the wire form is the same.
        const bytes = yield* Effect.tryPromise({
          try: () => collect(helia.blockstore.get(parsed as never, { signal: AbortSignal.timeout(timeoutMs) })),
          catch: (cause) => new BlockNotFound({ cid, message: `no block ${cid} here or from ${helia.libp2p.getPeers().length} connected peer(s) within ${timeoutMs} ms: ${cause instanceof Error ? cause.message : String(cause)}` })
        })
        return { parsed, bytes: yield* checkBlock(parsed, bytes) }
      })

    const blocks = ArtifactBlocks.of({
      node: "helia",
      put: (bytes: Uint8Array, codec: Codec = "raw") =>
        locked("put", Effect.tryPromise({
          try: async () => {
            const cid = await cidOf(bytes, codec)
            await helia.blockstore.put(cid as never, bytes)
            // A dag-json block's links are this node's own earlier puts; a missing one is not waited for forever.
            for await (const _ of helia.pins.add(cid as never, { signal: AbortSignal.timeout(defaultTimeoutMs) })) void _
            return cid.toString()
          },
          catch: failed("put")
        // Never rejects: the same cidOf of the same bytes already answered above, before the pin did.
        }).pipe(Effect.catchIf((e) => e.message.includes("Already pinned"), () => Effect.promise(async () => (await cidOf(bytes, codec)).toString())))),
      get: (cid, get) => Effect.map(fetch(cid, get), ({ bytes }) => bytes),
      has: (cid) => Effect.flatMap(parseCid(cid), (parsed) => Effect.tryPromise({ try: async () => await helia.blockstore.has(parsed as never), catch: failed("has") })),
      pin: (cid, get) =>
        Effect.gen(function*() {
          // The block and every block it links (a dag-json checkpoint chain) are fetched first, each within the
          // timeout and without the lock (they may wait on peers); the pin's read-modify-write then runs under the
          // lock on blocks all held here, so it neither waits on the network nor holds the store while it does.
          const { parsed } = yield* fetch(cid, get)
          const seen = new Set([cid])
          for (let queue = [parsed]; queue.length > 0;) {
            const next = queue.shift()!
            if (next.code !== dagJson.code) continue
            const block = yield* Effect.map(fetch(next.toString(), get), ({ bytes }) => bytes)
            const links = yield* Effect.try({ try: () => linksOf(dagJson.decode(block)), catch: failed("pin") })
            for (const link of links) {
              if (seen.has(link.toString())) continue
              seen.add(link.toString())
              queue.push(yield* Effect.map(fetch(link.toString(), get), (f) => f.parsed))
            }
          }
          yield* locked("pin", Effect.gen(function*() {
            if (yield* Effect.tryPromise({ try: () => helia.pins.isPinned(parsed as never), catch: failed("pin") })) return
            yield* Effect.tryPromise({ try: async () => { for await (const _ of helia.pins.add(parsed as never, { signal: AbortSignal.timeout(defaultTimeoutMs) })) void _ }, catch: failed("pin") })
          }))
        }),
      unpin: (cid) =>
        Effect.flatMap(parseCid(cid), (parsed) =>
          locked("unpin", Effect.tryPromise({
            try: async () => {
              if (!(await helia.pins.isPinned(parsed as never))) return
              // Helia removes a pin in steps: the pin's record first, then each block's pin count. A process killed
              // between them leaves blocks counted as pinned under no pin, which `pins.rm` cannot remove (it
              // reads the record) and a collection never deletes. Pinning again writes the record back (blocks
              // already counted for this CID are not counted twice), so the removal below completes.
              if (!(await hasPinRecord(parsed))) {
                for await (const _ of helia.pins.add(parsed as never, { signal: AbortSignal.timeout(defaultTimeoutMs) })) void _
              }
              for await (const _ of helia.pins.rm(parsed as never)) void _
            },
            catch: failed("unpin")
          }))),
      pinned: (cid) => Effect.flatMap(parseCid(cid), (parsed) => Effect.tryPromise({ try: () => helia.pins.isPinned(parsed as never), catch: failed("pinned") })),
      // Helia's gc deletes every block whose pin record is absent (a block linked from a pinned one has one too).
      collectGarbage: (gc = {}) =>
        storeLock("gc", changes.withPermits(MAX_CONCURRENT_CHANGES)(Effect.tryPromise({
          try: async () => {
            let deleted = 0
            await helia.gc({
              signal: AbortSignal.timeout(gc.timeoutMs ?? DEFAULT_GC_TIMEOUT_MS),
              onProgress: (event) => void (event.type === "helia:gc:deleted" && deleted++)
            })
            return deleted
          },
          catch: failed("gc")
        })))
    })
    const node: HeliaNode = {
      peerId: helia.libp2p.peerId.toString(),
      addresses: helia.libp2p.getMultiaddrs().map((a) => a.toString()),
      dial
    }
    return { blocks, node }
  })

/** The embedded node as the `ArtifactBlocks` service. */
export const layer = (options: HeliaOptions = {}): Layer.Layer<ArtifactBlocks, BlockStoreFailed> =>
  Layer.effect(ArtifactBlocks, Effect.map(make(options), ({ blocks }) => blocks))
