/**
 * The chain client against real EVM nodes, once per node (anvil and Hardhat's EDR node): nonces under
 * concurrency, across a restart with transactions still in the pool and after another writer on the same key; a
 * transaction the node forgot, broadcast again;
 * the fee ceiling; finality by confirmations and a block that leaves the chain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect } from "effect"
import { Wallet } from "ethers"
import { nodeNames, startNode, type EvmNode } from "@jointly/coordinator/internal/testing/EvmNode"
import * as Chain from "./Chain.ts"
import { ChainError } from "./ChainError.ts"

const failureOf = async (p: Promise<unknown>): Promise<ChainError> => {
  const e = await p.then(() => undefined, (e: unknown) => e)
  expect(e, "expected a ChainError").toBeInstanceOf(ChainError)
  return e as ChainError
}

describe.each(nodeNames)("chain client on %s", (nodeName) => {
  let node: EvmNode
  const opened: Array<Chain.ChainClient> = []
  const connect = async (config: Partial<Chain.ChainConfig> = {}) => {
    const chain = await Chain.make({ rpcUrl: node.rpcUrl, ...config })
    opened.push(chain)
    return chain
  }
  const funded = async () => {
    const key = Wallet.createRandom().privateKey
    await node.fund([new Wallet(key).address])
    return key
  }
  const nonceOf = async (txHash: string) => BigInt((await node.rpc<{ nonce: string }>("eth_getTransactionByHash", [txHash])).nonce)
  const count = async (address: string, tag = "latest") => BigInt(await node.rpc<string>("eth_getTransactionCount", [address, tag]))

  beforeAll(async () => {
    node = await startNode(nodeName)
  })
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()))
    await node?.stop()
  })

  it("lands 50 concurrent sends from one key with consecutive nonces", async () => {
    const chain = await connect()
    const signer = chain.signer(await funded())
    const start = await count(signer.address)
    const recipients = Array.from({ length: 50 }, () => Wallet.createRandom().address)
    const receipts = await Effect.runPromise(
      Effect.all(recipients.map((to, i) => chain.service.transfer(signer, to, BigInt(i + 1))), { concurrency: "unbounded" })
    )
    expect(receipts.every((r) => r.status === 1)).toBe(true)
    const nonces = (await Promise.all(receipts.map((r) => nonceOf(r.hash)))).sort((a, b) => Number(a - b))
    expect(nonces).toEqual(recipients.map((_, i) => start + BigInt(i)))
    const balances = await Promise.all(recipients.map((a) => chain.balance(a)))
    expect(balances).toEqual(recipients.map((_, i) => BigInt(i + 1)))
  })

  it("resumes after a restart with the key's transactions still in the pool", async () => {
    const key = await funded()
    const address = new Wallet(key).address
    const start = await count(address)
    const first = await connect()
    await node.setAutomine(false)
    try {
      // Three transfers wait in the pool, unmined, when the first client goes away.
      const inFlight = [1n, 2n, 3n].map((wei) => first.transfer(first.signer(key), Wallet.createRandom().address, wei).catch(() => undefined))
      for (let i = 0; (await count(address, "pending")) < start + 3n; i++) {
        if (i > 200) throw new Error("the transfers never reached the pool")
        await new Promise((r) => setTimeout(r, 20))
      }
      await first.close()
      void Promise.all(inFlight)

      const second = await connect()
      const resumed = second.transfer(second.signer(key), Wallet.createRandom().address, 4n)
      for (let i = 0; (await count(address, "pending")) < start + 4n; i++) {
        if (i > 200) throw new Error("the restarted client's transfer never reached the pool")
        await new Promise((r) => setTimeout(r, 20))
      }
      await node.mine()
      const receipt = await resumed
      expect(receipt.status).toBe(1)
      expect(await nonceOf(receipt.hash)).toBe(start + 3n)
      expect(await count(address)).toBe(start + 4n)
    } finally {
      await node.setAutomine(true)
    }
  })

  it("broadcasts again a transaction the node forgot", async () => {
    const chain = await connect()
    const signer = chain.signer(await funded())
    const start = await count(signer.address)
    const to = Wallet.createRandom().address
    await node.setAutomine(false)
    try {
      const transfer = chain.transfer(signer, to, 7n)
      const pooled = async () => (await count(signer.address, "pending")) > start
      for (let i = 0; !(await pooled()); i++) {
        if (i > 200) throw new Error("the transfer never reached the pool")
        await new Promise((r) => setTimeout(r, 20))
      }
      const [hash] = await node.pooled(signer.address)
      await node.dropTransaction(hash!)
      expect(await pooled()).toBe(false)
      // The client notices within its check interval and puts the same bytes back in the pool.
      for (let i = 0; !(await pooled()); i++) {
        if (i > 400) throw new Error("the forgotten transfer was not broadcast again")
        await new Promise((r) => setTimeout(r, 25))
      }
      await node.mine()
      const receipt = await transfer
      expect(receipt.hash).toBe(hash)
      expect(await chain.balance(to)).toBe(7n)
    } finally {
      await node.setAutomine(true)
    }
  })

  it("recovers when another writer on the same key took its next nonce", async () => {
    const key = await funded()
    const [one, other] = [await connect(), await connect()]
    const a = one.signer(key)
    const b = other.signer(key)
    await one.transfer(a, Wallet.createRandom().address, 1n) // `one` now counts locally from here
    await other.transfer(b, Wallet.createRandom().address, 1n)
    await other.transfer(b, Wallet.createRandom().address, 1n)
    // `one`'s local count is two behind: the node refuses it, the client resynchronizes and sends again.
    const receipt = await one.transfer(a, Wallet.createRandom().address, 1n)
    expect(receipt.status).toBe(1)
    expect(await count(a.address)).toBe((await nonceOf(receipt.hash)) + 1n)
  })

  it("refuses to pay more than its fee ceiling, with a typed error and nothing sent", async () => {
    const key = await funded()
    const chain = await connect({ maxFeePerGasWei: 1n })
    const signer = chain.signer(key)
    const error = await failureOf(chain.transfer(signer, Wallet.createRandom().address, 1n))
    expect(error.reason._tag).toBe("FeeCeilingExceeded")
    expect(error.reason).toMatchObject({ ceilingWei: "1" })
    expect(error.transient).toBe(true)
    expect(error.shortMessage).toContain("ceiling")
    expect(await count(signer.address, "pending")).toBe(0n)
  })

  it("names an account that cannot pay for gas", async () => {
    const chain = await connect()
    const broke = chain.signer(Wallet.createRandom().privateKey)
    const error = await failureOf(chain.transfer(broke, Wallet.createRandom().address, 1n))
    expect(error.reason).toEqual({ _tag: "InsufficientFunds", account: broke.address })
  })

  it("calls a record final only after its confirmations, and Missing once its block is dropped", async () => {
    const chain = await connect({ confirmations: 3 })
    const signer = chain.signer(await funded())
    const snapshot = await node.snapshot()
    const receipt = await chain.transfer(signer, Wallet.createRandom().address, 1n)
    expect(await chain.inclusion(receipt.hash)).toMatchObject({ _tag: "Included", confirmations: 1, final: false, blockHash: receipt.blockHash })
    const firstNonce = await nonceOf(receipt.hash)
    await node.mine(2)
    expect(await chain.inclusion(receipt.hash)).toMatchObject({ _tag: "Included", confirmations: 3, final: true })
    await node.revert(snapshot)
    expect(await chain.inclusion(receipt.hash)).toEqual({ _tag: "Missing" })
    // The reverted nonce is free again: after a resync the next send takes it.
    await chain.resync(signer.address)
    const again = await chain.transfer(signer, Wallet.createRandom().address, 1n)
    expect(await nonceOf(again.hash)).toBe(firstNonce)
  })

  it("fails to connect with Unreachable when nothing answers", async () => {
    const error = await failureOf(Chain.make({ rpcUrl: "http://127.0.0.1:9", connectTimeoutMs: 2_000 }))
    expect(error.reason._tag).toBe("Unreachable")
  })
})
