/**
 * A participant process whose config names a consent key and a login key the org published in its did:ethr document
 * (`consentKey`, `loginKey`: encrypted key files beside its config): the anvil chain, the real coordinator, the
 * `jointly participant`, `jointly did` and `jointly verify` processes. Its consents are signed by the consent key
 * and `jointly verify` accepts them as the DID's; once `jointly did revoke-consent-key` ran, the participant refuses
 * to start with that key (DelegateKeyNotInDid naming the key and the DID), and a consent it signs is refused by the
 * coordinator, recording nothing.
 */
import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Wallet } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import { reasonHash } from "@jointly/core/internal/ledger/Ledger"
import type { Params, Result } from "@jointly/core/internal/protocols/joint-statistics/spec"
import type { WireError } from "@jointly/core/internal/wire/Messages"
import * as Agent from "@jointly/participant/internal/Agent"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import * as AccountKeystore from "../keys/AccountKeystore.ts"
import * as F from "../testing/fixtures.ts"

const cli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [LocalCluster.cliPath(), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })

const stop = async (party: LocalCluster.Party) => {
  if (party.process === undefined || party.process.exitCode !== null || party.process.signalCode !== null) return
  const exited = new Promise((resolve) => party.process.once("exit", resolve))
  party.process.kill("SIGTERM")
  await exited
}

let dir: string
let cluster: LocalCluster.LocalCluster
let south: LocalCluster.Party
let passphrase: string
const consentKey = new Wallet(Wallet.createRandom().privateKey)
const loginKey = new Wallet(Wallet.createRandom().privateKey)
const params: Params = { columns: ["glucose"], statistics: ["count", "sum"] }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-delegated-"))
  const pima = await F.pimaParties(dir, ["north", "south"])
  // south's process is started by the test, once its config names the delegated keys.
  cluster = await LocalCluster.start({ dataDir: join(dir, "cluster"), parties: pima.parties.map((p) => (p.name === "south" ? { ...p, external: true } : p)) })
  south = cluster.party("south")
  passphrase = (await readFile(join(south.dataDir, "passphrase"), "utf8")).trim()
  // The two keys in their own encrypted files beside the config, under the participant's passphrase.
  await AccountKeystore.save(join(south.dataDir, "consent-key.json"), consentKey.privateKey, passphrase, { scryptN: 1 << 12 })
  await AccountKeystore.save(join(south.dataDir, "login-key.json"), loginKey.privateKey, passphrase, { scryptN: 1 << 12 })
  const configFile = join(south.dataDir, "participant.json")
  const config = JSON.parse(await readFile(configFile, "utf8"))
  await writeFile(configFile, JSON.stringify({ ...config, consentKey: "consent-key.json", loginKey: "login-key.json" }, null, 2))
}, 120_000)

afterAll(async () => {
  if (south !== undefined) await stop(south)
  await cluster?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe("a participant signing with the consent and login keys its DID names", () => {
  const did = (action: string, key: string) => cli(["did", action, key, "--config", join(south.dataDir, "participant.json")], { JOINTLY_KEY_PASSPHRASE: passphrase })

  it("completes a task whose consent its consent key signed and `jointly verify` accepts; after revoke-consent-key it refuses to start and the coordinator refuses that key's consent", async () => {
    for (const [action, key] of [["add-consent-key", consentKey], ["add-login-key", loginKey]] as const) {
      const published = await did(action, key.address)
      expect(published.code, published.stderr).toBe(0)
    }
    await cluster.launch(south)

    const { id, detail } = await cluster.runTask("statistics.horizontal", { parties: ["north", "south"], dataset: "pima", params })
    expect((detail.result as Result).count).toBe(F.pima().rows.length)
    const consent = detail.consents.find((c) => c.participant === south.address)!
    const domain = await cluster.supervisorLedger.domain()
    // Signed by the consent key, not by the account.
    expect(Eip712.consentSigner(domain, { taskId: id, specHash: id, approve: true, reasonHash: reasonHash(consent.reason) }, consent.signature)).toBe(consentKey.address)

    const verified = await F.eventually(async () => {
      const r = await cli(["verify", id, "--url", cluster.coordinatorUrl, "--rpc-url", cluster.rpcUrl, "--json"], { JOINTLY_KEY: cluster.keys.analyst.privateKey })
      const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> }
      return report.checks.some((c) => c.name === `consent of ${south.address}: signature`) ? { r, report } : undefined
    }, "the consents on chain", 60_000)
    expect(verified.r.code, verified.r.stderr).toBe(0)
    expect(verified.report.ok).toBe(true)
    expect(verified.report.checks.find((c) => c.name === `consent of ${south.address}: signature`)?.detail).toContain(`by ${consentKey.address}, a consent key`)

    // Revoked on chain: the participant no longer starts with it.
    await stop(south)
    const revoked = await did("revoke-consent-key", consentKey.address)
    expect(revoked.code, revoked.stderr).toBe(0)
    const before = south.stderr.length
    await expect(cluster.launch(south)).rejects.toThrow(/exited with code 1 before it was ready/)
    const refusal = south.stderr.slice(before).map((line) => { try { return JSON.parse(line) } catch { return undefined } }).find((e) => e?.type === "refused")
    const chainId = (await cluster.supervisorLedger.domain()).chainId
    expect(refusal).toMatchObject({ code: "DelegateKeyNotInDid", role: "consent", key: consentKey.address, did: DidIdentity.didOf(chainId, south.address), reason: "ExpiredOrRevoked" })

    // And a participant that signs with it all the same (the check skipped) has its consent refused, nothing recorded.
    const account = await cluster.walletOf("south")
    const agent = await Agent.start({ coordinatorUrl: cluster.coordinatorUrl, wallet: account, consentKey, loginKey, datasets: [], compute: "inline", policy: () => ({ decision: "reject", reason: "revoked key test" }) })
    try {
      const errors: Array<WireError> = []
      agent.on((event) => void (event.type === "wire-error" && errors.push(event.error)))
      await agent.connected
      const task = await cluster.submit({ kind: "statistics.horizontal", parties: [south, cluster.party("north")].map((p) => ({ participant: p.address, dataset: "pima" })) as never, params })
      const refused = await F.eventually(() => errors.find((e) => e.ref === "task.consent"), "the consent refused", 30_000)
      expect(refused).toMatchObject({ code: "KeyNotAuthorized", message: expect.stringContaining(`ExpiredOrRevoked: ${consentKey.address} is not a consent key of`) })
      expect((await cluster.task(task)).consents.some((c) => c.participant === south.address)).toBe(false)
      await cluster.client.cancel(task)
    } finally {
      await agent.close()
    }
  }, 180_000)
})
