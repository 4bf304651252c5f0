/**
 * `jointly coordinator --config` as an operator runs it, with real parts: its account in an encrypted keystore,
 * its store a real PostgreSQL server named only in the environment, HTTPS with a certificate from a CA the test
 * makes, over an anvil deployment. A member trusting that CA reaches it; after the certificate files are
 * replaced and the process gets SIGHUP, new connections see the new certificate, with no restart. Without the
 * key's passphrase, or told to serve plain HTTP on another interface, it refuses to start, saying why.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { copyFile, mkdtemp, readFile, stat, writeFile } from "node:fs/promises"
import { Effect, Exit, Scope } from "effect"
import * as HeliaBlocks from "@jointly/backends/internal/ipfs/HeliaBlocks"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { connect } from "node:tls"
import { Wallet } from "ethers"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Endpoint from "@jointly/core/internal/net/Endpoint"
import * as TestCa from "@jointly/core/internal/testing/TestCa"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { type Anvil, startAnvil } from "../chain/Anvil.ts"
import { deploymentPathOf } from "../chain/Deployment.ts"
import * as AccountKeystore from "../keys/AccountKeystore.ts"
import * as Consortium from "../local/Consortium.ts"
import { cliPath, terminate } from "@jointly/cli/internal/local/LocalCluster"
import * as Postgres from "../testing/Postgres.ts"

const postgresMissing = Postgres.binaries() === undefined
if (postgresMissing) console.warn("CoordinatorService.test.ts skipped: PostgreSQL binaries not found (apt-get install postgresql)")

let dir: string
let anvil: Anvil
let database: Awaited<ReturnType<typeof Postgres.start>>
let ca: TestCa.TestCa
let configFile: string
const passphrase = "a long passphrase only the operator's secret store knows"
const children: Array<ChildProcess> = []

/** Runs `jointly coordinator --config`; resolves with its ready line, or with its exit code and stderr. */
const coordinator = (env: NodeJS.ProcessEnv, config = configFile) =>
  new Promise<{ child: ChildProcess; ready?: Record<string, unknown>; code?: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cliPath(), "coordinator", "--config", config], { env: { ...process.env, JOINTLY_LOG: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] })
    children.push(child)
    let stderr = ""
    child.stderr!.on("data", (d) => (stderr += d))
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        resolve({ child, ready: JSON.parse(line), stderr })
      } catch {
        /* not the ready line */
      }
    })
    child.once("exit", (code) => resolve({ child, code, stderr }))
  })

/** The subject of the certificate a fresh TLS connection is served. */
const servedSubject = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(String(socket.getPeerCertificate().issuer.CN))
      socket.end()
    })
    socket.once("error", reject)
  })

describe.skipIf(postgresMissing)("the coordinator as a service", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "jointly-service-"))
    ;[anvil, database] = await Promise.all([startAnvil({}), Postgres.start()])
    const supervisor = new Wallet(Wallet.createRandom().privateKey)
    const keystore = join(dir, "coordinator-key.json")
    const { address } = await AccountKeystore.save(keystore, Wallet.createRandom().privateKey, passphrase)
    const chain = await Consortium.connect(anvil.rpcUrl, { embedded: true })
    const { supervisorLedger } = await Consortium.deploy(dir, chain, supervisor, { address }, true)
    await supervisorLedger.close()
    await chain.close()
    ca = TestCa.make(dir, "Operator CA")
    ca.issue("coordinator", ["127.0.0.1", "localhost"])
    configFile = join(dir, "coordinator.json")
    await writeFile(configFile, JSON.stringify({
      host: "127.0.0.1",
      port: 0,
      tls: { cert: "coordinator.pem", key: "coordinator.key" },
      // The store comes from the environment below: a password-bearing URL belongs there, not in a file.
      store: join(dir, "unused-pglite"),
      chain: { rpcUrl: anvil.rpcUrl, deployment: deploymentPathOf(dir) },
      keystore: "coordinator-key.json",
      // Its embedded IPFS node, blocks on disk beside the config.
      ipfs: { directory: "ipfs" }
    }))
  }, 300_000)

  afterAll(async () => {
    // Waited for: a coordinator still closing its IPFS store would write into the directory removed below.
    await Promise.all(children.map((child) => terminate(child)))
    await database?.stop()
    await anvil?.stop()
    if (dir) await removeDir(dir)
  })

  it("serves HTTPS on PostgreSQL with its key from the keystore, and rotates its certificate on SIGHUP", async () => {
    const started = await coordinator({ JOINTLY_COORDINATOR_KEY_PASSPHRASE: passphrase, JOINTLY_COORDINATOR_STORE: database.url })
    expect(started.ready, started.stderr).toMatchObject({ event: "ready", tls: true, store: "postgres" })
    const url = String(started.ready!.url)
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const member = Endpoint.make(url, { ca: ca.cert })
    const health = (await (await member.fetch(`${url}/api/health`)).json()) as { chain: { coordinator: string } }
    expect(health.chain.coordinator).toBe(started.ready!.account)
    await member.close()
    // The coordinator's tables are in PostgreSQL.
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    const tables = await client.query("select table_name from information_schema.tables where table_schema = 'public'")
    await client.end()
    expect(tables.rows.map((r) => r.table_name)).toContain("tasks")
    // The config's IPFS node listens on loopback, keeps its store in the directory named, and takes a peer's dial.
    const ipfs = started.ready!.ipfs as { peerId: string; addresses: Array<string> }
    expect(ipfs.addresses.length).toBeGreaterThan(0)
    for (const address of ipfs.addresses) expect(address).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${ipfs.peerId}$`))
    expect((await stat(join(dir, "ipfs", "blocks"))).isDirectory()).toBe(true)
    const scope = await Effect.runPromise(Scope.make())
    try {
      const peer = await Effect.runPromise(Scope.provide(HeliaBlocks.make({ peers: [ipfs.addresses[0]!] }), scope))
      expect(peer.node.peerId).not.toBe(ipfs.peerId)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }

    // Rotation: a certificate from a new CA replaces the files; SIGHUP; new connections get it, no restart.
    const port = Number(new URL(url).port)
    expect(await servedSubject(port)).toBe("Operator CA")
    const next = TestCa.make(await mkdtemp(join(dir, "next-")), "Next operator CA")
    const renewed = next.issue("coordinator", ["127.0.0.1"])
    await copyFile(renewed.certFile, join(dir, "coordinator.pem"))
    await copyFile(renewed.keyFile, join(dir, "coordinator.key"))
    started.child.kill("SIGHUP")
    await expect.poll(() => servedSubject(port), { timeout: 10_000 }).toBe("Next operator CA")
    const renewedMember = Endpoint.make(url, { ca: next.cert })
    expect((await renewedMember.fetch(`${url}/api/health`)).status).toBe(200)
    await renewedMember.close()
    const staleMember = Endpoint.make(url, { ca: ca.cert })
    await expect(staleMember.fetch(`${url}/api/health`)).rejects.toBeInstanceOf(Endpoint.UntrustedCertificate)
    await staleMember.close()
    expect(started.child.exitCode).toBeNull()
  }, 120_000)

  it("refuses to start without the key's passphrase, or in plain HTTP on another interface", async () => {
    const missing = await coordinator({ JOINTLY_COORDINATOR_KEY_PASSPHRASE: "", JOINTLY_COORDINATOR_STORE: database.url })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain("MissingPassphrase: set the passphrase in JOINTLY_COORDINATOR_KEY_PASSPHRASE")
    const wrong = await coordinator({ JOINTLY_COORDINATOR_KEY_PASSPHRASE: "guess", JOINTLY_COORDINATOR_STORE: database.url })
    expect(wrong.stderr).toContain("WrongPassphrase")
    const { tls: _tls, ...withoutTls } = JSON.parse(await readFile(configFile, "utf8"))
    const exposedFile = join(dir, "exposed.json")
    await writeFile(exposedFile, JSON.stringify({ ...withoutTls, host: "0.0.0.0" }))
    const exposed = await coordinator({ JOINTLY_COORDINATOR_KEY_PASSPHRASE: passphrase }, exposedFile)
    expect(exposed.code).toBe(1)
    expect(exposed.stderr).toContain("host 0.0.0.0 is not loopback, and without tls (a certificate and key) every message would cross the network in clear")
  }, 120_000)
})
