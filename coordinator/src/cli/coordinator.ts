/**
 * `jointly coordinator --config <file>`: the coordinator as its own process over an existing deployment, as an
 * operator runs it (CoordinatorConfig.ts: TLS or a trusted proxy, PostgreSQL or PGlite, the account from an
 * encrypted keystore). Prints one JSON line `{"event":"ready",…}` on stdout; SIGHUP re-reads the certificate
 * and key (rotation without a restart); SIGTERM/SIGINT stop it.
 */
import { Effect, Exit, Redacted, Scope } from "effect"
import { checkpointOptionsOf, nodeOptions } from "@jointly/core/internal/artifacts/IpfsConfig"
import * as Coordinator from "../Coordinator.ts"
import * as EncryptionKey from "../keys/EncryptionKey.ts"
import * as Consortium from "../local/Consortium.ts"
import * as Log from "../Log.ts"
import * as SocketLimits from "../transport/SocketLimits.ts"
import * as CoordinatorConfig from "./CoordinatorConfig.ts"

const socketLimitsOf = (c: CoordinatorConfig.Resolved): SocketLimits.SocketLimits => {
  const d = SocketLimits.defaults
  const s = c.socketLimits ?? {}
  return {
    ...d,
    handshakeTimeoutMs: s.handshakeTimeoutMs ?? d.handshakeTimeoutMs,
    connectionsPerAddress: s.connectionsPerMinute === undefined ? d.connectionsPerAddress : { limit: s.connectionsPerMinute, windowMs: 60_000 },
    eventsPerAccount: s.eventsPer10sPerAccount === undefined ? d.eventsPerAccount : { limit: s.eventsPer10sPerAccount, windowMs: 10_000 },
    eventsPerAddress: s.eventsPer10sPerAddress === undefined ? d.eventsPerAddress : { limit: s.eventsPer10sPerAddress, windowMs: 10_000 }
  }
}

export const run = async (options: { readonly config?: string; readonly env: Record<string, string | undefined> }) => {
  const config = await CoordinatorConfig.load(options.config, options.env)
  const { tls, deployment, wallet, encryptionSecretKey } = await CoordinatorConfig.materials(config, options.env[CoordinatorConfig.PASSPHRASE_ENV])
  // One chain client for the task ledger and the governance views of the coordinator's key.
  const chain = await Consortium.connect(config.chain.rpcUrl, {
    embedded: false,
    ...(config.chain.confirmations === undefined ? {} : { confirmations: config.chain.confirmations }),
    ...(config.chain.maxFeeGwei === undefined ? {} : { maxFeePerGasWei: CoordinatorConfig.gweiToWei(config.chain.maxFeeGwei) })
  })
  const ledger = await Consortium.ledgerFor(chain, wallet, deployment)
  const governance = await Consortium.governanceFor(chain, wallet, deployment)
  // Its encryption key, published in its DID where readers' keys are looked up, before any task is sealed to it.
  const encryptionPublicKey = encryptionSecretKey === undefined ? undefined : await EncryptionKey.publishFor(chain, wallet.privateKey, governance?.addresses.didRegistry, Redacted.value(encryptionSecretKey))
  const logLevel = Log.levelOf(options.env.JOINTLY_LOG)
  // The embedded IPFS node the config asks for (stopped with the process): results and models go there sealed.
  const ipfsScope = Effect.runSync(Scope.make())
  const ipfsOptions = nodeOptions(config.ipfs, (path) => path)
  const ipfs = ipfsOptions === undefined
    ? undefined
    : await Effect.runPromise(Scope.provide((await import("@jointly/backends/internal/ipfs/HeliaBlocks")).make(ipfsOptions), ipfsScope))
  const checkpoints = checkpointOptionsOf(config.ipfs)
  const coordinator = await Coordinator.start({
    ...(ipfs === undefined ? {} : { artifactBlocks: ipfs.blocks }),
    ...(checkpoints.keep === undefined ? {} : { checkpointsKept: checkpoints.keep }),
    ...(checkpoints.gcMinIntervalMs === undefined ? {} : { checkpointGcIntervalMs: checkpoints.gcMinIntervalMs }),
    ...(encryptionPublicKey === undefined ? {} : { encryptionPublicKey }),
    logLevel,
    store: config.store,
    ledger,
    governance,
    host: config.host,
    port: config.port,
    ...(tls === undefined ? {} : { tls }),
    ...(config.tls?.clientCertificates === "did" ? { clientCertificates: true } : {}),
    ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
    trustProxy: config.trustProxy,
    socketLimits: socketLimitsOf(config),
    ...(config.ackTimeout === undefined ? {} : { ackTimeout: config.ackTimeout }),
    ...(config.cluster === undefined ? {} : { cluster: config.cluster }),
    ...(config.chain.retryMaxMs === undefined ? {} : { chainRetryMaxMs: config.chain.retryMaxMs })
  })
  process.stdout.write(JSON.stringify({
    event: "ready",
    url: coordinator.url,
    port: coordinator.port,
    instance: coordinator.instance,
    account: wallet.address,
    tls: tls !== undefined,
    store: /^postgres/.test(config.store) ? "postgres" : "pglite",
    ...(ipfs === undefined ? {} : { ipfs: { peerId: ipfs.node.peerId, addresses: ipfs.node.addresses } })
  }) + "\n")
  const log = Log.make("coordinator", logLevel)
  process.on("SIGHUP", () => {
    CoordinatorConfig.readTls(config).then(
      (fresh) => {
        if (fresh === undefined) return log.warn("SIGHUP: no tls configured, nothing to reload")
        coordinator.reloadTls(fresh)
        log.warn("SIGHUP: certificate and key reloaded", { cert: config.tls?.cert })
      },
      (error) => log.error("SIGHUP: the new certificate could not be read; the old one stays", { error: String(error) })
    )
  })
  const stop = async () => {
    await coordinator.close()
    await Effect.runPromise(Scope.close(ipfsScope, Exit.void))
    await governance?.close()
    await ledger.close()
    await chain.close()
    process.exit(0)
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
}
