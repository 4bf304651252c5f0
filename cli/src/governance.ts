/**
 * The governance commands of `jointly` (issue 7): catalogue search and publishing, the supervisor's view and
 * its suspend/restore, `verify` of a task against the chain, and e-data certificates. Output is JSON on stdout;
 * `verify` and `certify --verify` exit 1 on any mismatch, with a report on stderr.
 */
import { readdir, readFile, stat, writeFile } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
import { randomBytes } from "node:crypto"
import { Effect, Exit, Layer, Redacted, Schema, Scope } from "effect"
import { getAddress, getBytes, hexlify, isAddress, isHexString, keccak256, toUtf8Bytes, verifyMessage, Wallet, ZeroAddress } from "ethers"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import * as GovernanceLedger from "@jointly/core/internal/ledger/GovernanceLedger"
import { certDigest, makeGovernanceLedger, signCert } from "@jointly/core/internal/ledger/GovernanceLedger"
import * as GrantScope from "@jointly/core/internal/ledger/GrantScope"
import * as GrantScopes from "@jointly/participant/internal/governance/GrantScopes"
import * as ContentHash from "@jointly/core/internal/data/ContentHash"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import * as Contribution from "@jointly/core/internal/incentives/Contribution"
import * as Valuation from "@jointly/core/internal/incentives/Valuation"
import * as ParticipantConfig from "@jointly/participant/internal/cli/ParticipantConfig"
import { nodeOptions } from "@jointly/core/internal/artifacts/IpfsConfig"
import { loadDeployment } from "@jointly/coordinator/internal/chain/Deployment"
import type * as Verify from "@jointly/coordinator/internal/audit/Verify"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import type * as Client from "@jointly/coordinator/internal/client/Client"
import type { FileExchangeLedger } from "@jointly/core/internal/ledger/FileExchangeLedger"
import type { FileShare } from "@jointly/participant/internal/governance/FileShare"

// Loaded by the commands that use them: every `jointly` command used to load all of these (IPFS, the HTTP client,
// data sources…), about two seconds of start-up before a one-transaction command could begin.
const loadSources = () => import("@jointly/participant/internal/datasets/Sources")
const loadQueryServices = () => import("@jointly/participant/internal/host/QueryServices")
const loadVerify = () => import("@jointly/coordinator/internal/audit/Verify")
const loadVerifySources = () => import("@jointly/coordinator/internal/audit/VerifySources")
const loadHeliaBlocks = () => import("@jointly/backends/internal/ipfs/HeliaBlocks")
const loadKuboBlocks = () => import("@jointly/backends/internal/ipfs/KuboBlocks")
const loadClient = () => import("@jointly/coordinator/internal/client/Client")
const loadConsortium = () => import("@jointly/coordinator/internal/local/Consortium")
const loadOperator = () => import("@jointly/coordinator/internal/local/Operator")

const out = (value: unknown) => process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n")

/** Every command's `print` option: false for a caller in this process, which takes the returned result instead. */
export interface Printing {
  /** Print the result as JSON on stdout (default true: the CLI); it is returned either way. */
  readonly print?: boolean
}

/** A command's result: printed as the CLI prints it unless `print` is false, and returned either way. */
export const emitter = (o: Printing) => <A>(value: A): A => {
  if (o.print ?? true) out(value)
  return value
}

export class CommandFailed extends Error {}

/** The typed client signed in as `signer` (the API answers members only). */
const clientFor = async (url: string, signer: Wallet | undefined, trust?: Endpoint.Trust) => (await loadClient()).make({ url, trust, initiator: signer })

// ---------------------------------------------------------------- catalogue

export const catalogSearch = async (o: Printing & { url: string; q: string; all: boolean; signer?: Wallet; trust?: Endpoint.Trust }) =>
  emitter(o)({ datasets: await (await clientFor(o.url, o.signer, o.trust)).catalog(o.q, { includeRetired: o.all }) })

/**
 * What opens a participant's config and keystore, as the process's edge read it (dispatch.ts), never this
 * process's environment, so a caller in process says which it means: the keystore's passphrase
 * (JOINTLY_KEY_PASSPHRASE) and the environment a PostgreSQL dataset's `connectionEnv` names a variable of (none
 * when absent).
 */
export interface MemberAccess {
  readonly passphrase?: string
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** A participant's config and its keystore, opened. */
const openParticipant = async (configFile: string, access: MemberAccess) => {
  const config = await ParticipantConfig.load(configFile, access.env ?? {})
  const identity = await Keystore.openPromise({ dataDir: config.dataDir, passphrase: access.passphrase })
  return { config, identity }
}

/** A participant's chain client from its config and keystore. */
const participantChain = async (configFile: string, access: MemberAccess) => {
  const { config, identity } = await openParticipant(configFile, access)
  if (config.chain === undefined) throw new CommandFailed(`${configFile} has no "chain" section (rpcUrl and contract addresses)`)
  const wallet = Redacted.value(identity.account)
  const chain = await makeGovernanceLedger({ rpcUrl: config.chain.rpcUrl, privateKey: wallet.privateKey, addresses: { ...config.chain, deployBlock: BigInt(config.chain.deployBlock ?? "0") } })
  return { config, wallet, chain, identity }
}

/** A participant's account and encryption key, from its config's keystore (no chain needed). */
const memberOf = async (configFile: string, access: MemberAccess) => {
  const { identity } = await openParticipant(configFile, access)
  return { signer: Redacted.value(identity.account), readerKey: Redacted.value(identity.encryptionSecretKey) }
}

/** Publishes (or republishes as a new version) a registered dataset's description: schema, size, hash — no rows. */
export const catalogPublish = async (o: Printing & { config: string; dataset: string; retire: boolean; passphrase?: string; env?: MemberAccess["env"] }): Promise<Record<string, unknown>> => {
  const show = emitter(o)
  const { config, chain } = await participantChain(o.config, o)
  try {
    const spec = config.datasets.find((d) => d.name === o.dataset)
    if (spec === undefined) throw new CommandFailed(`no dataset ${o.dataset} in ${o.config}`)
    if (o.retire) {
      const { datasetIdOf } = await import("@jointly/core/internal/ledger/GovernanceLedger")
      const id = datasetIdOf(chain.account, o.dataset)
      return show({ event: "retired", datasetId: id, ...(await chain.retireDataset(id)) })
    }
    // Opened as the participant serves it (CSV, Parquet or PostgreSQL), hashed column by column: no rows held.
    const sources = (await loadSources()).make()
    const dataset = await sources.open(spec).then(async ({ source, summary }) => ({
      columns: summary.columns,
      rowCount: summary.rowCount,
      contentHash: await Effect.runPromise(ContentHash.ofSource(source))
    })).finally(() => sources.close())
    const meta = config.catalog?.[o.dataset] ?? { domain: "general", policy: "Open" as const }
    const published = await chain.publishDataset({
      domain: meta.domain,
      name: o.dataset,
      attrs: JSON.stringify(dataset.columns),
      size: dataset.rowCount,
      contentHash: dataset.contentHash,
      location: meta.location ?? `jointly://${chain.account}/${meta.domain}/${o.dataset}`,
      policy: meta.policy
    })
    return show({ event: "published", owner: chain.account, dataset: o.dataset, contentHash: dataset.contentHash, rows: dataset.rowCount, ...published })
  } finally {
    await chain.close()
  }
}

// ---------------------------------------------------------------- access grants

/** A scope document from a file, decoded (core/src/ledger/GrantScope.ts). */
const scopeFrom = async (file: string): Promise<GrantScope.GrantScope> => {
  const text = await readFile(file, "utf8").catch((error: Error) => {
    throw new CommandFailed(`cannot read the scope ${file}: ${error.message}`)
  })
  try {
    return GrantScope.decode(JSON.parse(text))
  } catch (error) {
    throw new CommandFailed(`${file} is not a grant scope ({"version": 1, "columns": [...], "kinds"?: [...]}): ${(error as Error).message}`)
  }
}

/**
 * `jointly grant request|decide|revoke|show` (PROTOCOLS.md §2.4), each as the member of `--config`:
 * - request: ask `--owner`'s dataset `--dataset` for task kinds `--purpose` (comma-separated, or *), limited to
 *   the columns of `--scope <file>` when given (its hash goes on chain), for `--hours` and `--max-uses`;
 * - decide <token>: the owner approves (`--approve`, with the requester's `--scope` file when the grant has a
 *   scope: it must hash to the chain's `scopeHash`, and is kept for the participant to enforce) or rejects;
 * - revoke <token>: the owner stops a grant; show <token>: the grant as the chain has it.
 */
export const grant = async (o: Printing & {
  action: string
  token?: string
  config?: string
  passphrase?: string
  env?: MemberAccess["env"]
  owner?: string
  dataset?: string
  purpose?: string
  scope?: string
  hours?: number
  maxUses?: number
  approve?: boolean
  reject?: boolean
  reason?: string
}) => {
  const emit = emitter(o)
  const token = () => {
    if (o.token === undefined || !isHexString(o.token, 32)) throw new CommandFailed(`grant ${o.action} needs a grant token id (32-byte hex)`)
    return o.token
  }
  if (!o.config) throw new CommandFailed("grant acts as a member: give --config <participant.json>")
  const { config, chain } = await participantChain(o.config, o)
  try {
    switch (o.action) {
      case "request": {
        if (!o.owner || !isAddress(o.owner) || !o.dataset || !o.purpose) throw new CommandFailed("grant request needs --owner <address>, --dataset <name> and --purpose <kinds>")
        const scope = o.scope === undefined ? undefined : await scopeFrom(o.scope)
        const latest = await chain.provider.getBlock("latest")
        const expiry = BigInt(latest!.timestamp) + BigInt(Math.round((o.hours ?? 24) * 3600))
        const datasetId = GovernanceLedger.datasetIdOf(getAddress(o.owner), o.dataset)
        const requested = await chain.requestGrant({ datasetId, purpose: o.purpose, ...(scope === undefined ? {} : { scopeHash: GrantScope.hashOf(scope) }), expiry, maxUses: o.maxUses ?? 1 })
        return emit({ event: "requested", datasetId, scope: scope ?? "every column", expiry, ...requested })
      }
      case "decide": {
        if (o.approve === o.reject) throw new CommandFailed("grant decide needs exactly one of --approve and --reject")
        const grant = await chain.getGrant(token())
        if (grant === undefined) throw new CommandFailed(`no grant ${token()} on chain`)
        if (o.approve === true && !GrantScope.isUnscoped(grant.scopeHash)) {
          // The owner approves what it has read: the requester's document, checked against the chain's hash.
          if (o.scope === undefined) throw new CommandFailed(`grant ${token()} has a scope (${grant.scopeHash}): give the requester's document with --scope <file>`)
          const scope = await scopeFrom(o.scope)
          if (GrantScope.hashOf(scope).toLowerCase() !== grant.scopeHash.toLowerCase()) {
            throw new CommandFailed(`${o.scope} hashes to ${GrantScope.hashOf(scope)}, not to the grant's scope ${grant.scopeHash}: not the document the requester committed to`)
          }
          await GrantScopes.save(config.dataDir, token(), scope)
        }
        return emit({ event: o.approve === true ? "approved" : "rejected", tokenId: token(), ...(await chain.decideGrant(token(), o.approve === true, o.reason)) })
      }
      case "revoke":
        return emit({ event: "revoked", tokenId: token(), ...(await chain.revokeGrant(token(), o.reason)) })
      case "show":
        return emit({ grant: (await chain.getGrant(token())) ?? null, validity: await chain.checkGrant(token()), scope: (await GrantScopes.load(config.dataDir, token())) ?? null })
      default:
        throw new CommandFailed(`unknown grant action ${o.action} (request, decide, revoke, show)`)
    }
  } finally {
    await chain.close()
  }
}

// ---------------------------------------------------------------- supervision

/** The supervisor's wallet: `--key-env`, else the operator keys in `--data-dir` (a local cluster's). */
const supervisorOf = async (o: { dataDir?: string; signer?: Wallet }) => o.signer ?? (o.dataDir === undefined ? undefined : (await (await loadOperator()).load(o.dataDir)).supervisor)

export const supervise = async (o: Printing & { what: string; org?: string; url?: string; dataDir?: string; rpcUrl?: string; reason?: string; signer?: Wallet; trust?: Endpoint.Trust }) => {
  const emit = emitter(o)
  if (o.what === "members" || o.what === "tasks" || o.what === "grants") {
    if (!o.url) throw new CommandFailed(`supervise ${o.what} needs --url <coordinator>`)
    const supervisor = await supervisorOf(o)
    if (supervisor === undefined) throw new CommandFailed(`supervise ${o.what} signs in as the supervisor: give --key-env <VAR> or --data-dir`)
    const view = await (await clientFor(o.url, supervisor, o.trust)).supervision()
    return emit(o.what === "grants" ? { grants: view.grants, uses: view.grantUses } : { [o.what]: view[o.what] })
  }
  if (o.what === "pause" || o.what === "unpause") {
    const contract = upgradeable.find((c) => c === o.org)
    if (contract === undefined) throw new CommandFailed(`supervise ${o.what} needs one of ${upgradeable.join(", ")}`)
    const chain = await governanceSigner(o, "supervisor")
    try {
      return emit({ event: o.what === "pause" ? "paused" : "unpaused", contract, ...(await chain.setPaused(contract, o.what === "pause")) })
    } finally {
      await chain.close()
    }
  }
  if (o.what !== "suspend" && o.what !== "restore") throw new CommandFailed(`unknown supervise action ${o.what}`)
  if (!o.org || !o.dataDir || !o.rpcUrl) throw new CommandFailed(`supervise ${o.what} needs <org>, --data-dir and --rpc-url`)
  const deployment = await loadDeployment(o.dataDir)
  if (!deployment) throw new CommandFailed(`no deployment in ${o.dataDir}`)
  const keys = await (await loadOperator()).load(o.dataDir)
  const ledger = await (await loadConsortium()).ledgerFor(o.rpcUrl, keys.supervisor, deployment)
  try {
    let companyId: string | undefined
    if (isHexString(o.org, 32)) companyId = o.org
    else if (isHexString(o.org, 20)) companyId = (await ledger.companyOf(o.org)).companyId
    else if (o.url) {
      const view = await (await clientFor(o.url, keys.supervisor, o.trust)).supervision()
      companyId = view.members.find((m) => String(m.name).toUpperCase() === o.org!.toUpperCase())?.companyId as string | undefined
    }
    if (companyId === undefined) throw new CommandFailed(`no organisation ${o.org} (give its address, company id, or its name with --url)`)
    const to = o.what === "suspend" ? "Suspended" : "Audited"
    const receipt = await ledger.setState(companyId, to, keccak256(toUtf8Bytes(o.reason ?? `${o.what} by the supervisor`)))
    return emit({ event: o.what === "suspend" ? "suspended" : "restored", companyId, state: to, ...receipt })
  } finally {
    await ledger.close()
  }
}

// ---------------------------------------------------------------- verify

/** Runs every check of `Verify.verify` for a task; the CLI prints the report and exits 1 unless `ok`. */
export const verifyTask = async (o: {
  taskId: string
  url: string
  rpcUrl: string
  signer?: Wallet
  trust?: Endpoint.Trust
  /** Also fetch each artifact's sealed copy by CID from this IPFS node and check it against the chain. */
  blocks?: ArtifactBlocksShape
  /** The encryption secret key that opens the sealed copies (default the signer's own key, when it is a reader's). */
  readerKey?: Uint8Array
}) => {
  const Verify = await loadVerify()
  const client = await clientFor(o.url, o.signer, o.trust)
  const health = await client.health()
  // Read-only: a throwaway key, never funded.
  const ledger = await makeEthersLedger({
    rpcUrl: o.rpcUrl,
    privateKey: Wallet.createRandom().privateKey,
    addresses: { registry: health.chain.registry, ledger: health.chain.ledger, deployBlock: BigInt(health.chain.deployBlock ?? "0") }
  })
  try {
    if (ledger.chainId.toString() !== health.chain.chainId) throw new CommandFailed(`the coordinator names chain ${health.chain.chainId}, the node is ${ledger.chainId}`)
    const history = await ledger.taskHistory(o.taskId)
    const metadata = await client.get(o.taskId)
    // The result for its recipients; anyone else verifies the digests without the content.
    const outcome = metadata.status === "Succeeded" ? await client.result(o.taskId).catch((e: Client.RequestFailed) => (e.code === "Forbidden" ? Verify.withheld : Promise.reject(e))) : undefined
    const task: Verify.StoredTask = { ...metadata, result: outcome === Verify.withheld ? Verify.withheld : outcome?.result ?? null }
    const Sources = await loadVerifySources()
    const readerKey = o.readerKey ?? (o.signer === undefined ? undefined : getBytes(o.signer.privateKey))
    const sources = Layer.mergeAll(
      Sources.chainOverRpc({ chainId: ledger.chainId, ledger: health.chain.ledger, provider: ledger.chain.provider, onChainDomain: () => ledger.onChainDomain() }),
      Sources.coordinatorOverApi(client),
      o.blocks === undefined ? Layer.empty : Sources.ipfsBlocks(o.blocks, readerKey === undefined ? {} : { readerKey })
    )
    const checks = await Effect.runPromise(Verify.verify({ history, task }).pipe(
      Effect.provide(sources),
      Effect.mapError((e) => new CommandFailed(`cannot verify ${o.taskId}: the ${e.source} did not answer: ${e.message}`))
    ))
    return { ok: checks.every((c) => c.ok), checks, report: Verify.report(o.taskId, checks) }
  } finally {
    await ledger.close()
    await client.close()
  }
}

export const verify = async (o: {
  taskId: string
  url: string
  rpcUrl: string
  json: boolean
  signer?: Wallet
  trust?: Endpoint.Trust
  /** A Kubo node's RPC URL, or a peer (multiaddr with /p2p/…) an embedded node dials: artifacts come from IPFS. */
  ipfs?: { readonly kubo: string } | { readonly peer: string }
  /**
   * A participant's config: verify as that member, signing in with its account and opening the sealed copies
   * with its own encryption key (a party's key is not its account key, so the signer's key opens nothing).
   */
  config?: string
  passphrase?: string
  env?: MemberAccess["env"]
}) => {
  const member = o.config === undefined ? undefined : await memberOf(o.config, o)
  const scope = Effect.runSync(Scope.make())
  const blocks = o.ipfs === undefined
    ? undefined
    : "kubo" in o.ipfs
    ? (await loadKuboBlocks()).make({ url: o.ipfs.kubo })
    : (await Effect.runPromise(Scope.provide((await loadHeliaBlocks()).make({ peers: [o.ipfs.peer] }), scope))).blocks
  const { ok, checks, report } = await verifyTask({ ...o, ...member, ...(blocks === undefined ? {} : { blocks }) }).finally(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  if (o.json) out({ taskId: o.taskId, ok, checks })
  process.stderr.write(report)
  if (!ok) throw new CommandFailed(`task ${o.taskId} does not match the chain`)
}

// ---------------------------------------------------------------- e-data certificates (PROTOCOLS.md §7)

export interface CertFile {
  readonly version: 1
  readonly certId: string
  readonly file: string
  /** docHash = SHA-256(salt || document): the salt defeats brute force of a low-entropy document (§7). */
  readonly salt: string
  readonly docHash: string
  readonly metaHash: string
  readonly claimedAt: string
  readonly submitter: string
  readonly signature: string
  readonly chainId: string
  readonly certificates: string
  readonly txHash: string
  readonly blockNumber: string
  /**
   * The document on IPFS, sealed to its readers (`CertificateFile`): its CID, and the metadata (canonical JSON
   * `{ name, bytes, cid }`) whose keccak256 is the metaHash on chain, so the chain binds the CID.
   */
  readonly ipfs?: { readonly cid: string; readonly meta: string }
}

const loadCertificateFile = () => import("@jointly/core/internal/artifacts/CertificateFile")

/** The signer: a participant's keystore (--config) or the operator's local analyst (--data-dir). */
const certSigner = async (o: { config?: string; passphrase?: string; env?: MemberAccess["env"]; dataDir?: string; rpcUrl?: string }) => {
  if (o.config) {
    const { wallet, chain, config, identity } = await participantChain(o.config, o)
    return { wallet, chain, participant: { configFile: o.config, config, identity } }
  }
  if (!o.dataDir || !o.rpcUrl) throw new CommandFailed("certify needs --config <participant.json>, or --data-dir and --rpc-url")
  const deployment = await loadDeployment(o.dataDir)
  if (!deployment) throw new CommandFailed(`no deployment in ${o.dataDir}`)
  const keys = await (await loadOperator()).load(o.dataDir)
  const chain = await (await loadConsortium()).governanceFor(o.rpcUrl, keys.analyst, deployment)
  if (!chain) throw new CommandFailed("this deployment has no certificate contract; redeploy")
  return { wallet: keys.analyst, chain, participant: undefined }
}

/**
 * The operator's IPFS node for a certificate: the local coordinator's store in the data directory (shared with a
 * running coordinator under the store lock, which then serves and keeps what is put there), with a peer id of its
 * own; undefined when the data directory's coordinator runs no IPFS node.
 */
const operatorNodeOptions = async (dataDir: string, ipfsPeer: string | undefined) => {
  const directory = (await loadOperator()).coordinatorIpfsDirOf(dataDir)
  if (!(await stat(directory).then((s) => s.isDirectory(), () => false))) return undefined
  return { directory, ownIdentity: true, ...(ipfsPeer === undefined ? {} : { peers: [ipfsPeer] }) }
}

/** An Effect's value, or its typed error as a value (a check reports it rather than throwing). */
const runTyped = <A, E extends { readonly _tag: string; readonly message: string }>(effect: Effect.Effect<A, E>): Promise<A | E> =>
  Effect.runPromise(Effect.catch(effect, (error) => Effect.succeed(error)))

/**
 * `jointly certify <file>`: notarizes the file's salted hash. As a participant whose config runs an IPFS node
 * (`--config`), the file also goes to IPFS, sealed to the submitter's encryption key and each `--reader`'s
 * registered one, put in the participant node's store (so its running node serves and keeps it), with its CID
 * bound on chain through the signed metadata hash. The operator (`--data-dir`, signing as the local analyst) does
 * the same on the local coordinator's node when that runs one: sealed to the analyst's registered key and each
 * `--reader`'s, kept (pinned) in the coordinator's store.
 */
export const certify = async (o: Printing & { file: string; passphrase?: string; env?: MemberAccess["env"]; out?: string; meta?: string; config?: string; dataDir?: string; rpcUrl?: string; readers?: ReadonlyArray<string>; ipfsPeer?: string }) => {
  const emit = emitter(o)
  const { wallet, chain, participant } = await certSigner(o)
  const scope = Effect.runSync(Scope.make())
  try {
    const bytes = new Uint8Array(await readFile(o.file))
    const CertificateFile = await loadCertificateFile()
    const salt = randomBytes(32)
    const docHash = CertificateFile.docHashOf(salt, bytes)
    const name = basename(o.file)
    // The submitter's node and own encryption key: a participant's (its config's node), or the operator's analyst's
    // (the key it registered is its account's) on the local coordinator's node.
    const submitter = participant !== undefined
      ? nodeOptions(participant.config.ipfs, (path) => path) === undefined ? undefined : { node: filesNodeOptions(participant.configFile, participant.config, { ipfsPeer: o.ipfsPeer }), key: participant.identity.encryptionPublicKey }
      : await operatorNodeOptions(o.dataDir!, o.ipfsPeer).then((node) => node === undefined ? undefined : { node, key: wallet.signingKey.compressedPublicKey })
    if (submitter === undefined && (o.readers?.length ?? 0) > 0) throw new CommandFailed("--reader seals the file on IPFS: give --config <participant.json> whose config runs an IPFS node, or --data-dir of a local cluster started with IPFS")
    let ipfs: CertFile["ipfs"]
    if (submitter !== undefined) {
      const readers = [getBytes(submitter.key)]
      for (const account of o.readers ?? []) {
        if (!isAddress(account)) throw new CommandFailed(`--reader ${account} is not an address`)
        const key = await chain.encryptionKeyOf(account)
        if (key === undefined) throw new CommandFailed(`--reader ${account} has no registered encryption key`)
        readers.push(getBytes(key))
      }
      const node = await Effect.runPromise(Scope.provide((await loadHeliaBlocks()).make(submitter.node), scope))
      ipfs = await Effect.runPromise(CertificateFile.put({ blocks: node.blocks, document: bytes, docHash, name, readers, ...(o.meta === undefined ? {} : { note: o.meta }) }))
    }
    const metaHash = ipfs !== undefined ? CertificateFile.metaHashOf(ipfs.meta) : keccak256(toUtf8Bytes(o.meta ?? JSON.stringify({ name, bytes: bytes.length })))
    const claimedAt = BigInt(Math.floor(Date.now() / 1000))
    const signature = await signCert(wallet, docHash, metaHash, claimedAt)
    const receipt = await chain.certify({ docHash, metaHash, claimedAt, signature })
    const cert: CertFile = {
      version: 1,
      certId: receipt.certId,
      file: name,
      salt: hexlify(salt),
      docHash,
      metaHash,
      claimedAt: claimedAt.toString(),
      submitter: getAddress(wallet.address),
      signature,
      chainId: chain.chainId.toString(),
      certificates: chain.addresses.certificates,
      txHash: receipt.txHash,
      blockNumber: receipt.blockNumber.toString(),
      ...(ipfs === undefined ? {} : { ipfs })
    }
    const target = o.out ?? `${o.file}.cert.json`
    await writeFile(target, JSON.stringify(cert, null, 2) + "\n")
    return emit({ event: "certified", cert: target, certId: cert.certId, docHash, submitter: cert.submitter, blockNumber: cert.blockNumber, ...(ipfs === undefined ? {} : { cid: ipfs.cid }) })
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await chain.close()
  }
}

/**
 * Recomputes the salted hash, checks the signature and the on-chain record; exit 1 on any mismatch. A certificate
 * whose document is on IPFS is also fetched by its notarized CID (from `--ipfs-peer`, and the config's node and
 * peers with `--config`) and checked: the block against the CID, the metadata against the chain, and, for a
 * reader (`--config`: the participant's encryption key; `--data-dir`: the operator's analyst's, from the local
 * coordinator's node), the opened document against the docHash; `--out` writes
 * it. Without `<file>`, the fetched document is what is checked.
 */
export const certifyVerify = async (o: CertifyVerifyOptions) => {
  const verified = await certifyChecks(o)
  out(verified)
  if (!verified.ok) throw new CommandFailed(`${o.file ?? verified.cid} does not match certificate ${verified.certId}`)
}

interface CertifyVerifyOptions {
  readonly file?: string
  readonly cert: string
  readonly rpcUrl: string
  readonly config?: string
  readonly dataDir?: string
  readonly passphrase?: string
  readonly env?: MemberAccess["env"]
  readonly ipfsPeer?: string
  readonly out?: string
  readonly timeoutMs?: number
}

/** Every check of `certify --verify` (see certifyVerify), as a value: the CLI prints it and exits 1 unless `ok`. */
export const certifyChecks = async (o: CertifyVerifyOptions): Promise<{ readonly certId: string; readonly cid?: string; readonly ok: boolean; readonly checks: ReadonlyArray<Verify.Check> }> => {
  const cert = JSON.parse(await readFile(o.cert, "utf8")) as CertFile
  const fetchable = o.config !== undefined || o.ipfsPeer !== undefined || o.dataDir !== undefined
  if (o.file === undefined && (cert.ipfs === undefined || !fetchable)) {
    throw new CommandFailed("certify --verify needs <file>, or a certificate whose document is on IPFS and --config/--data-dir/--ipfs-peer to fetch it")
  }
  const CertificateFile = await loadCertificateFile()
  const chain = await makeGovernanceLedger({
    rpcUrl: o.rpcUrl,
    privateKey: Wallet.createRandom().privateKey,
    // Only the certificate contract is read; the other addresses are never called.
    addresses: { registry: cert.certificates, timelock: cert.certificates, catalog: cert.certificates, grants: cert.certificates, modelRequests: cert.certificates, settlement: cert.certificates, governance: cert.certificates, certificates: cert.certificates }
  })
  const scope = Effect.runSync(Scope.make())
  try {
    const onChain = await chain.getCert(cert.certId)
    let signer = ""
    try {
      signer = getAddress(verifyMessage(getBytes(certDigest(cert.docHash, cert.metaHash, BigInt(cert.claimedAt))), cert.signature))
    } catch {
      signer = "<unparseable>"
    }
    const checks: Array<Verify.Check> = []
    let document: Uint8Array | undefined = o.file === undefined ? undefined : new Uint8Array(await readFile(o.file))
    if (cert.ipfs !== undefined && fetchable) {
      // A reader: a participant (--config, its encryption key) or the operator's analyst (--data-dir, its account's key).
      const member = o.config === undefined ? undefined : await openParticipant(o.config, o)
      const operator = o.dataDir === undefined || member !== undefined ? undefined : await operatorNodeOptions(o.dataDir, o.ipfsPeer)
      if (o.dataDir !== undefined && member === undefined && operator === undefined) throw new CommandFailed(`${o.dataDir}'s coordinator runs no IPFS node: give --ipfs-peer to fetch the document`)
      const options = member !== undefined
        ? filesNodeOptions(o.config!, member.config, { ipfsPeer: o.ipfsPeer })
        : operator ?? { peers: [o.ipfsPeer!] }
      const readerKey = member !== undefined
        ? Redacted.value(member.identity.encryptionSecretKey)
        : operator === undefined ? undefined : getBytes((await (await loadOperator()).load(o.dataDir!)).analyst.privateKey)
      const node = await Effect.runPromise(Scope.provide((await loadHeliaBlocks()).make({ ...options, ...(o.timeoutMs === undefined ? {} : { defaultTimeoutMs: o.timeoutMs }) }), scope))
      const fetched = await runTyped(CertificateFile.fetchDocument({
        blocks: node.blocks,
        cid: cert.ipfs.cid,
        meta: cert.ipfs.meta,
        salt: getBytes(cert.salt),
        onChain: { docHash: onChain?.docHash ?? cert.docHash, metaHash: onChain?.metaHash ?? cert.metaHash },
        ...(readerKey === undefined ? {} : { readerKey })
      }))
      const failed = fetched !== undefined && !(fetched instanceof Uint8Array)
      checks.push({
        name: "document on IPFS",
        ok: !failed,
        detail: failed
          ? `${fetched._tag}: ${fetched.message}`
          : fetched === undefined
          ? `${cert.ipfs.cid} fetched and checked against its CID and the notarized metadata (not a reader: not opened)`
          : `${cert.ipfs.cid} fetched, opened and checked against the chain's docHash`
      })
      if (fetched instanceof Uint8Array) {
        if (document !== undefined) checks.push({ name: "file equals the document on IPFS", ok: Buffer.from(document).equals(Buffer.from(fetched)), detail: `${o.file} against ${cert.ipfs.cid}` })
        document ??= fetched
        if (o.out !== undefined) await writeFile(o.out, fetched)
      }
    }
    if (document !== undefined) {
      const docHash = CertificateFile.docHashOf(getBytes(cert.salt), document)
      checks.push({ name: "document hash", ok: docHash === cert.docHash.toLowerCase(), detail: `the file hashes to ${docHash}, the certificate says ${cert.docHash}` })
    }
    checks.push(
      { name: "on chain", ok: onChain !== undefined, detail: onChain ? `certified in block ${onChain.blockNumber} at ${new Date(Number(onChain.timestamp) * 1000).toISOString()} with ${onChain.endorsements} endorsement(s)` : `no certificate ${cert.certId}` },
      { name: "chain record matches", ok: onChain !== undefined && onChain.docHash === cert.docHash.toLowerCase() && onChain.metaHash === cert.metaHash.toLowerCase() && onChain.submitter === getAddress(cert.submitter) && onChain.claimedAt === BigInt(cert.claimedAt), detail: "docHash, metaHash, submitter, timestamp" },
      { name: "submitter signature", ok: signer === getAddress(cert.submitter), detail: `signed by ${signer}` }
    )
    return { certId: cert.certId, ...(cert.ipfs === undefined ? {} : { cid: cert.ipfs.cid }), ok: checks.every((c) => c.ok), checks }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await chain.close()
  }
}

// ---------------------------------------------------------------- votes, upgrades and settlements (issue 20)

/** A member's governance view: a participant's keystore (--config) or the operator's supervisor (--data-dir). */
const governanceSigner = async (o: { config?: string; dataDir?: string; rpcUrl?: string; passphrase?: string; env?: MemberAccess["env"] }, role: "member" | "supervisor") => {
  if (role === "member") {
    if (!o.config) throw new CommandFailed("this command acts as a member: give --config <participant.json>")
    return (await participantChain(o.config, o)).chain
  }
  if (!o.dataDir || !o.rpcUrl) throw new CommandFailed("this command acts as the supervisor: give --data-dir and --rpc-url")
  const deployment = await loadDeployment(o.dataDir)
  if (!deployment) throw new CommandFailed(`no deployment in ${o.dataDir}`)
  const chain = await (await loadConsortium()).governanceFor(o.rpcUrl, (await (await loadOperator()).load(o.dataDir)).supervisor, deployment)
  if (!chain) throw new CommandFailed("this deployment has no governance contracts; redeploy")
  return chain
}

const upgradeable = ["registry", "ledger", "settlement"] as const

/**
 * `jointly governance propose-upgrade|vote|close|execute|show`: a member deploys the current build's
 * implementation of an upgradeable contract and proposes it; members vote; after the deadline anyone closes the
 * vote (a passed upgrade is queued on the timelock), and after the timelock's delay anyone executes it.
 */
export const governance = async (o: Printing & { action: string; arg?: string; support?: string; config?: string; passphrase?: string; env?: MemberAccess["env"]; hours?: number }) => {
  const emit = emitter(o)
  const chain = await governanceSigner(o, "member")
  try {
    const id = () => {
      if (o.arg === undefined || !/^\d+$/.test(o.arg)) throw new CommandFailed(`governance ${o.action} needs a proposal id`)
      return BigInt(o.arg)
    }
    switch (o.action) {
      case "propose-upgrade": {
        const contract = upgradeable.find((c) => c === o.arg)
        if (contract === undefined) throw new CommandFailed(`propose-upgrade needs one of ${upgradeable.join(", ")}`)
        const implementation = await chain.deployImplementation(contract)
        const latest = await chain.provider.getBlock("latest")
        const deadline = BigInt(latest!.timestamp) + BigInt(Math.round((o.hours ?? 72) * 3600))
        const proposed = await chain.proposeUpgrade({ contract, implementation, deadline })
        return emit({ event: "proposed", id: proposed.id, contract, implementation, current: await chain.implementationOf(contract), deadline, txHash: proposed.txHash })
      }
      case "vote": {
        if (o.support !== "yes" && o.support !== "no") throw new CommandFailed("vote needs <id> yes|no")
        return emit({ event: "voted", id: id(), support: o.support === "yes", ...(await chain.vote(id(), o.support === "yes")) })
      }
      case "close":
        return emit({ event: "closed", id: id(), ...(await chain.execute(id())) })
      case "execute":
        return emit({ event: "executed", id: id(), ...(await chain.executeQueued(id())) })
      case "show":
        return emit({ proposal: await chain.getProposal(id()), timelockDelay: await chain.timelockDelay() })
      default:
        throw new CommandFailed(`unknown governance action ${o.action} (propose-upgrade, vote, close, execute, show)`)
    }
  } finally {
    await chain.close()
  }
}

/**
 * `jointly settlement post --task <id> --price <points>`: the valuer of a contribution task pays its owners by the
 * Shapley shares of the score table it kept (`<data dir>/outputs/<task>.json`). It commits the table's test-set and
 * recipe hashes — those the coordinator notarized before any model was trained — under the task's settlement
 * id, then posts the signed valuation in a later block: `price × uses` points go into escrow and the dispute
 * window opens. Only the table's salted hash goes on chain.
 */
const postContribution = async (o: Printing & { task: string; price?: string; uses?: string; config?: string; passphrase?: string; env?: MemberAccess["env"] }) => {
  if (!o.config) throw new CommandFailed("settlement post acts as the valuer: give --config <participant.json>")
  const points = (flag: string, value: string | undefined, fallback?: bigint) => {
    if (value === undefined && fallback !== undefined) return fallback
    if (value === undefined || !/^[1-9]\d*$/.test(value)) throw new CommandFailed(`settlement post needs ${flag} <positive integer>`)
    return BigInt(value)
  }
  const price = points("--price", o.price)
  const uses = points("--uses", o.uses, 1n)
  const { config, chain } = await participantChain(o.config, o)
  try {
    const file = (await loadQueryServices()).outputFile(config.dataDir, o.task)
    const text = await readFile(file, "utf8").catch(() => {
      throw new CommandFailed(`no output of task ${o.task} at ${file}: settlement post runs at the contribution task's valuer`)
    })
    const table = Schema.decodeUnknownSync(Contribution.ScoreTable)(JSON.parse(text), { onExcessProperty: "ignore" })
    if (table.taskId !== o.task) throw new CommandFailed(`${file} holds task ${table.taskId}, not ${o.task}`)
    if (table.method !== "exact" || table.scores === undefined) {
      throw new CommandFailed(`task ${o.task} was valued by ${table.method}: the settlement contract checks exact score tables only`)
    }
    const stream = Valuation.stream({ price, uses, thirdParty: ZeroAddress, owners: table.owners, miners: 0, scores: table.scores.map(BigInt), salt: table.salt })
    if (stream.scoresHash !== table.scoresHash) throw new CommandFailed(`${file}: the table's scores do not hash to its committed ${table.scoresHash}`)
    const settlementId = Contribution.settlementIdOf(o.task)
    const existing = await chain.getSettlement(settlementId)
    const committed = existing === undefined || existing.status === "None" ? await chain.commitTestSet(settlementId, table.testSetHash, table.recipeHash) : undefined
    const valuation: Valuation.Valuation = { settlementId, period: 1n, streams: [stream], miners: Valuation.noMiners, testSetHash: table.testSetHash, modelHashes: table.modelHashes }
    const posted = await chain.postValuation(valuation, await chain.signValuation(valuation))
    const { entries, toTreasury } = Valuation.payouts(valuation)
    return emitter(o)({
      event: "posted",
      settlementId,
      task: o.task,
      ...(committed === undefined ? {} : { committedBlock: committed.blockNumber }),
      postedBlock: posted.blockNumber,
      escrow: String(price * uses),
      payouts: entries.map((e) => ({ to: e.to, amount: String(e.amount) })),
      toTreasury: String(toTreasury)
    })
  } finally {
    await chain.close()
  }
}

/**
 * `jointly settlement show|dispute|finalize|arbitrate <settlement-id>`: a member reads a settlement, disputes it
 * within its window or pays it out after (the valuation is read back from the chain); the supervisor arbitrates.
 * `post` pays a contribution task (postContribution).
 */
export const settlement = async (o: Printing & { action: string; id?: string; verdict?: string; reason?: string; config?: string; passphrase?: string; env?: MemberAccess["env"]; dataDir?: string; rpcUrl?: string; task?: string; price?: string; uses?: string }) => {
  const emit = emitter(o)
  if (o.action === "post") {
    if (o.task === undefined) throw new CommandFailed("settlement post needs --task <contribution task id>")
    return postContribution({ task: o.task, price: o.price, uses: o.uses, config: o.config, passphrase: o.passphrase, env: o.env, print: o.print })
  }
  if (o.id === undefined || !isHexString(o.id, 32)) throw new CommandFailed(`settlement ${o.action} needs a settlement id (32-byte hex)`)
  const settlementId = o.id
  const chain = await governanceSigner(o, o.action === "arbitrate" ? "supervisor" : "member")
  try {
    switch (o.action) {
      case "show": {
        const valuation = await chain.postedValuation(settlementId)
        return emit({ settlement: await chain.getSettlement(settlementId), payouts: valuation === undefined ? undefined : await chain.settlementPayouts(valuation) })
      }
      case "dispute":
        if (!o.reason) throw new CommandFailed("settlement dispute needs --reason <evidence>")
        return emit({ event: "disputed", settlementId, ...(await chain.disputeSettlement(settlementId, o.reason)) })
      case "finalize": {
        const valuation = await chain.postedValuation(settlementId)
        if (valuation === undefined) throw new CommandFailed(`settlement ${settlementId} has no posted valuation`)
        return emit({ event: "finalized", settlementId, ...(await chain.finalizeSettlement(valuation)) })
      }
      case "arbitrate": {
        if (o.verdict !== "uphold" && o.verdict !== "reject") throw new CommandFailed("settlement arbitrate needs <id> uphold|reject")
        if (!o.reason) throw new CommandFailed("settlement arbitrate needs --reason <text> (only its hash goes on chain)")
        return emit({ event: "arbitrated", settlementId, upheld: o.verdict === "uphold", ...(await chain.arbitrate(settlementId, o.verdict === "uphold", o.reason)) })
      }
      default:
        throw new CommandFailed(`unknown settlement action ${o.action} (post, show, dispute, finalize, arbitrate)`)
    }
  } finally {
    await chain.close()
  }
}

// ---------------------------------------------------------------- files for a fee (PROTOCOLS.md §2.6, §11 item 39)

const loadFileShare = () => import("@jointly/participant/internal/governance/FileShare")
const loadFileExchangeLedger = () => import("@jointly/core/internal/ledger/FileExchangeLedger")

/**
 * The IPFS node `jointly files` runs, from the participant config's `ipfs` section: the same block store and pins
 * (so what `share` puts, the participant's running node serves too), the same peers (and `--ipfs-peer`), the same
 * fetch timeout. It gets its own peer id (`ownIdentity`) and, unless `--listen` names one, a free port on each
 * configured listen address: the participant's node, when it runs, holds the configured port and identity. A
 * config whose node keeps blocks in memory has nothing to share them through, so then they go to `<data dir>/ipfs`.
 */
export const filesNodeOptions = (configFile: string, config: { readonly dataDir: string; readonly ipfs?: ParticipantConfig.ParticipantConfig["ipfs"] }, o: { readonly ipfsPeer?: string; readonly listen?: string }) => {
  // Relative paths name places beside the config file, as `ParticipantConfig.load` resolves them (a loaded
  // config's paths are absolute already, and stay as they are): never the caller's working directory.
  const base = dirname(resolve(configFile))
  const node = nodeOptions(config.ipfs, (path) => resolve(base, path))
  if (node === undefined) throw new CommandFailed(`${configFile} runs no IPFS node (its "ipfs" section is off or absent): files shares through the participant's node, so give it an "ipfs" section`)
  const listen = o.listen !== undefined ? [o.listen] : node.listen?.map((address) => address.replace(/\/tcp\/\d+/, "/tcp/0"))
  const peers = [...(node.peers ?? []), ...(o.ipfsPeer === undefined ? [] : [o.ipfsPeer])]
  return {
    ...node,
    directory: node.directory ?? resolve(base, config.dataDir, "ipfs"),
    ownIdentity: true,
    ...(listen === undefined ? {} : { listen }),
    ...(peers.length === 0 ? {} : { peers })
  }
}

/**
 * `jointly files share|serve|fetch`: a member encrypts a file, puts it on its IPFS node (the participant config's,
 * `filesNodeOptions`) and records it on the FileExchange with the upload fee (`share <path> --name --fee`);
 * `serve` keeps that node up and answers every paid download request with the file's key, encrypted to the
 * requester on chain (`--watch` keeps answering until stopped; it prints the node's address for downloaders);
 * `fetch <cid> --out <path> --ipfs-peer <multiaddr>` pays the uploader's fee, waits for the key, fetches the block
 * from the uploader's node and writes the checked plaintext.
 */
interface FileShareOptions extends Printing {
  config?: string
  passphrase?: string
  env?: MemberAccess["env"]
  ipfsPeer?: string
  listen?: string
}

/**
 * A member's FileShare as `files` and `originals` run it: its FileExchange view, its IPFS node
 * (`filesNodeOptions`), its keys; everything closed when `use` ends.
 */
const withFileShare = async <A>(
  command: string,
  o: FileShareOptions,
  use: (member: {
    readonly config: ParticipantConfig.ParticipantConfig
    readonly chain: GovernanceLedger.GovernanceLedger
    readonly privateKey: string
    readonly ledger: FileExchangeLedger
    readonly node: { readonly peerId: string; readonly addresses: ReadonlyArray<string> }
    readonly share: FileShare
  }) => Promise<A>
): Promise<A> =>
  withFilesLedger(command, o, async ({ config, chain, identity, privateKey, ledger }) => {
    const scope = Effect.runSync(Scope.make())
    try {
      const key = { secretKey: Redacted.value(identity.encryptionSecretKey), publicKey: getBytes(identity.encryptionPublicKey) }
      const node = await Effect.runPromise(Scope.provide((await loadHeliaBlocks()).make(filesNodeOptions(o.config!, config, o)), scope))
      const share = (await loadFileShare()).make({ ledger, blocks: node.blocks, key, dir: join(config.dataDir, "file-keys"), encryptionKeyOf: (account) => chain.encryptionKeyOf(account) })
      return await use({ config, chain, privateKey, ledger, node: node.node, share })
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

/** A member's FileExchange view alone (no IPFS node): what the escrow commands need. */
const withFilesLedger = async <A>(
  command: string,
  o: FileShareOptions,
  use: (member: {
    readonly config: ParticipantConfig.ParticipantConfig
    readonly chain: GovernanceLedger.GovernanceLedger
    readonly identity: Awaited<ReturnType<typeof openParticipant>>["identity"]
    readonly privateKey: string
    readonly ledger: FileExchangeLedger
  }) => Promise<A>
): Promise<A> => {
  if (!o.config) throw new CommandFailed(`${command} acts as a member: give --config <participant.json>`)
  const { config, chain, identity } = await participantChain(o.config, o)
  try {
    if (config.chain?.files === undefined) throw new CommandFailed(`${o.config}'s chain section names no "files" contract (a deployment from before the FileExchange)`)
    const privateKey = Redacted.value(identity.account).privateKey
    const ledger = await (await loadFileExchangeLedger()).makeFileExchangeLedger({ rpcUrl: config.chain.rpcUrl, chain: chain.chain, privateKey, addresses: { files: config.chain.files, settlement: config.chain.settlement, deployBlock: BigInt(config.chain.deployBlock ?? "0") } })
    return await use({ config, chain, identity, privateKey, ledger })
  } finally {
    await chain.close()
  }
}

/**
 * `jointly files share|serve|fetch`: a member encrypts a file, puts it on its IPFS node (the participant config's,
 * `filesNodeOptions`) and records it on the FileExchange with the upload fee (`share <path> --name --fee`);
 * `serve` keeps that node up and answers every paid download request with the file's key, encrypted to the
 * requester on chain (`--watch` keeps answering until stopped; it prints the node's address for downloaders);
 * `fetch <cid> --out <path> --ipfs-peer <multiaddr>` pays the uploader's fee, waits for the key, fetches the block
 * from the uploader's node and writes the checked plaintext; `dispute <request-id> --reason <evidence>` takes a paid
 * request whose key never came, or whose file did not match the chain, to the supervisor.
 */
export const files = async (o: FileShareOptions & {
  action: string
  arg?: string
  reason?: string
  name?: string
  fee?: string
  out?: string
  watch?: boolean
  waitSeconds?: number
}) =>
  escrowActions.has(o.action) ? filesEscrow({ ...o, action: o.action as EscrowAction }) : withFileShare("files", o, async ({ ledger, node, share }) => {
    const emit = emitter(o)
    switch (o.action) {
      case "share": {
        if (!o.arg) throw new CommandFailed("files share needs <path>")
        const fee = feeOf(o.fee)
        const shared = await Effect.runPromise(share.share(new Uint8Array(await readFile(o.arg)), { name: o.name ?? basename(o.arg), downloadFee: fee }))
        return emit({ event: "shared", cid: shared.cid, cidHash: shared.cidHash, ...shared.description, uploadFee: await ledger.uploadFee(), downloadFee: fee.toString(), txHash: shared.receipt.txHash })
      }
      case "serve": {
        out({ event: "serving", peerId: node.peerId, addresses: node.addresses })
        for (;;) {
          const answered = await Effect.runPromise(share.serve((requestId, error) => out({ event: "skipped", requestId, reason: error.reason, detail: error.detail })))
          for (const requestId of answered) out({ event: "delivered", requestId })
          if (!o.watch) return
          await new Promise((resolve) => setTimeout(resolve, 1_000))
        }
      }
      case "fetch": {
        if (!o.arg || !o.out) throw new CommandFailed("files fetch needs <cid> and --out <path>")
        const got = await Effect.runPromise(share.download(o.arg, { waitMs: (o.waitSeconds ?? 120) * 1000 }))
        await writeFile(o.out, got.file)
        return emit({ event: "fetched", cid: o.arg, out: o.out, ...got.description, fee: got.fee, uploader: got.uploader, requestId: got.requestId })
      }
      case "dispute": {
        if (!o.arg || !o.reason) throw new CommandFailed("files dispute needs <request-id> and --reason <evidence>")
        if (!isHexString(o.arg, 32)) throw new CommandFailed("files dispute needs a request id (0x…, 32 bytes)")
        const receipt = await ledger.dispute(o.arg.toLowerCase(), o.reason)
        return emit({ event: "disputed", requestId: o.arg.toLowerCase(), evidenceHash: keccak256(toUtf8Bytes(o.reason)), txHash: receipt.txHash })
      }
      default:
        throw new CommandFailed(`unknown files action ${o.action} (share, serve, fetch, dispute, show, withdraw, refund)`)
    }
  })

const escrowActions: ReadonlySet<string> = new Set(["show", "withdraw", "refund"])
type EscrowAction = "show" | "withdraw" | "refund"

const requestIdOf = (command: string, id: string | undefined): string => {
  if (id === undefined || !isHexString(id, 32)) throw new CommandFailed(`${command} needs a request id (0x…, 32 bytes)`)
  return id.toLowerCase()
}

/**
 * `jointly files show|withdraw|refund`: a download's fee in the exchange's escrow, read and written with the
 * member's key only (no IPFS node). `show <request-id>` prints the request, its dispute and what may happen to its
 * fee next (`EscrowState`, as of the head block); `withdraw <request-id>` takes the fee of the uploader's sale once
 * its window passed undisputed or its dispute was rejected, and `withdraw` alone takes every such fee of the
 * member's sales; `refund <request-id>` takes a buyer's fee back after its dispute was upheld. A refusal is the
 * contract's (its custom error, e.g. `WindowOpen`, `DisputeUpheld`, `AlreadySettled`), and changes nothing.
 */
const filesEscrow = (o: FileShareOptions & { action: EscrowAction; arg?: string }) =>
  withFilesLedger("files", o, async ({ ledger }) => {
    const emit = emitter(o)
    switch (o.action) {
      case "show": {
        const requestId = requestIdOf("files show", o.arg)
        const escrow = await ledger.escrow(requestId)
        if (escrow === undefined) throw new CommandFailed(`no download request ${requestId} on the exchange`)
        const { request, dispute, state, now } = escrow
        return emit({ event: "escrow", ...request, dispute, state, chainTime: now, uploader: (await ledger.file(request.cidHash))?.uploader })
      }
      case "refund": {
        const requestId = requestIdOf("files refund", o.arg)
        const receipt = await ledger.claimRefund(requestId)
        return emit({ event: "refunded", requestId, amount: receipt.amount, txHash: receipt.txHash })
      }
      case "withdraw": {
        if (o.arg !== undefined) {
          const requestId = requestIdOf("files withdraw", o.arg)
          const receipt = await ledger.withdrawPayment(requestId)
          return emit({ event: "withdrawn", requestId, amount: receipt.amount, txHash: receipt.txHash })
        }
        // Every sale of this member whose fee the contract would pay out now; the others stay listed by state.
        const { requestIds } = await ledger.requestedSince(ledger.account)
        let total = 0n
        const withdrawn: Array<string> = []
        const waiting: Record<string, number> = {}
        for (const requestId of requestIds) {
          const escrow = await ledger.escrow(requestId)
          if (escrow?.state !== "Withdrawable") {
            if (escrow !== undefined) waiting[escrow.state] = (waiting[escrow.state] ?? 0) + 1
            continue
          }
          const receipt = await ledger.withdrawPayment(requestId)
          total += receipt.amount
          withdrawn.push(requestId)
          emit({ event: "withdrawn", requestId, amount: receipt.amount, txHash: receipt.txHash })
        }
        return emit({ event: "withdrawals", total, requestIds: withdrawn, others: waiting })
      }
    }
  })

/**
 * `jointly files arbitrate <request-id> uphold|reject --reason <text> --data-dir <dir> --rpc-url <url>`: the
 * supervisor (the data directory's operator keys) resolves a member's dispute of a paid download; upheld withdraws
 * the file from sale. Only the reason's hash goes on chain.
 */
export const filesArbitrate = async (o: Printing & { id?: string; verdict?: string; reason?: string; dataDir?: string; rpcUrl?: string }): Promise<Record<string, unknown>> => {
  if (o.id === undefined || !isHexString(o.id, 32)) throw new CommandFailed("files arbitrate needs a request id (0x…, 32 bytes)")
  if (o.verdict !== "uphold" && o.verdict !== "reject") throw new CommandFailed("files arbitrate needs <request-id> uphold|reject")
  if (!o.reason) throw new CommandFailed("files arbitrate needs --reason <text> (only its hash goes on chain)")
  if (!o.dataDir || !o.rpcUrl) throw new CommandFailed("files arbitrate acts as the supervisor: give --data-dir and --rpc-url")
  const deployment = await loadDeployment(o.dataDir)
  if (deployment?.suite?.files === undefined) throw new CommandFailed(`the deployment in ${o.dataDir} has no FileExchange`)
  const supervisor = (await (await loadOperator()).load(o.dataDir)).supervisor
  const ledger = await (await loadFileExchangeLedger()).makeFileExchangeLedger({ rpcUrl: o.rpcUrl, privateKey: supervisor.privateKey, addresses: { files: deployment.suite.files, settlement: deployment.suite.settlement } })
  try {
    const requestId = o.id.toLowerCase()
    const receipt = await ledger.resolveDispute(requestId, o.verdict === "uphold", o.reason)
    return emitter(o)({ event: "arbitrated", requestId, upheld: o.verdict === "uphold", dispute: await ledger.disputeOf(requestId), txHash: receipt.txHash })
  } finally {
    await ledger.close()
  }
}

/** `--fee`: a whole number of points (default 0). */
const feeOf = (fee: string | undefined): bigint => {
  if (fee !== undefined && !/^\d+$/.test(fee)) throw new CommandFailed("--fee takes a whole number of points")
  return BigInt(fee ?? "0")
}

// ---------------------------------------------------------------- originals of retrieval results (PROTOCOLS.md §8, §11 item 33)

const loadOriginals = () => import("@jointly/participant/internal/similarity/Originals")

/**
 * `jointly originals publish|fetch`: the originals of a `query.similar` collection bought through the FileExchange.
 * `publish <dir> --dataset <name> --fee <points>` (owner) shares every file of `<dir>` — named `<image id>.<ext>` —
 * and sets each image's location in a new epoch of the dataset's index log, so the next query's root commits it;
 * `fetch <task-id> <image id> --out <path>` (querier) checks that image's record of the task's output against the
 * roots on the task ledger, its location against the exchange and the block against the chain, and only then
 * pays the owner's fee, waits for the key (the owner runs `jointly files serve`) and writes the checked original.
 */
export const originals = async (o: FileShareOptions & {
  action: string
  arg?: string
  record?: string
  dataset?: string
  fee?: string
  out?: string
  waitSeconds?: number
}) =>
  withFileShare("originals", o, async ({ config, chain, privateKey, ledger, share }): Promise<Record<string, unknown>> => {
    const Originals = await loadOriginals()
    const emit = emitter(o)
    const exchange = { share, chainId: ledger.chainId, address: ledger.address }
    switch (o.action) {
      case "publish": {
        if (!o.arg || !o.dataset) throw new CommandFailed("originals publish needs <dir> and --dataset <name>")
        const fee = feeOf(o.fee)
        const names = (await readdir(o.arg, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort()
        if (names.length === 0) throw new CommandFailed(`${o.arg} holds no file to publish`)
        const items = await Promise.all(names.map(async (name) => ({ id: name.replace(/\.[^.]*$/u, ""), name, file: new Uint8Array(await readFile(join(o.arg!, name))) })))
        const { epoch, published } = await Effect.runPromise(Originals.publish(exchange, { dataDir: config.dataDir, dataset: o.dataset }, items, fee))
        return emit({ event: "published", dataset: o.dataset, epoch, downloadFee: fee.toString(), originals: published })
      }
      case "fetch": {
        if (!o.arg || !o.record || !o.out) throw new CommandFailed("originals fetch needs <task-id> <image id> and --out <path>")
        if (config.chain?.ledger === undefined) throw new CommandFailed(`${o.config}'s chain section names no "ledger" (the task ledger whose roots the record is checked against)`)
        const { outputFile } = await loadQueryServices()
        let output: unknown
        try {
          output = JSON.parse(await readFile(outputFile(config.dataDir, o.arg), "utf8"))
        } catch (error) {
          throw new CommandFailed(`no output of task ${o.arg} here: ${(error as Error).message}`)
        }
        const taskLedger = await makeEthersLedger({ rpcUrl: config.chain.rpcUrl, chain: chain.chain, privateKey, addresses: { registry: config.chain.registry, ledger: config.chain.ledger, deployBlock: BigInt(config.chain.deployBlock ?? "0") } })
        try {
          const got = await Effect.runPromise(Originals.fetch(exchange, taskLedger, output, o.record, { waitMs: (o.waitSeconds ?? 120) * 1000 }))
          await writeFile(o.out, got.file)
          return emit({ event: "fetched", task: got.taskId, record: got.record, location: got.location, root: got.root, out: o.out, ...got.description, fee: got.fee, uploader: got.uploader, requestId: got.requestId })
        } finally {
          await taskLedger.close()
        }
      }
      default:
        throw new CommandFailed(`unknown originals action ${o.action} (publish, fetch)`)
    }
  })

// ---------------------------------------------------------------- DID keys (PROTOCOLS.md §2.6)

const loadDidIdentity = () => import("@jointly/core/internal/identity/DidIdentity")

/**
 * `jointly did show|add-login-key|revoke-login-key|rotate-login-key|add-consent-key|revoke-consent-key|
 * rotate-consent-key|publish-tls-key|revoke-tls-key|rotate-tls-key|publish-encryption-key|revoke-encryption-key`:
 * the organisation's did:ethr document, read with the maintained resolver, and its keys published or revoked in
 * the ERC-1056 registry by the account that controls it (the member's keystore). A revoked login key is refused
 * at the next handshake, a revoked consent key at the next consent; a TLS client key is the DER SPKI of the
 * certificate file given; the encryption key published is the keystore's own (the one ECIES deliveries use).
 */
export const did = async (o: Printing & { action: string; arg?: string; next?: string; days?: number; config?: string; passphrase?: string; env?: MemberAccess["env"] }) => {
  const emit = emitter(o)
  if (!o.config) throw new CommandFailed("did acts as a member: give --config <participant.json>")
  const { config, chain, wallet, identity } = await participantChain(o.config, o)
  try {
    const registry = config.chain?.didRegistry
    if (registry === undefined) throw new CommandFailed(`${o.config}'s chain section names no "didRegistry" (a deployment from before DIDs)`)
    const Did = await loadDidIdentity()
    const resolver = Did.makeResolver({ chainId: chain.chain.chainId, registry, provider: chain.chain.provider })
    const controller = Did.makeController(chain.chain, chain.chain.signer(wallet.privateKey), registry)
    const validity = BigInt(Math.round((o.days ?? 365) * 86_400))
    const address = (what: string, v: string | undefined) => {
      if (v === undefined || !isAddress(v)) throw new CommandFailed(`did ${o.action} needs ${what} (an address)`)
      return getAddress(v)
    }
    const receipt = (r: { hash: string; blockNumber: number }) => ({ txHash: r.hash, blockNumber: r.blockNumber })
    /** Login keys (`sigAuth`) and consent keys (`veriKey`) are delegates: added, revoked and rotated alike. */
    const delegateKey = async (kind: "login" | "consent", verb: "add" | "revoke" | "rotate") => {
      const keys = kind === "login"
        ? { add: controller.addLoginKey, revoke: controller.revokeLoginKey, rotate: controller.rotateLoginKey }
        : { add: controller.addConsentKey, revoke: controller.revokeConsentKey, rotate: controller.rotateConsentKey }
      if (verb === "add") {
        const key = address("<address>", o.arg)
        return emit({ event: `${kind}-key-added`, key, validDays: o.days ?? 365, ...receipt(await keys.add(key, validity)) })
      }
      if (verb === "revoke") {
        const key = address("<address>", o.arg)
        return emit({ event: `${kind}-key-revoked`, key, ...receipt(await keys.revoke(key)) })
      }
      const [previous, next] = [address("<previous address>", o.arg), address("--next <address>", o.next)]
      return emit({ event: `${kind}-key-rotated`, previous, next, ...receipt(await keys.rotate(previous, next, validity)) })
    }
    /** The key (DER SPKI, hex) of a PEM client certificate file. */
    const tlsKey = async (what: string, file: string | undefined) => {
      if (file === undefined) throw new CommandFailed(`did ${o.action} needs ${what} (a PEM certificate file)`)
      const { spkiOfPem } = await import("@jointly/coordinator/internal/auth/ClientCertificates")
      try {
        return spkiOfPem(await readFile(file, "utf8"))
      } catch (error) {
        throw new CommandFailed(`${file}: not a PEM certificate (${(error as Error).message})`)
      }
    }
    switch (o.action) {
      case "show": {
        const keys = await resolver.resolve(chain.account)
        return emit({ did: keys.did, loginSigners: [...keys.loginSigners], consentSigners: [...keys.consentSigners], tlsClientKeys: keys.tlsClientKeys, encryptionKeys: keys.encryptionKeys })
      }
      case "add-login-key":
      case "revoke-login-key":
      case "rotate-login-key":
      case "add-consent-key":
      case "revoke-consent-key":
      case "rotate-consent-key": {
        const [verb, kind] = o.action.split("-") as ["add" | "revoke" | "rotate", "login" | "consent"]
        // Awaited here: the chain client closes in `finally`.
        return await delegateKey(kind, verb)
      }
      case "publish-tls-key": {
        const key = await tlsKey("<client cert.pem>", o.arg)
        return emit({ event: "tls-key-published", key, validDays: o.days ?? 365, ...receipt(await controller.addTlsClientKey(key, validity)) })
      }
      case "revoke-tls-key": {
        const key = await tlsKey("<client cert.pem>", o.arg)
        return emit({ event: "tls-key-revoked", key, ...receipt(await controller.revokeTlsClientKey(key)) })
      }
      case "rotate-tls-key": {
        const [previous, next] = [await tlsKey("<previous cert.pem>", o.arg), await tlsKey("--next <cert.pem>", o.next)]
        return emit({ event: "tls-key-rotated", previous, next, ...receipt(await controller.rotateTlsClientKey(previous, next, validity)) })
      }
      case "publish-encryption-key": {
        return emit({ event: "encryption-key-published", key: identity.encryptionPublicKey, validDays: o.days ?? 365, ...receipt(await controller.addEncryptionKey(identity.encryptionPublicKey, validity)) })
      }
      case "revoke-encryption-key": {
        if (o.arg === undefined || !isHexString(o.arg, 33)) throw new CommandFailed("did revoke-encryption-key needs <compressed public key> (0x…, 33 bytes)")
        return emit({ event: "encryption-key-revoked", key: o.arg.toLowerCase(), ...receipt(await controller.revokeEncryptionKey(o.arg.toLowerCase())) })
      }
      default:
        throw new CommandFailed(`unknown did action ${o.action} (show, add-login-key, revoke-login-key, rotate-login-key, add-consent-key, revoke-consent-key, rotate-consent-key, publish-tls-key, revoke-tls-key, rotate-tls-key, publish-encryption-key, revoke-encryption-key)`)
    }
  } finally {
    await chain.close()
  }
}
