/**
 * The `ipfs` section of the coordinator's and the participant's config files: whether the process runs an
 * embedded IPFS node (`@jointly/backends/internal/ipfs/HeliaBlocks`) and how it is wired. Decoded once at the
 * config edge by each file's Schema; the node itself dials only the peers named here and those that dial it.
 *
 *   "ipfs": "off"                                   no node (the default when the section is absent)
 *   "ipfs": {}                                      a node on one loopback TCP port, blocks in memory
 *   "ipfs": { "listen": ["/ip4/0.0.0.0/tcp/4011"], "peers": ["/ip4/10.0.0.5/tcp/4011/p2p/12D3Koo…"],
 *             "directory": "ipfs" }                 listen there, dial those, keep blocks and pins on disk
 *   "ipfs": { "pinRetry": { "initialMs": 500, "maxDelayMs": 30000, "attempts": 20 } }
 *                                                   a participant's pins of ended tasks' artifacts retried so
 */
import { Schema } from "effect"

/** A multiaddr as text (`/ip4/…/tcp/…`, with `/p2p/<peer id>` for a peer to dial); libp2p parses it at start. */
const Multiaddr = Schema.String.check(Schema.isPattern(/^\/[a-z0-9]+\/\S+$/))

/**
 * How a pin is retried: waits from `initialMs`, doubling, at most `maxDelayMs`, `attempts` tries in all. Bounded
 * so a config cannot make a participant retry forever or hammer its peers.
 */
export const PinRetry = Schema.Struct({
  initialMs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 10, maximum: 600_000 }))),
  maxDelayMs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 10, maximum: 3_600_000 }))),
  attempts: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 })))
})
export type PinRetry = typeof PinRetry.Type

export const IpfsNodeConfig = Schema.Struct({
  /** libp2p listen addresses (default one TCP port on loopback). */
  listen: Schema.optional(Schema.Array(Multiaddr)),
  /** Peers dialled at start (multiaddrs ending in `/p2p/<peer id>`): the other parties' or the coordinator's node. */
  peers: Schema.optional(Schema.Array(Multiaddr)),
  /** A persistent blockstore, datastore and node key (relative to the config file); default memory. */
  directory: Schema.optional(Schema.String),
  /** How long a fetch looks for a block among connected peers, in ms (default 30 000). */
  timeoutMs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 100, maximum: 600_000 }))),
  /** A participant's retries of a pin that found no node with the block (participant/src/ipfs/Pinner.ts); the coordinator pins nothing it did not put. */
  pinRetry: Schema.optional(PinRetry),
  /** The coordinator's node: how many checkpoint bodies per task it keeps pinned (default 2; older ones are unpinned once a later one is saved). */
  checkpointsKept: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10_000 }))),
  /**
   * The coordinator's node: the least time between two garbage collections, in ms (default 60 000; 0 collects at
   * every release). A collection walks the whole store, so it is not run for every superseded checkpoint.
   */
  gcIntervalMs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 86_400_000 })))
})
export type IpfsNodeConfig = typeof IpfsNodeConfig.Type

export const IpfsConfig = Schema.Union([Schema.Literal("off"), IpfsNodeConfig])
export type IpfsConfig = typeof IpfsConfig.Type

/** The node's settings when the section asks for one (directory resolved by `resolvePath`), else undefined. */
export const nodeOptions = (config: IpfsConfig | undefined, resolvePath: (path: string) => string) => {
  if (config === undefined || config === "off") return undefined
  return {
    ...(config.listen === undefined ? {} : { listen: config.listen }),
    ...(config.peers === undefined ? {} : { peers: config.peers }),
    ...(config.directory === undefined ? {} : { directory: resolvePath(config.directory) }),
    ...(config.timeoutMs === undefined ? {} : { defaultTimeoutMs: config.timeoutMs })
  }
}

/** The coordinator's checkpoint settings the section names (bodies kept per task, garbage-collection interval). */
export const checkpointOptionsOf = (config: IpfsConfig | undefined): { readonly keep?: number; readonly gcMinIntervalMs?: number } => {
  if (config === undefined || config === "off") return {}
  return {
    ...(config.checkpointsKept === undefined ? {} : { keep: config.checkpointsKept }),
    ...(config.gcIntervalMs === undefined ? {} : { gcMinIntervalMs: config.gcIntervalMs })
  }
}

/** The section's pin retry settings, when it runs a node and names them. */
export const pinRetryOf = (config: IpfsConfig | undefined): PinRetry | undefined => (config === undefined || config === "off" ? undefined : config.pinRetry)
