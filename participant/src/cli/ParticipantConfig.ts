/**
 * The config file of `jointly participant`: where the coordinator is and how its certificate is trusted, where
 * this participant keeps its identity, which datasets it serves and which consent policy it applies. The key
 * passphrase never sits in the file: it comes from JOINTLY_KEY_PASSPHRASE.
 */
import { readFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Schema } from "effect"
import { IpfsConfig } from "@jointly/core/internal/artifacts/IpfsConfig"
import type * as Endpoint from "@jointly/core/internal/net/Endpoint"
import { ColumnSpec, CsvSpec, type DatasetSpec, ParquetSpec } from "../datasets/Dataset.ts"
import { Policy } from "../policy/PolicyFile.ts"

/**
 * The chain this participant reads itself (never through the coordinator): the registry and the governance
 * contracts. Needed for catalogue publishing, grant enforcement and model-to-data requests.
 */
export const ChainConfig = Schema.Struct({
  rpcUrl: Schema.String,
  registry: Schema.String,
  /** The task ledger's proxy (member commands that read the registry through the ledger client; upgrade proposals). */
  ledger: Schema.optional(Schema.String),
  /** The consortium's TimelockController (upgrades and privileged calls after a vote). */
  timelock: Schema.String,
  catalog: Schema.String,
  grants: Schema.String,
  modelRequests: Schema.String,
  settlement: Schema.String,
  governance: Schema.String,
  certificates: Schema.String,
  /** The ERC-1056 DID registry (deployments from before it have none). */
  didRegistry: Schema.optional(Schema.String),
  /** The FileExchange: encrypted files on IPFS for a fee (`jointly files`; deployments from before it have none). */
  files: Schema.optional(Schema.String),
  /** Decimal block number the contracts were deployed in (log scans start there). */
  deployBlock: Schema.optional(Schema.String)
})
export type ChainConfig = typeof ChainConfig.Type

/**
 * A PostgreSQL dataset in a config file: the connection string inline, or — better, it holds a password — the
 * name of the environment variable that holds it (`connectionEnv`).
 */
export const PostgresConfigSpec = Schema.Struct({
  name: Schema.String,
  columns: Schema.Array(ColumnSpec),
  id: Schema.optional(Schema.String),
  postgres: Schema.Struct({
    connection: Schema.optional(Schema.String),
    connectionEnv: Schema.optional(Schema.String),
    table: Schema.optional(Schema.String),
    schema: Schema.optional(Schema.String),
    query: Schema.optional(Schema.String)
  })
})

/** A dataset in a config file: CSV (the default form), Parquet or PostgreSQL. */
export const ConfigDatasetSpec = Schema.Union([CsvSpec, ParquetSpec, PostgresConfigSpec])
export type ConfigDatasetSpec = typeof ConfigDatasetSpec.Type

export const ParticipantConfig = Schema.Struct({
  /** `https://…`; `http://` only to a loopback address unless `allowInsecure`. */
  coordinatorUrl: Schema.String,
  /** Other instances of the same coordinator (over one PostgreSQL store), tried in turn when the connection fails. */
  failoverUrls: Schema.optional(Schema.Array(Schema.String)),
  /** PEM file of the CA that signs the coordinator's certificate (relative to this file); default Node's CA store. */
  ca: Schema.optional(Schema.String),
  /**
   * PEM files (relative to this file) of this member's TLS client certificate and its key, presented to a coordinator
   * that asks for one; its key must be named in the org's DID (`jointly did publish-tls-key --cert <file>`).
   */
  clientCertificate: Schema.optional(Schema.Struct({ cert: Schema.String, key: Schema.String })),
  /**
   * An encrypted key file (relative to this file; `jointly keys new`, same passphrase as the keystore) holding a
   * consent key the org's DID names (`jointly did add-consent-key`): it signs this participant's task consents
   * instead of the account. Checked against the DID at start (needs `chain.didRegistry`): one the DID does not name
   * now stops the start (DelegateKeyNotInDid).
   */
  consentKey: Schema.optional(Schema.String),
  /** Likewise a login key (`jointly did add-login-key`, a `sigAuth` delegate): it signs the coordinator's socket Login. */
  loginKey: Schema.optional(Schema.String),
  /** Allows plain `http://` to a coordinator on another host: every message readable on the network. */
  allowInsecure: Schema.optional(Schema.Boolean),
  /** Holds the encrypted keystore and the task journal. */
  dataDir: Schema.String,
  datasets: Schema.Array(ConfigDatasetSpec),
  /** Inline policy, or the path of a policy file relative to this config. */
  policy: Schema.Union([Policy, Schema.String]),
  chain: Schema.optional(ChainConfig),
  /**
   * This participant's embedded IPFS node (core/src/artifacts/IpfsConfig.ts): listen addresses, peers to dial (the
   * coordinator's node), a directory for a persistent blockstore (relative to this file), or "off" (the default).
   * With a node, the sealed result, model and last checkpoint of every task it took part in are pinned there,
   * a pin that finds no node with the block retried as `pinRetry` says.
   */
  ipfs: Schema.optional(IpfsConfig),
  /** Catalogue metadata per dataset name (domain, location, default access policy) for `jointly catalog publish`. */
  catalog: Schema.optional(Schema.Record(Schema.String, Schema.Struct({
    domain: Schema.String,
    location: Schema.optional(Schema.String),
    policy: Schema.Literals(["Open", "GrantRequired"])
  })))
})
/** The config as the participant uses it: paths absolute, connection strings resolved. */
export type ParticipantConfig = Omit<typeof ParticipantConfig.Type, "datasets"> & { readonly datasets: ReadonlyArray<DatasetSpec> }

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", { file: Schema.String, detail: Schema.String }) {
  override get message() {
    return `participant config ${this.file}: ${this.detail}`
  }
}

/** A consent or login key named without the DID registry it must be checked against. */
export const didRegistryMissing = (file: string, role: "consentKey" | "loginKey") =>
  new ConfigError({ file, detail: `${role} needs chain.didRegistry: the key is checked against this member's DID at start` })

/**
 * Reads and decodes a config file; relative paths inside it are resolved against the file's folder, and a
 * PostgreSQL dataset's `connectionEnv` is read from `env`: the environment the process's edge read, passed down
 * (`{}` where there is none to read).
 */
export const load = async (file: string, env: Readonly<Record<string, string | undefined>>): Promise<ParticipantConfig> => {
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(file, "utf8"))
  } catch (error) {
    throw new ConfigError({ file, detail: (error as Error).message })
  }
  const decoded = Schema.decodeUnknownExit(ParticipantConfig)(raw)
  if (decoded._tag === "Failure") throw new ConfigError({ file, detail: String(decoded.cause) })
  const base = dirname(resolve(file))
  const config = decoded.value
  // A key the participant cannot check against its DID at start would fail one consent or handshake at a time.
  for (const role of ["consentKey", "loginKey"] as const) {
    if (config[role] !== undefined && config.chain?.didRegistry === undefined) throw didRegistryMissing(file, role)
  }
  return {
    ...config,
    dataDir: resolve(base, config.dataDir),
    ...(config.ca === undefined ? {} : { ca: resolve(base, config.ca) }),
    ...(config.consentKey === undefined ? {} : { consentKey: resolve(base, config.consentKey) }),
    ...(config.loginKey === undefined ? {} : { loginKey: resolve(base, config.loginKey) }),
    ...(config.clientCertificate === undefined ? {} : { clientCertificate: { cert: resolve(base, config.clientCertificate.cert), key: resolve(base, config.clientCertificate.key) } }),
    ...(config.ipfs === undefined || config.ipfs === "off" || config.ipfs.directory === undefined ? {} : { ipfs: { ...config.ipfs, directory: resolve(base, config.ipfs.directory) } }),
    datasets: config.datasets.map((d): DatasetSpec => {
      if ("file" in d) return { ...d, file: resolve(base, d.file) }
      const { connection, connectionEnv, ...where } = d.postgres
      const resolved = connection ?? (connectionEnv === undefined ? undefined : env[connectionEnv])
      if (resolved === undefined) {
        throw new ConfigError({
          file,
          detail: connectionEnv === undefined
            ? `dataset ${d.name}: postgres needs "connection" or "connectionEnv"`
            : `dataset ${d.name}: the environment variable ${connectionEnv} (its connection string) is not set`
        })
      }
      return { ...d, postgres: { ...where, connection: resolved } }
    }),
    policy: typeof config.policy === "string" ? resolve(base, config.policy) : config.policy
  }
}

/** The trust the config asks for, with its CA and client certificate files read; ConfigError when one cannot be read. */
export const trustOf = async (file: string, config: ParticipantConfig): Promise<Endpoint.Trust> => {
  /** A PEM file the config names, checked to hold what `pattern` says. */
  const pem = async (what: string, path: string, pattern: RegExp, holds: string) => {
    let text: string
    try {
      text = await readFile(path, "utf8")
    } catch (error) {
      throw new ConfigError({ file, detail: `${what}: ${(error as Error).message}` })
    }
    if (!pattern.test(text)) throw new ConfigError({ file, detail: `${what}: ${path} holds no ${holds}` })
    return text
  }
  const certificate = /-----BEGIN CERTIFICATE-----/
  const ca = config.ca === undefined ? undefined : await pem("ca", config.ca, certificate, "PEM certificate")
  const clientCertificate = config.clientCertificate === undefined ? undefined : {
    cert: await pem("clientCertificate.cert", config.clientCertificate.cert, certificate, "PEM certificate"),
    key: await pem("clientCertificate.key", config.clientCertificate.key, /BEGIN [A-Z ]*PRIVATE KEY/, "PEM private key")
  }
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(clientCertificate === undefined ? {} : { clientCertificate }),
    ...(config.allowInsecure === undefined ? {} : { allowInsecure: config.allowInsecure })
  }
}
