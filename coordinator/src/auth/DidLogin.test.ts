/**
 * did:ethr identity over the real chain (anvil) and the real coordinator socket: an org publishes a login key and
 * an encryption key in the ERC-1056 registry deployed with the other contracts, `ethr-did-resolver` reads them
 * back, the coordinator admits a participant whose Login that key signs, and after a rotation on chain the old key
 * is refused at the next handshake while the new one is admitted.
 */
import { randomUUID } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Signature, Wallet, encodeBytes32String, solidityPackedKeccak256, toBeHex } from "ethers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import * as Chain from "@jointly/core/internal/ledger/Chain"
import * as DidRegistry from "@jointly/core/internal/ledger/generated/DidRegistry"
import * as Agent from "@jointly/participant/internal/Agent"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"
import { fundAccounts } from "../chain/Anvil.ts"
import * as Consortium from "../local/Consortium.ts"

const freshWallet = () => new Wallet(Wallet.createRandom().privateKey)
const year = 365n * 86_400n
/** The order n of secp256k1 (SEC 2 §2.4.1): a low-s signature (r, s) has the high-s twin (r, n − s). */
const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

let dir: string
let cluster: LocalCluster.LocalCluster
let chain: Chain.ChainClient
let registry: string
const org = freshWallet()

const agentWith = (loginKey: Wallet) =>
  Agent.start({ coordinatorUrl: cluster.coordinatorUrl, wallet: org, loginKey, datasets: [], compute: "inline", policy: () => ({ decision: "reject", reason: "identity test" }) })
/** How the handshake ends for a participant of `org` whose Login `loginKey` signs. */
const handshake = async (loginKey: Wallet) => {
  const agent = await agentWith(loginKey)
  try {
    return await agent.connected.then(() => "admitted" as const, (error: unknown) => error)
  } finally {
    await agent.close()
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jointly-did-"))
  cluster = await LocalCluster.start({ dataDir: join(dir, "cluster"), parties: [] })
  registry = cluster.deployment.suite!.didRegistry!
  chain = await Chain.make({ rpcUrl: cluster.rpcUrl, confirmations: 1 })
  await Consortium.admit(cluster.deployment, cluster.keys.supervisor, cluster.supervisorLedger, {
    name: `DID Bank ${randomUUID()}`,
    wallet: org,
    encryptionPublicKey: org.signingKey.compressedPublicKey
  }, true)
}, 120_000)

afterAll(async () => {
  await chain?.close()
  await cluster?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe("did:ethr identity on the consortium chain", () => {
  it("is deployed with the other contracts, and a fresh account's DID document names only the account", async () => {
    expect(registry).toMatch(/^0x[0-9a-fA-F]{40}$/)
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const keys = await resolver.resolve(org.address)
    expect(keys.did).toBe(`did:ethr:0x7a69:${org.address}`)
    expect([...keys.loginSigners]).toEqual([org.address])
    expect(keys.encryptionKeys).toEqual([])
  })

  it("publishes, resolves and rotates login and encryption keys; only the DID's controller may change them", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const first = freshWallet()
    const encryption = [freshWallet(), freshWallet()].map((w) => w.signingKey.compressedPublicKey)

    await controller.addLoginKey(first.address, year)
    await controller.addEncryptionKey(encryption[0]!, year)
    let keys = await resolver.resolve(org.address)
    expect(keys.loginSigners).toEqual(new Set([org.address, first.address]))
    expect(keys.encryptionKeys).toEqual([encryption[0]!.toLowerCase()])

    await controller.addEncryptionKey(encryption[1]!, year)
    await controller.revokeEncryptionKey(encryption[0]!)
    keys = await resolver.resolve(org.address)
    expect(keys.encryptionKeys).toEqual([encryption[1]!.toLowerCase()])
    // The on-chain delegate check agrees with the resolver.
    const view = DidRegistry.connect(registry, chain.provider)
    expect(await view.validDelegate(org.address, encodeBytes32String("sigAuth"), first.address)).toBe(true)

    // Another account cannot add a key to this DID.
    const intruder = freshWallet()
    await fundAccounts(cluster.rpcUrl, [intruder.address])
    const forged = DidIdentity.makeController(chain, chain.signer(intruder.privateKey), registry, org.address)
    await expect(forged.addLoginKey(intruder.address, year)).rejects.toMatchObject({ _tag: "ChainError" })
    keys = await resolver.resolve(org.address)
    expect(keys.loginSigners.has(intruder.address)).toBe(false)
    await controller.revokeLoginKey(first.address)
  })

  it("takes a change signed off chain by the DID's controller from any relayer, once (ERC-1056 signed variants)", async () => {
    const resolver = DidIdentity.makeResolver({ chainId: chain.chainId, registry, provider: chain.provider })
    const view = DidRegistry.connect(registry, chain.provider)
    const delegate = freshWallet()
    const sigAuth = encodeBytes32String("sigAuth")
    const nonce = await view.nonce(org.address)
    const digest = solidityPackedKeccak256(
      ["bytes1", "bytes1", "address", "uint256", "address", "string", "bytes32", "address", "uint256"],
      ["0x19", "0x00", registry, nonce, org.address, "addDelegate", sigAuth, delegate.address, year]
    )
    const sig = Signature.from(org.signingKey.sign(digest))
    const relayer = freshWallet()
    await fundAccounts(cluster.rpcUrl, [relayer.address])
    // Its malleable twin (s → n − s, v flipped) recovers the same signer with ecrecover alone; OpenZeppelin's ECDSA
    // refuses it, so it does not spend the nonce and the genuine signature still counts.
    const malleated = [org.address, sig.v === 27 ? 28 : 27, sig.r, toBeHex(secp256k1Order - BigInt(sig.s), 32), sigAuth, delegate.address, year]
    await expect(
      chain.send(chain.signer(relayer.privateKey), { to: registry, data: DidRegistry.contractInterface.encodeFunctionData("addDelegateSigned", malleated) }, "test.malleated")
    ).rejects.toMatchObject({ _tag: "ChainError" })
    const data = DidRegistry.contractInterface.encodeFunctionData("addDelegateSigned", [org.address, sig.v, sig.r, sig.s, sigAuth, delegate.address, year])
    await chain.send(chain.signer(relayer.privateKey), { to: registry, data }, "test.addDelegateSigned")
    expect((await resolver.resolve(org.address)).loginSigners.has(delegate.address)).toBe(true)
    // The nonce moved: the same signature replayed is refused, and a signature by anyone else never counts.
    await expect(chain.send(chain.signer(relayer.privateKey), { to: registry, data }, "test.replay")).rejects.toMatchObject({ _tag: "ChainError" })
    const forged = Signature.from(relayer.signingKey.sign(digest))
    const forgedData = DidRegistry.contractInterface.encodeFunctionData("addDelegateSigned", [org.address, forged.v, forged.r, forged.s, sigAuth, relayer.address, year])
    await expect(chain.send(chain.signer(relayer.privateKey), { to: registry, data: forgedData }, "test.forged")).rejects.toMatchObject({ _tag: "ChainError" })
    await DidIdentity.makeController(chain, chain.signer(org.privateKey), registry).revokeLoginKey(delegate.address)
    expect((await resolver.resolve(org.address)).loginSigners.has(delegate.address)).toBe(false)
  })

  it("admits a Login signed by a published login key, and refuses it at the next handshake once rotated away", async () => {
    const controller = DidIdentity.makeController(chain, chain.signer(org.privateKey), registry)
    const before = freshWallet()
    const after = freshWallet()
    const never = freshWallet()

    expect(await handshake(never)).toMatchObject({ _tag: "AdmissionRefused", code: "KeyNotAuthorized" })

    await controller.addLoginKey(before.address, year)
    expect(await handshake(before)).toBe("admitted")

    await controller.rotateLoginKey(before.address, after.address, year)
    const refused = await handshake(before)
    expect(refused).toBeInstanceOf(Agent.AdmissionRefused)
    expect(refused).toMatchObject({ code: "KeyNotAuthorized", detail: expect.stringContaining(before.address) })
    expect(await handshake(after)).toBe("admitted")
    // The account key itself still signs for the org.
    expect(await handshake(org)).toBe("admitted")
  }, 60_000)
})
