/**
 * `jointly coordinator --config coordinator.json`: the coordinator as a service, configured once at the CLI
 * edge. Every field may come from the file or from the environment, the environment winning:
 * `JOINTLY_COORDINATOR_` + the field's path in CONSTANT_CASE (`port` → `JOINTLY_COORDINATOR_PORT`,
 * `tls.cert` → `JOINTLY_COORDINATOR_TLS_CERT`, `chain.rpcUrl` → `JOINTLY_COORDINATOR_CHAIN_RPC_URL`;
 * `trustProxy` there is a comma-separated list). The key's passphrase only ever comes from the environment
 * (`JOINTLY_COORDINATOR_KEY_PASSPHRASE`). Paths in the file are relative to the file.
 *
 * Decoded with one Schema through Effect's `Config` (file and environment as two ConfigProviders), then
 * checked as a whole (`check`): a coordinator never listens in plain HTTP on a non-loopback address unless the
 * config says it sits behind a TLS-terminating proxy (`trustProxy`) or `allowInsecure`.
 */
import { readFile } from "node:fs/promises"
import { dirname, isAbsolute, resolve } from "node:path"
import { Config, ConfigProvider, Effect, Redacted, Schema } from "effect"
import { getBytes, type Wallet } from "ethers"
import { IpfsConfig } from "@jointly/core/internal/artifacts/IpfsConfig"
import type { Deployment } from "@jointly/core/internal/ledger/Ledger"
import { isLoopback } from "@jointly/core/internal/net/Endpoint"
import { readDeploymentFile } from "../chain/Deployment.ts"
import * as AccountKeystore from "../keys/AccountKeystore.ts"
import * as ClientAddress from "../net/ClientAddress.ts"
import type { TlsMaterial } from "../net/Listener.ts"
import * as AckTimeout from "../transport/AckTimeout.ts"

export const ENV_PREFIX = "JOINTLY_COORDINATOR"
export const PASSPHRASE_ENV = `${ENV_PREFIX}_KEY_PASSPHRASE`

const Port = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

export const CoordinatorConfig = Schema.Struct({
  /** Address to bind; default 127.0.0.1. `0.0.0.0` (or a host's address) to serve other hosts. */
  host: Schema.optional(Schema.String),
  /** Default 8443; 0 picks a free port (printed in the ready line). */
  port: Schema.optional(Port),
  /** The URL members use (DNS name, proxy); default the bind address and port. */
  publicUrl: Schema.optional(Schema.String),
  /**
   * PEM files: the certificate (with its intermediates) and its private key. `clientCertificates: "did"` admits
   * participants only over a TLS client certificate whose key their org's DID names (`jointly did publish-tls-key`).
   */
  tls: Schema.optional(Schema.Struct({ cert: Schema.String, key: Schema.String, clientCertificates: Schema.optional(Schema.Literal("did")) })),
  /** Reverse proxies that terminate TLS (addresses or CIDR subnets): only their X-Forwarded-For is read. */
  trustProxy: Schema.optional(Schema.Union([Schema.Array(Schema.String), Schema.String])),
  /** Serve plain HTTP on a non-loopback address without a proxy. Never in production. */
  allowInsecure: Schema.optional(Schema.Boolean),
  /** A PGlite data directory, or a `postgres://` URL. */
  store: Schema.String,
  chain: Schema.Struct({
    /** The chain's JSON-RPC URL (the embedded anvil's, or the consortium network's). */
    rpcUrl: Schema.String,
    /** The deployment file `jointly deploy` wrote (contract addresses, chain id, deploy block). */
    deployment: Schema.String,
    /** Blocks after which a chain record counts as final (default 2; 1 on an embedded chain that never reorganises). */
    confirmations: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
    /** No transaction pays more than this per gas, in gwei (default 200). */
    maxFeeGwei: Schema.optional(Schema.Finite.check(Schema.isGreaterThan(0))),
    /** While the node does not answer, the longest wait between two tries to write a chain record, in ms (default 10 000). */
    retryMaxMs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 200, maximum: 600_000 })))
  }),
  /** The coordinator account's encrypted keystore (`jointly keys new`); passphrase in JOINTLY_COORDINATOR_KEY_PASSPHRASE. */
  keystore: Schema.String,
  /**
   * A second keystore (`jointly keys new`, same passphrase) whose secp256k1 key is the coordinator's encryption
   * key: published in the coordinator account's DID at start, it makes the coordinator a reader of the checkpoints
   * of the tasks it runs (artifacts/CheckpointChain.ts). Absent: checkpoints are sealed to the parties only.
   */
  encryptionKeystore: Schema.optional(Schema.String),
  /**
   * Several instances over one PostgreSQL `store` (coordinator/src/cluster/): the lease period in ms (default
   * 10 000; a dead instance's tasks are taken over within two) and this instance's id (default host, pid, random).
   */
  cluster: Schema.optional(Schema.Struct({
    leaseMs: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 500, maximum: 600_000 }))),
    instance: Schema.optional(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9._:-]{1,100}$/)))
  })),
  /**
   * The coordinator's embedded IPFS node (core/src/artifacts/IpfsConfig.ts): listen addresses, peers to dial, a
   * directory for a persistent blockstore (relative to this file), or "off" (the default). With a node, each task's
   * result and model go there sealed to their readers, and members' sealed uploads are pinned there.
   */
  ipfs: Schema.optional(IpfsConfig),
  /** Socket abuse limits (transport/SocketLimits.ts); each absent field keeps its default. */
  socketLimits: Schema.optional(Schema.Struct({
    handshakeTimeoutMs: Schema.optional(Schema.Int),
    connectionsPerMinute: Schema.optional(Schema.Int),
    eventsPer10sPerAccount: Schema.optional(Schema.Int),
    eventsPer10sPerAddress: Schema.optional(Schema.Int)
  })),
  /**
   * The wait for a stage request's acknowledgement before it is sent again (transport/AckTimeout.ts): `baseMs`
   * plus the request's size at `minBytesPerSecond`, at most `maxMs`; each absent field keeps its default.
   */
  ackTimeout: Schema.optional(AckTimeout.SettingsInput)
})
export type CoordinatorConfig = typeof CoordinatorConfig.Type

/** Sections the file's value of which is decoded whole by their Schema too (Config would read a bad inner field as absent). */
const checkedWhole: ReadonlySet<string> = new Set(["ipfs", "ackTimeout"])

export class CoordinatorConfigError extends Schema.TaggedError<CoordinatorConfigError>()("CoordinatorConfigError", {
  /** The config file, or "environment". */
  source: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `coordinator config (${this.source}): ${this.detail}`
  }
}

/** The config with paths resolved and lists split, checked as a whole. */
export interface Resolved extends Omit<CoordinatorConfig, "trustProxy"> {
  readonly host: string
  readonly port: number
  readonly trustProxy: ReadonlyArray<string>
}

/** Decodes file (optional) and environment into one config; CoordinatorConfigError names the first problem. */
export const decode = (file: string | undefined, fileContents: unknown, env: Record<string, string | undefined>): Resolved => {
  // The prefix as two path segments: the environment provider finds nested records (`chain`) by splitting
  // variable names on "_".
  const fromEnv = ConfigProvider.fromEnvRecord(env).pipe(ConfigProvider.constantCase, ConfigProvider.nested(ENV_PREFIX.split("_")))
  const provider = ConfigProvider.orElse(fromEnv, ConfigProvider.fromUnknown(fileContents ?? {}))
  const source = file ?? "environment"
  const decoded = Effect.runSync(Effect.result(Config.schema(CoordinatorConfig).parse(provider)))
  if (decoded._tag === "Failure") throw new CoordinatorConfigError({ source, detail: String(decoded.failure.message ?? decoded.failure) })
  const c = decoded.success
  // Config reads an optional field that fails its Schema as absent; a field the file sets must be used or refused.
  // So does it an optional field inside a section: `ipfs`, whose every field matters, is checked whole.
  for (const [key, field] of Object.entries(CoordinatorConfig.fields)) {
    const given = (fileContents as Record<string, unknown> | undefined)?.[key]
    const read = (c as Record<string, unknown>)[key] !== undefined
    if (given === undefined || (read && !checkedWhole.has(key))) continue
    const checked = Schema.decodeUnknownExit(field as Schema.Top as Schema.Codec<unknown, unknown>)(given)
    if (read && checked._tag === "Success") continue
    const problem = checked._tag === "Failure" ? String(checked.cause) : "not read"
    throw new CoordinatorConfigError({ source, detail: `${key}: ${problem}` })
  }
  if (!/^postgres(ql)?:\/\//.test(c.store) && /^[a-z][a-z0-9+.-]*:\/\//i.test(c.store)) {
    throw new CoordinatorConfigError({ source, detail: `store ${c.store}: a PGlite directory or a postgres:// URL` })
  }
  // Paths from the file are relative to it; paths from the environment to the working directory. A value that
  // the environment overrode is resolved from the working directory too, which is where its author stood.
  const base = file === undefined ? process.cwd() : dirname(resolve(file))
  const fromFile = (key: string, value: string) => (env[key] !== undefined || isAbsolute(value) ? resolve(value) : resolve(base, value))
  const isUrl = /^postgres(ql)?:\/\//.test(c.store)
  const trustProxy = typeof c.trustProxy === "string" ? c.trustProxy.split(",").map((s: string) => s.trim()).filter((s: string) => s !== "") : [...(c.trustProxy ?? [])]
  const resolved: Resolved = {
    ...c,
    host: c.host ?? "127.0.0.1",
    port: c.port ?? 8443,
    trustProxy,
    store: isUrl ? c.store : fromFile(`${ENV_PREFIX}_STORE`, c.store),
    keystore: fromFile(`${ENV_PREFIX}_KEYSTORE`, c.keystore),
    ...(c.encryptionKeystore === undefined ? {} : { encryptionKeystore: fromFile(`${ENV_PREFIX}_ENCRYPTION_KEYSTORE`, c.encryptionKeystore) }),
    chain: { ...c.chain, deployment: fromFile(`${ENV_PREFIX}_CHAIN_DEPLOYMENT`, c.chain.deployment) },
    ...(c.ipfs === undefined || c.ipfs === "off" || c.ipfs.directory === undefined ? {} : { ipfs: { ...c.ipfs, directory: fromFile(`${ENV_PREFIX}_IPFS_DIRECTORY`, c.ipfs.directory) } }),
    ...(c.tls === undefined ? {} : { tls: { ...c.tls, cert: fromFile(`${ENV_PREFIX}_TLS_CERT`, c.tls.cert), key: fromFile(`${ENV_PREFIX}_TLS_KEY`, c.tls.key) } })
  }
  const problem = check(resolved)
  if (problem !== undefined) throw new CoordinatorConfigError({ source, detail: problem })
  return resolved
}

/** The first rule the whole config breaks, in words, or undefined. */
export const check = (c: Resolved): string | undefined => {
  try {
    ClientAddress.make(c.trustProxy)
    AckTimeout.resolve(c.ackTimeout)
  } catch (error) {
    return (error as Error).message
  }
  if (c.tls === undefined && !isLoopback(c.host) && c.trustProxy.length === 0 && c.allowInsecure !== true) {
    return `host ${c.host} is not loopback, and without tls (a certificate and key) every message would cross the network in clear; configure tls, or trustProxy when a reverse proxy terminates TLS`
  }
  if (c.publicUrl !== undefined) {
    let url: URL
    try {
      url = new URL(c.publicUrl)
    } catch {
      return `publicUrl ${c.publicUrl} is not a URL`
    }
    if (url.protocol !== "https:" && !isLoopback(url.hostname) && c.allowInsecure !== true) return `publicUrl ${c.publicUrl} must be https`
  }
  return undefined
}

/** Reads the config file (if any) and the environment. */
export const load = async (file: string | undefined, env: Record<string, string | undefined>): Promise<Resolved> => {
  let contents: unknown = {}
  if (file !== undefined) {
    try {
      contents = JSON.parse(await readFile(file, "utf8"))
    } catch (error) {
      throw new CoordinatorConfigError({ source: file, detail: (error as Error).message })
    }
  }
  return decode(file, contents, env)
}

/** What the files named in the config hold: the certificate, the deployment and the decrypted account. */
export interface Materials {
  readonly tls?: TlsMaterial
  readonly deployment: Deployment
  readonly wallet: Wallet
  /** The coordinator's encryption secret key, when the config names an `encryptionKeystore`. */
  readonly encryptionSecretKey?: Redacted.Redacted<Uint8Array>
}

export const readTls = async (c: Resolved): Promise<TlsMaterial | undefined> => {
  if (c.tls === undefined) return undefined
  const read = (what: string, path: string) =>
    readFile(path, "utf8").catch((error: Error) => {
      throw new CoordinatorConfigError({ source: path, detail: `tls.${what}: ${error.message}` })
    })
  const [cert, key] = await Promise.all([read("cert", c.tls.cert), read("key", c.tls.key)])
  if (!cert.includes("BEGIN CERTIFICATE")) throw new CoordinatorConfigError({ source: c.tls.cert, detail: "tls.cert holds no PEM certificate" })
  if (!/BEGIN [A-Z ]*PRIVATE KEY/.test(key)) throw new CoordinatorConfigError({ source: c.tls.key, detail: "tls.key holds no PEM private key" })
  return { cert, key }
}

export const materials = async (c: Resolved, passphrase: string | undefined): Promise<Materials> => {
  const tls = await readTls(c)
  const deployment = await readDeploymentFile(c.chain.deployment).catch((error: Error) => {
    throw new CoordinatorConfigError({ source: c.chain.deployment, detail: `chain.deployment: ${error.message}` })
  })
  const wallet = await AccountKeystore.open(c.keystore, passphrase, PASSPHRASE_ENV)
  const encryption = c.encryptionKeystore === undefined ? undefined : await AccountKeystore.open(c.encryptionKeystore, passphrase, PASSPHRASE_ENV)
  return { ...(tls === undefined ? {} : { tls }), deployment, wallet, ...(encryption === undefined ? {} : { encryptionSecretKey: Redacted.make(getBytes(encryption.privateKey)) }) }
}

/** A fee in gwei (up to 9 decimals) as wei. */
export const gweiToWei = (gwei: number): bigint => {
  const [whole, fraction = ""] = gwei.toFixed(9).split(".")
  return BigInt(whole!) * 10n ** 9n + BigInt(fraction.padEnd(9, "0"))
}
