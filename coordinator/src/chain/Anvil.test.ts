/**
 * The embedded chain: a real anvil from the npm package, its state surviving a restart in the same data dir,
 * the deployment reused, and the Effect-scoped form stopping the process.
 */
import { existsSync } from "node:fs"
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { keccak256, SigningKey, toUtf8Bytes, Wallet } from "ethers"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import { ChainError, newEventId, type LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { anvil, fundAccounts, resolveAnvilBinary, startAnvil, statePathOf, type Anvil } from "./Anvil.ts"
import { deploymentPathOf, ensureDeployment } from "./Deployment.ts"

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

let dataDir: string
let node: Anvil | undefined
const supervisorKey = Wallet.createRandom().privateKey
const companyKey = Wallet.createRandom().privateKey
const chainId = 4242

const connect = (n: Anvil, privateKey: string, addresses?: { registry: string; ledger: string; deployBlock?: bigint }) =>
  makeEthersLedger({ rpcUrl: n.rpcUrl, privateKey, ...(addresses === undefined ? {} : { addresses }) })

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "jointly-anvil-"))
})

afterAll(async () => {
  await node?.stop()
  await removeDir(dataDir)
})

describe("anvil launcher", () => {
  it("finds the binary through the npm package", () => {
    const binary = resolveAnvilBinary()
    expect(binary).toMatch(/@foundry-rs[/\\]anvil-[a-z0-9]+-[a-z0-9]+[/\\]bin[/\\]anvil(\.exe)?$/)
    expect(existsSync(binary)).toBe(true)
  })

  it("a start whose process was blocked past its timeout takes the \"Listening on\" line waiting in the pipe", async () => {
    // No data dir: the process is spawned and the timeout armed before startAnvil returns.
    const starting = startAnvil({ chainId, startTimeoutMs: 1_000 })
    // This process busy past the timeout (as a test's synchronous initdb beside the start was): anvil listens meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5_000)
    const started = await starting
    try {
      expect(BigInt(await jsonRpc<string>(started.rpcUrl, "eth_chainId", []))).toBe(BigInt(chainId))
    } finally {
      await started.stop()
    }
  })

  it("keeps the chain, its logs and the deployment across a restart with the same data dir", async () => {
    node = await startAnvil({ dataDir, chainId })
    expect(node.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    await fundAccounts(node.rpcUrl, [new Wallet(supervisorKey).address, new Wallet(companyKey).address])

    const first = await ensureDeployment({ dataDir, rpcUrl: node.rpcUrl, privateKey: supervisorKey })
    expect(first.reused).toBe(false)
    expect(first.deployment.chainId).toBe(BigInt(chainId))
    expect(JSON.parse(await readFile(deploymentPathOf(dataDir), "utf8")).ledger).toBe(first.deployment.ledger)

    const supervisor = await connect(node, supervisorKey, first.deployment)
    const company = await connect(node, companyKey, first.deployment)
    const { companyId } = await company.register({
      name: "Persisted AG",
      registrationNumber: "P-1",
      encPubKey: SigningKey.computePublicKey(Wallet.createRandom().signingKey.publicKey, true),
      dossierHash: keccak256(toUtf8Bytes("dossier"))
    })
    await supervisor.setState(companyId, "Audited")
    await supervisor.setCoordinator(supervisor.account)
    const taskId = keccak256(toUtf8Bytes("persisted task"))
    const createEvent = newEventId()
    await supervisor.createTask({
      eventId: createEvent,
      taskId,
      specHash: keccak256(toUtf8Bytes("spec")),
      kind: "statistics.horizontal",
      initiator: company.account,
      participants: [company.account]
    })
    await Promise.all([supervisor.close(), company.close()])
    const oldPid = node.pid
    await node.stop()
    expect(isRunning(oldPid)).toBe(false)
    expect(existsSync(statePathOf(dataDir))).toBe(true)

    node = await startAnvil({ dataDir, chainId })
    const second = await ensureDeployment({ dataDir, rpcUrl: node.rpcUrl, privateKey: supervisorKey })
    expect(second.reused).toBe(true)
    expect(second.deployment).toEqual(first.deployment)

    const reader = await connect(node, Wallet.createRandom().privateKey, second.deployment)
    try {
      expect(await reader.companyOf(company.account)).toMatchObject({ companyId, state: "Audited", active: true })
      expect(await reader.isRecorded(createEvent)).toBe(true)
      const history = await reader.taskHistory(taskId)
      expect(history.map((h) => h._tag)).toEqual(["TaskCreated"])
      expect(history[0]?.eventId).toBe(createEvent)
    } finally {
      await reader.close()
    }
  })

  it("falls back to the last good state when the state file is torn", async () => {
    await node?.stop()
    const statePath = statePathOf(dataDir)
    const good = await readFile(statePath, "utf8")
    await writeFile(statePath, good.slice(0, good.length / 2))
    node = await startAnvil({ dataDir, chainId })
    const { reused } = await ensureDeployment({ dataDir, rpcUrl: node.rpcUrl, privateKey: supervisorKey })
    expect(reused).toBe(true)
  })

  it("redeploys when the saved deployment is not on the chain it talks to", async () => {
    const fresh = await startAnvil({ chainId })
    const otherDir = await mkdtemp(join(tmpdir(), "jointly-anvil-"))
    try {
      await fundAccounts(fresh.rpcUrl, [new Wallet(supervisorKey).address])
      await mkdir(join(otherDir, "chain"))
      await copyFile(deploymentPathOf(dataDir), deploymentPathOf(otherDir))
      const redeployed = await ensureDeployment({ dataDir: otherDir, rpcUrl: fresh.rpcUrl, privateKey: supervisorKey })
      expect(redeployed.reused).toBe(false)
      expect((await ensureDeployment({ dataDir: otherDir, rpcUrl: fresh.rpcUrl, privateKey: supervisorKey })).reused).toBe(true)
    } finally {
      await fresh.stop()
      await removeDir(otherDir)
    }
  })

  it("stops the node when the Effect scope closes, and the ledger then reports Unreachable", async () => {
    const { pid, rpcUrl } = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const n = yield* anvil({ chainId: 31337 })
        const answered = yield* Effect.promise(() => jsonRpc<string>(n.rpcUrl, "eth_chainId", []))
        expect(BigInt(answered)).toBe(31337n)
        return { pid: n.pid, rpcUrl: n.rpcUrl }
      }))
    )
    expect(isRunning(pid)).toBe(false)
    const failure = await makeEthersLedger({ rpcUrl, privateKey: supervisorKey, connectTimeoutMs: 2_000 }).then(
      (c: LedgerClient) => c.close().then(() => undefined),
      (e: unknown) => e
    )
    expect(failure).toBeInstanceOf(ChainError)
    expect((failure as ChainError).reason._tag).toBe("Unreachable")
  })
})
