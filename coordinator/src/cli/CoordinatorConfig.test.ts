/**
 * `jointly coordinator --config`: one Schema over the file and the environment (the environment winning), paths
 * relative to the file, and the rules a config as a whole must keep (no plain HTTP on another interface).
 */
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redacted } from "effect"
import { computeAddress } from "ethers"
import { describe, expect, it } from "vitest"
import * as AccountKeystore from "../keys/AccountKeystore.ts"
import * as EncryptionKey from "../keys/EncryptionKey.ts"
import * as CoordinatorConfig from "./CoordinatorConfig.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const file = "/srv/jointly/coordinator.json"
const zero = "0x" + "00".repeat(20)
const deployment = { chainId: "31337", registry: zero, ledger: zero, deployBlock: "1", supervisor: zero, registryTx: "0x" + "00".repeat(32), ledgerTx: "0x" + "00".repeat(32) }
const base = { store: "db", chain: { rpcUrl: "http://10.0.0.2:8545", deployment: "deployment.json" }, keystore: "coordinator-key.json" }

describe("CoordinatorConfig", () => {
  it("reads the file, resolves its paths against it, and applies defaults", () => {
    const c = CoordinatorConfig.decode(file, { ...base, tls: { cert: "tls/cert.pem", key: "tls/key.pem" }, host: "0.0.0.0" }, {})
    expect(c).toMatchObject({
      host: "0.0.0.0",
      port: 8443,
      store: "/srv/jointly/db",
      keystore: "/srv/jointly/coordinator-key.json",
      chain: { rpcUrl: "http://10.0.0.2:8545", deployment: "/srv/jointly/deployment.json" },
      tls: { cert: "/srv/jointly/tls/cert.pem", key: "/srv/jointly/tls/key.pem" },
      trustProxy: []
    })
  })

  it("takes every field from JOINTLY_COORDINATOR_* too, over the file: PostgreSQL, TLS, the port, proxies", () => {
    const c = CoordinatorConfig.decode(file, { ...base, host: "0.0.0.0", tls: { cert: "a.pem", key: "a.key" } }, {
      JOINTLY_COORDINATOR_PORT: "9443",
      JOINTLY_COORDINATOR_STORE: "postgres://jointly@db.internal:5432/jointly",
      JOINTLY_COORDINATOR_TLS_KEY: "/run/secrets/tls.key",
      JOINTLY_COORDINATOR_TRUST_PROXY: "10.0.0.7, 10.1.0.0/16",
      JOINTLY_COORDINATOR_CHAIN_RPC_URL: "https://rpc.consortium.example"
    })
    expect(c).toMatchObject({
      port: 9443,
      store: "postgres://jointly@db.internal:5432/jointly",
      tls: { cert: "/srv/jointly/a.pem", key: "/run/secrets/tls.key" },
      trustProxy: ["10.0.0.7", "10.1.0.0/16"],
      chain: { rpcUrl: "https://rpc.consortium.example" }
    })
    expect(CoordinatorConfig.decode(undefined, {}, {
      JOINTLY_COORDINATOR_STORE: "postgres://x@y/z",
      JOINTLY_COORDINATOR_CHAIN_RPC_URL: "http://127.0.0.1:8545",
      JOINTLY_COORDINATOR_CHAIN_DEPLOYMENT: "/etc/jointly/deployment.json",
      JOINTLY_COORDINATOR_KEYSTORE: "/etc/jointly/key.json",
      // Read by the CLI, never part of the config.
      JOINTLY_COORDINATOR_KEY_PASSPHRASE: "correct horse"
    })).toMatchObject({ host: "127.0.0.1", keystore: "/etc/jointly/key.json" })
  })

  it("refuses plain HTTP on a non-loopback address unless a proxy terminates TLS or it is allowed", () => {
    expect(() => CoordinatorConfig.decode(file, { ...base, host: "0.0.0.0" }, {})).toThrow(/host 0\.0\.0\.0 is not loopback, and without tls/)
    expect(CoordinatorConfig.decode(file, { ...base, host: "0.0.0.0", trustProxy: ["10.0.0.7"] }, {}).trustProxy).toEqual(["10.0.0.7"])
    expect(CoordinatorConfig.decode(file, { ...base, host: "0.0.0.0", allowInsecure: true }, {}).allowInsecure).toBe(true)
    expect(() => CoordinatorConfig.decode(file, { ...base, publicUrl: "http://coordinator.example" }, {})).toThrow("publicUrl http://coordinator.example must be https")
  })

  it("names a bad field, a bad proxy entry and a store that is neither a directory nor PostgreSQL", () => {
    expect(() => CoordinatorConfig.decode(file, { ...base, port: "eighty" }, {})).toThrow(/port/)
    expect(() => CoordinatorConfig.decode(file, { ...base, chain: undefined }, {})).toThrow(CoordinatorConfig.CoordinatorConfigError)
    expect(() => CoordinatorConfig.decode(file, { ...base, trustProxy: ["proxy.internal"] }, {})).toThrow("trustProxy: proxy.internal")
    expect(() => CoordinatorConfig.decode(file, { ...base, store: "mysql://db/x" }, {})).toThrow("store mysql://db/x")
  })

  it("takes the notary's longest retry wait from the file or the environment, and refuses one out of range", () => {
    expect(CoordinatorConfig.decode(file, { ...base, chain: { ...base.chain, retryMaxMs: 2_000 } }, {}).chain.retryMaxMs).toBe(2_000)
    expect(CoordinatorConfig.decode(file, base, { JOINTLY_COORDINATOR_CHAIN_RETRY_MAX_MS: "3000" }).chain.retryMaxMs).toBe(3_000)
    expect(CoordinatorConfig.decode(file, base, {}).chain.retryMaxMs).toBeUndefined()
    expect(() => CoordinatorConfig.decode(file, { ...base, chain: { ...base.chain, retryMaxMs: 10 } }, {})).toThrow(/retryMaxMs/)
  })

  it("takes the cluster's lease period and instance id from the file or the environment, and refuses a lease too short to renew", () => {
    expect(CoordinatorConfig.decode(file, { ...base, cluster: { leaseMs: 5_000 } }, { JOINTLY_COORDINATOR_CLUSTER_INSTANCE: "coord-b" }).cluster).toEqual({ leaseMs: 5_000, instance: "coord-b" })
    expect(() => CoordinatorConfig.decode(file, { ...base, cluster: { leaseMs: 10 } }, {})).toThrow(/leaseMs/)
    expect(() => CoordinatorConfig.decode(file, { ...base, cluster: { instance: "a b" } }, {})).toThrow(/instance/)
    // An optional section the file sets wrongly is refused, not read as absent (socketLimits alike).
    expect(() => CoordinatorConfig.decode(file, { ...base, socketLimits: { handshakeTimeoutMs: "soon" } }, {})).toThrow(/socketLimits/)
  })

  it("reads the ipfs section: a node's listen addresses, peers and directory (relative to the file), or off; a bad one is refused", () => {
    const c = CoordinatorConfig.decode(file, { ...base, ipfs: { listen: ["/ip4/0.0.0.0/tcp/4011"], peers: ["/ip4/10.0.0.5/tcp/4011/p2p/12D3KooWabc"], directory: "ipfs", timeoutMs: 5_000 } }, {})
    expect(c.ipfs).toEqual({ listen: ["/ip4/0.0.0.0/tcp/4011"], peers: ["/ip4/10.0.0.5/tcp/4011/p2p/12D3KooWabc"], directory: "/srv/jointly/ipfs", timeoutMs: 5_000 })
    expect(CoordinatorConfig.decode(file, { ...base, ipfs: "off" }, {}).ipfs).toBe("off")
    expect(CoordinatorConfig.decode(file, base, {}).ipfs).toBeUndefined()
    expect(() => CoordinatorConfig.decode(file, { ...base, ipfs: { peers: ["10.0.0.5:4011"] } }, {})).toThrow(/ipfs/)
    expect(() => CoordinatorConfig.decode(file, { ...base, ipfs: "on" }, {})).toThrow(/ipfs/)
  })

  it("reads the coordinator's encryption keystore (relative to the file, or from the environment) and opens it with the account's passphrase", async () => {
    expect(CoordinatorConfig.decode(file, { ...base, encryptionKeystore: "encryption-key.json" }, {}).encryptionKeystore).toBe("/srv/jointly/encryption-key.json")
    expect(CoordinatorConfig.decode(file, base, { JOINTLY_COORDINATOR_ENCRYPTION_KEYSTORE: "/keys/enc.json" }).encryptionKeystore).toBe("/keys/enc.json")
    expect(CoordinatorConfig.decode(file, base, {}).encryptionKeystore).toBeUndefined()
    const dir = await mkdtemp(join(tmpdir(), "jointly-coordinator-config-"))
    try {
      const passphrase = "correct horse battery staple"
      await AccountKeystore.create(join(dir, "key.json"), passphrase, { scryptN: 1 << 10 })
      const encryption = await AccountKeystore.create(join(dir, "enc.json"), passphrase, { scryptN: 1 << 10 })
      await writeFile(join(dir, "deployment.json"), JSON.stringify(deployment))
      const c = CoordinatorConfig.decode(join(dir, "coordinator.json"), { store: "db", chain: { rpcUrl: "http://127.0.0.1:8545", deployment: "deployment.json" }, keystore: "key.json", encryptionKeystore: "enc.json" }, {})
      const { encryptionSecretKey } = await CoordinatorConfig.materials(c, passphrase)
      // The secret key is the keystore's: its public key's address is the one the keystore was made for.
      expect(computeAddress(EncryptionKey.publicKeyOf(Redacted.value(encryptionSecretKey!)))).toBe(encryption.address)
      expect((await CoordinatorConfig.materials({ ...c, encryptionKeystore: undefined }, passphrase)).encryptionSecretKey).toBeUndefined()
    } finally {
      await removeDir(dir)
    }
  })
})
