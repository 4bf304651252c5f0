import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pinRetryOf } from "@jointly/core/internal/artifacts/IpfsConfig"
import * as TestCa from "@jointly/core/internal/testing/TestCa"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as ParticipantConfig from "./ParticipantConfig.ts"

let dir: string
const write = async (name: string, ipfs: unknown) => {
  const file = join(dir, name)
  await writeFile(file, JSON.stringify({ coordinatorUrl: "http://127.0.0.1:1", dataDir: "data", datasets: [], policy: "policy.json", ipfs }))
  return file
}

describe("participant.json's ipfs section", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-participant-config-"))
  })
  afterAll(async () => {
    if (dir) await removeDir(dir)
  })

  it("decodes the pin retry settings the agent's Pinner uses, and refuses ones out of bounds naming the field", async () => {
    const config = await ParticipantConfig.load(await write("ok.json", { directory: "ipfs", pinRetry: { initialMs: 250, maxDelayMs: 5_000, attempts: 3 } }), {})
    expect(pinRetryOf(config.ipfs)).toEqual({ initialMs: 250, maxDelayMs: 5_000, attempts: 3 })
    expect(pinRetryOf((await ParticipantConfig.load(await write("none.json", {}), {})).ipfs)).toBeUndefined()
    expect(pinRetryOf((await ParticipantConfig.load(await write("off.json", "off"), {})).ipfs)).toBeUndefined()
    await expect(ParticipantConfig.load(await write("zero.json", { pinRetry: { attempts: 0 } }), {})).rejects.toThrow(/attempts/)
    await expect(ParticipantConfig.load(await write("half.json", { pinRetry: { initialMs: 1.5 } }), {})).rejects.toThrow(/initialMs/)
  })
})

describe("participant.json's clientCertificate", () => {
  let certs: string
  beforeAll(async () => {
    certs = await mkdtemp(join(tmpdir(), "jointly-participant-client-cert-"))
  })
  afterAll(async () => {
    if (certs) await removeDir(certs)
  })

  it("reads the certificate and key (relative to the file) into the trust the agent presents, and refuses a file that holds no key", async () => {
    const issued = TestCa.make(certs).issue("client", ["north"], "clientAuth")
    const configOf = async (name: string, clientCertificate: unknown) => {
      const file = join(certs, name)
      await writeFile(file, JSON.stringify({ coordinatorUrl: "https://127.0.0.1:1", dataDir: "data", datasets: [], policy: "policy.json", clientCertificate }))
      return { file, config: await ParticipantConfig.load(file, {}) }
    }
    const ok = await configOf("ok.json", { cert: "client.pem", key: "client.key" })
    expect(await ParticipantConfig.trustOf(ok.file, ok.config)).toEqual({ clientCertificate: { cert: issued.cert, key: issued.key } })
    const swapped = await configOf("swapped.json", { cert: "client.pem", key: "client.pem" })
    await expect(ParticipantConfig.trustOf(swapped.file, swapped.config)).rejects.toThrow(/clientCertificate\.key: .*holds no PEM private key/)
  })
})

describe("participant.json's consentKey and loginKey", () => {
  let keys: string
  beforeAll(async () => {
    keys = await mkdtemp(join(tmpdir(), "jointly-participant-delegate-keys-"))
  })
  afterAll(async () => {
    if (keys) await removeDir(keys)
  })

  const chain = { rpcUrl: "http://127.0.0.1:1", registry: "0x1", timelock: "0x2", catalog: "0x3", grants: "0x4", modelRequests: "0x5", settlement: "0x6", governance: "0x7", certificates: "0x8" }
  const configOf = async (name: string, fields: object) => {
    const file = join(keys, name)
    await writeFile(file, JSON.stringify({ coordinatorUrl: "http://127.0.0.1:1", dataDir: "data", datasets: [], policy: "policy.json", ...fields }))
    return file
  }

  it("resolves the key files against the config's folder, and refuses them without a DID registry to check them against at start", async () => {
    const config = await ParticipantConfig.load(await configOf("ok.json", { chain: { ...chain, didRegistry: "0x9" }, consentKey: "keys/consent.json", loginKey: "login.json" }), {})
    expect(config).toMatchObject({ consentKey: join(keys, "keys", "consent.json"), loginKey: join(keys, "login.json") })
    for (const role of ["consentKey", "loginKey"]) {
      await expect(ParticipantConfig.load(await configOf(`${role}-no-registry.json`, { chain, [role]: "key.json" }), {})).rejects.toThrow(`${role} needs chain.didRegistry`)
      await expect(ParticipantConfig.load(await configOf(`${role}-no-chain.json`, { [role]: "key.json" }), {})).rejects.toThrow(`${role} needs chain.didRegistry`)
    }
  })
})

describe("participant.json's PostgreSQL connectionEnv", () => {
  let configs: string
  beforeAll(async () => {
    configs = await mkdtemp(join(tmpdir(), "jointly-participant-connection-env-"))
  })
  afterAll(async () => {
    await removeDir(configs)
  })

  it("reads the connection string from the environment it is given, never the process's, and names a variable that one lacks", async () => {
    const file = join(configs, "pg.json")
    const dataset = { name: "accounts", columns: [{ name: "balance", type: "number" }], postgres: { connectionEnv: "JOINTLY_TEST_ACCOUNTS_DB", table: "accounts" } }
    await writeFile(file, JSON.stringify({ coordinatorUrl: "http://127.0.0.1:1", dataDir: "data", datasets: [dataset], policy: "policy.json" }))
    const url = "postgres://reader@db.example/accounts"
    const config = await ParticipantConfig.load(file, { JOINTLY_TEST_ACCOUNTS_DB: url })
    expect(config.datasets).toEqual([{ name: "accounts", columns: dataset.columns, postgres: { connection: url, table: "accounts" } }])
    // This process has no such variable; an environment without it is refused, naming the dataset and the variable.
    await expect(ParticipantConfig.load(file, {})).rejects.toThrow("dataset accounts: the environment variable JOINTLY_TEST_ACCOUNTS_DB (its connection string) is not set")
  })
})
