/**
 * Test helper: the EVM nodes the chain suites run against, behind one fixture — anvil (`@foundry-rs/anvil`, the
 * embedded chain) and Hardhat 2's `hardhat node` (EDR), an independent node that installs from npm and runs on
 * Node 20 (Hardhat 3 needs a newer Node; ganache fails past Shanghai). Both are started on 127.0.0.1 with a port
 * they pick. Test-node RPC (`evm_snapshot`, `evm_revert`, `evm_mine`, `evm_setAutomine`, dropping a pooled
 * transaction) is spoken here and in the embedded launcher only, never by the product's chain client.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { jsonRpc } from "@jointly/core/internal/ledger/Chain"
import { ChainError } from "@jointly/core/internal/ledger/ChainError"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import { startAnvil } from "../chain/Anvil.ts"

export const nodeNames = ["anvil", "hardhat"] as const

/** The custom error a call expected to revert reverted with (or its ChainError's reason); "no error" when it did not. */
export const revertOf = async (p: Promise<unknown>): Promise<string | undefined> => {
  const e = await p.then(() => undefined, (x: unknown) => x)
  if (e === undefined) return "no error"
  if (e instanceof ChainError) return e.revertName ?? e.reason._tag
  throw e
}
export type NodeName = (typeof nodeNames)[number]

export interface EvmNode {
  readonly name: NodeName
  readonly rpcUrl: string
  readonly chainId: bigint
  /** Gives each account `wei` by a plain transfer from the node's unlocked, prefunded dev account. */
  readonly fund: (accounts: ReadonlyArray<string>, wei?: bigint) => Promise<void>
  readonly rpc: <T>(method: string, params?: ReadonlyArray<unknown>) => Promise<T>
  /** `evm_snapshot`: the id to revert to. */
  readonly snapshot: () => Promise<string>
  /** `evm_revert`: drops every block mined after the snapshot (with its transactions). */
  readonly revert: (id: string) => Promise<void>
  readonly mine: (blocks?: number) => Promise<void>
  /** Moves the node's clock `seconds` ahead and mines a block stamped with it (deadlines, timelocks). */
  readonly later: (seconds: bigint | number) => Promise<void>
  /** Off: transactions wait in the pool until `mine`. */
  readonly setAutomine: (on: boolean) => Promise<void>
  /** Forgets a pooled transaction, as a node restarted without its pool would. */
  readonly dropTransaction: (txHash: string) => Promise<void>
  /** Hashes of `from`'s transactions waiting in the pool. */
  readonly pooled: (from: string) => Promise<ReadonlyArray<string>>
  readonly stop: () => Promise<void>
}

const withRpc = (name: NodeName, rpcUrl: string, chainId: bigint, stop: () => Promise<void>): EvmNode => {
  const rpc = <T>(method: string, params: ReadonlyArray<unknown> = []) => jsonRpc<T>(rpcUrl, method, params, 20_000)
  let funder: Promise<string> | undefined
  return {
    name,
    rpcUrl,
    chainId,
    rpc,
    fund: async (accounts, wei = 10n ** 21n) => {
      funder ??= rpc<Array<string>>("eth_accounts").then((all) => all[0]!)
      const from = await funder
      // One at a time: the dev account's nonces stay in order on either node.
      for (const to of accounts) {
        const hash = await rpc<string>("eth_sendTransaction", [{ from, to, value: `0x${wei.toString(16)}` }])
        for (let i = 0; (await rpc<unknown>("eth_getTransactionReceipt", [hash])) === null; i++) {
          if (i > 200) throw new Error(`${name}: funding ${to} not mined`)
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    },
    snapshot: () => rpc<string>("evm_snapshot"),
    revert: async (id) => {
      if (!(await rpc<boolean>("evm_revert", [id]))) throw new Error(`${name}: evm_revert(${id}) refused`)
    },
    mine: async (blocks = 1) => {
      for (let i = 0; i < blocks; i++) await rpc("evm_mine")
    },
    later: async (seconds) => {
      await rpc("evm_increaseTime", [Number(seconds)])
      await rpc("evm_mine")
    },
    setAutomine: async (on) => {
      await rpc("evm_setAutomine", [on])
    },
    pooled: async (from) => {
      if (name === "hardhat") {
        const txs = await rpc<Array<{ hash: string; from: string }>>("eth_pendingTransactions")
        return txs.filter((t) => t.from.toLowerCase() === from.toLowerCase()).map((t) => t.hash)
      }
      const pool = await rpc<{ pending: Record<string, Record<string, { hash: string }>> }>("txpool_content")
      const mine = Object.entries(pool.pending).find(([address]) => address.toLowerCase() === from.toLowerCase())?.[1] ?? {}
      return Object.values(mine).map((t) => t.hash)
    },
    dropTransaction: async (txHash) => {
      await rpc(name === "anvil" ? "anvil_dropTransaction" : "hardhat_dropTransaction", [txHash])
    },
    stop
  }
}

const startHardhat = async (): Promise<EvmNode> => {
  const require = createRequire(import.meta.url)
  const packageDir = dirname(require.resolve("hardhat/package.json"))
  // Hardhat refuses to run from a directory that does not resolve it: run it from the node_modules' parent,
  // with a throw-away config (no sources: `hardhat node` compiles nothing).
  const cwd = dirname(dirname(packageDir))
  const configDir = await mkdtemp(join(tmpdir(), "jointly-hardhat-"))
  const config = join(configDir, "hardhat.config.cjs")
  await writeFile(config, "module.exports = { networks: { hardhat: { chainId: 31337 } } }\n")
  const child: ChildProcess = spawn(
    process.execPath,
    [join(packageDir, "internal", "cli", "bootstrap.js"), "--config", config, "node", "--hostname", "127.0.0.1", "--port", "0"],
    { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: "true" } }
  )
  const tail: Array<string> = []
  const rpcUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hardhat node did not start:\n${tail.join("\n")}`)), 60_000)
    const onOutput = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue
        tail.push(line)
        if (tail.length > 30) tail.shift()
        const m = /JSON-RPC server at (http:\/\/[^\s/]+)\/?/.exec(line)
        if (m !== null) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      }
    }
    // Drained for the node's whole life: a full pipe would block it.
    child.stdout!.on("data", onOutput)
    child.stderr!.on("data", onOutput)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`hardhat node exited (code ${code}):\n${tail.join("\n")}`))
    })
  })
  const onParentExit = () => child.kill("SIGKILL")
  process.once("exit", onParentExit)
  const stop = async () => {
    process.off("exit", onParentExit)
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
      await exited
      clearTimeout(timer)
    }
    await removeDir(configDir)
  }
  const chainId = BigInt(await jsonRpc<string>(rpcUrl, "eth_chainId", []))
  return withRpc("hardhat", rpcUrl, chainId, stop)
}

/** Starts the named node, empty, on a free loopback port. */
export const startNode = async (name: NodeName): Promise<EvmNode> => {
  if (name === "hardhat") return startHardhat()
  const anvil = await startAnvil()
  return withRpc("anvil", anvil.rpcUrl, BigInt(anvil.chainId), anvil.stop)
}
