/**
 * Two embedded Helia nodes on loopback exchange sealed artifacts by bitswap over their own libp2p connection (no
 * bootstrap peer, no discovery): the reader fetches by CID, the bytes are checked against it and open only with a
 * reader's key; a pinned block outlives the node it came from.
 */
import { Effect, Exit, Scope } from "effect"
import { existsSync, mkdtempSync, rmSync, unlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { base36 } from "multiformats/bases/base36"
import { CID } from "multiformats/cid"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ArtifactBlocksShape, cidOf, checkBlock, parseCid } from "@jointly/core/internal/artifacts/Blocks"
import * as Envelope from "@jointly/core/internal/artifacts/Envelope"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import { removeDir } from "@jointly/core/internal/testing/TempDir"
import * as HeliaBlocks from "./HeliaBlocks.ts"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

describe("HeliaBlocks: two embedded nodes on loopback", () => {
  const scopes: Array<Scope.Closeable> = []
  const dirs: Array<string> = []
  const start = async (options: HeliaBlocks.HeliaOptions = {}) => {
    const scope = await run(Scope.make())
    scopes.push(scope)
    return run(Scope.provide(HeliaBlocks.make(options), scope))
  }
  let owner: { blocks: ArtifactBlocksShape; node: HeliaBlocks.HeliaNode }
  let reader: { blocks: ArtifactBlocksShape; node: HeliaBlocks.HeliaNode }
  const readerKey = Ecies.generateKeyPair()

  beforeAll(async () => {
    owner = await start()
    const dir = mkdtempSync(join(tmpdir(), "jointly-helia-"))
    dirs.push(dir)
    reader = await start({ directory: dir, peers: [owner.node.addresses.find((a) => a.startsWith("/ip4/127.0.0.1/"))!] })
  }, 60_000)

  afterAll(async () => {
    for (const scope of scopes.reverse()) await run(Scope.close(scope, Exit.void))
    for (const dir of dirs) await removeDir(dir)
  })

  it("listens on loopback only and dials nobody it was not given", () => {
    expect(owner.node.addresses.length).toBeGreaterThan(0)
    for (const address of owner.node.addresses) expect(address.startsWith("/ip4/127.0.0.1/tcp/")).toBe(true)
  })

  it("a sealed model crosses by CID, is checked against it and opens only for its reader", async () => {
    const model = new TextEncoder().encode(JSON.stringify({ weights: Array.from({ length: 2000 }, (_, i) => Math.sin(i)) }))
    const sealed = Envelope.seal(model, [readerKey.publicKey], "task/0x01/model")
    const cid = await run(owner.blocks.put(sealed))
    expect(cid).toBe((await cidOf(sealed)).toString())
    expect(await run(reader.blocks.has(cid))).toBe(false)

    const fetched = await run(reader.blocks.get(cid, { timeoutMs: 20_000 }))
    expect(Buffer.from(fetched).equals(Buffer.from(sealed))).toBe(true)
    // Nothing in the block is the model in clear.
    expect(Buffer.from(fetched).includes(Buffer.from(model.subarray(0, 64)))).toBe(false)
    expect(Buffer.from(Envelope.open(fetched, readerKey.secretKey, "task/0x01/model")).equals(Buffer.from(model))).toBe(true)
    expect(() => Envelope.open(fetched, Ecies.generateKeyPair().secretKey)).toThrow(/NotAReader/)
  }, 60_000)

  it("a party pins what it needs: the block stays after the node it came from stops", async () => {
    const certificate = Envelope.seal(new TextEncoder().encode("certificate file"), [readerKey.publicKey], "certificate/0x02")
    const cid = await run(owner.blocks.put(certificate))
    await run(reader.blocks.pin(cid, { timeoutMs: 20_000 }))
    expect(await run(reader.blocks.has(cid))).toBe(true)
    await run(Scope.close(scopes[0]!, Exit.void))
    const local = await run(reader.blocks.get(cid, { timeoutMs: 2_000 }))
    expect(new TextDecoder().decode(Envelope.open(local, readerKey.secretKey))).toBe("certificate file")
  }, 60_000)

  it("an unknown CID is BlockNotFound after the timeout, a non-sha256 or malformed CID InvalidCid", async () => {
    const absent = (await cidOf(new TextEncoder().encode("never stored"))).toString()
    const missing = await run(Effect.flip(reader.blocks.get(absent, { timeoutMs: 1_000 })))
    expect(missing._tag).toBe("BlockNotFound")
    expect((await run(Effect.flip(reader.blocks.get("not-a-cid"))))._tag).toBe("InvalidCid")
    // identity-hash CID (multihash 0x00): refused, verify could not recompute it
    expect((await run(Effect.flip(reader.blocks.get("bafkqaaa"))))._tag).toBe("InvalidCid")
  }, 30_000)

  it("bytes that do not hash to the CID are BlockTampered", async () => {
    const cid = await run(parseCid((await cidOf(new TextEncoder().encode("the real block"))).toString()))
    const outcome = await run(Effect.flip(checkBlock(cid, new TextEncoder().encode("a substituted block"))))
    expect(outcome._tag).toBe("BlockTampered")
  })

  it("an unpin a kill cut short (the pin's record gone, its block still counted) completes at the next unpin after a restart, and the collection then deletes the block", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jointly-helia-crash-"))
    dirs.push(dir)
    const first = await run(Scope.make())
    const before = await run(Scope.provide(HeliaBlocks.make({ directory: dir }), first))
    const cid = await run(before.blocks.put(new TextEncoder().encode("a superseded checkpoint")))
    await run(Scope.close(first, Exit.void))
    // Helia's removal deletes the pin's record, then each block's count: the state a kill between the two leaves.
    unlinkSync(join(dir, "datastore", "pin", `${CID.parse(cid).toString(base36)}.data`))

    const after = await start({ directory: dir })
    expect(await run(after.blocks.pinned(cid))).toBe(true)
    await run(after.blocks.unpin(cid))
    expect(await run(after.blocks.pinned(cid))).toBe(false)
    expect(await run(after.blocks.collectGarbage())).toBeGreaterThanOrEqual(1)
    expect(await run(after.blocks.has(cid))).toBe(false)
  }, 60_000)

  it("once its scope is closed, a node writes nothing more in its directory: a teardown that removes it is not raced", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jointly-helia-closed-"))
    dirs.push(dir)
    const scope = await run(Scope.make())
    await run(Scope.provide(HeliaBlocks.make({ directory: dir }), scope))
    await run(Scope.close(scope, Exit.void))
    rmSync(dir, { recursive: true, force: true })
    // libp2p saves the stopped node's own peer record from a 1 s debounce its closing listener armed: past it, a
    // store still open would have made `datastore/peers/` again.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(existsSync(dir)).toBe(false)
  }, 30_000)
})
