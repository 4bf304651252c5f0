/**
 * A dataset's data keys (PROTOCOLS.md §2.4 steps 1, 3, 4, 5): the owner encrypts what it releases of a dataset
 * under a data key (DEK, AES-256-GCM), delivers the DEK to a grantee by ECIES under the grantee's registered
 * encryption key — the newest key agreement key of its did:ethr document, else the key in the consortium
 * registry — only while the grant is valid on chain (Approved, unexpired, unrevoked, not exhausted), and logs
 * each delivery on chain as a use of the grant whose log entry carries the hash of what was delivered.
 *
 * A delivered key cannot be recalled, so a revocation rotates: the ring gets a new epoch, what is released after
 * it is encrypted under the new DEK, and the revoked grantee's old DEK opens only what it could already read.
 *
 * The ring lives in `<dir>/<datasetId>.json`, each DEK wrapped by ECIES to the owner's own encryption key, so the
 * file alone reveals no key.
 *
 * Sealed data, version 1:  "JYD" ‖ 0x01 ‖ u32 epoch (big-endian) ‖ Ecies.seal(DEK[epoch], data, ad)
 * with ad = datasetId (32 bytes) ‖ u32 epoch; a delivery is Ecies.encrypt(grantee key, DEK, tokenId ‖ datasetId ‖ u32 epoch).
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { Schema } from "effect"
import { concatBytes as concat } from "@noble/hashes/utils.js"
import { getBytes, hexlify, keccak256 } from "ethers"
import * as Ecies from "@jointly/core/internal/crypto/Ecies"
import type { GovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import { AccessDenied } from "./GrantGuard.ts"

const MAGIC = [0x4a, 0x59, 0x44] // "JYD"
const VERSION = 1

export class DataKeyError extends Schema.TaggedError<DataKeyError>()("DataKeyError", {
  reason: Schema.Literals(["NotOwner", "NoEncryptionKey", "UnknownEpoch", "Malformed", "WrongKey"]),
  detail: Schema.String
}) {
  override get message() {
    return `data key ${this.reason}: ${this.detail}`
  }
}

/** What the grantee receives: the DEK of `epoch`, encrypted to its key. */
export interface Delivery {
  readonly tokenId: string
  readonly datasetId: string
  readonly epoch: number
  /** 0x-hex ECIES ciphertext. */
  readonly wrapped: string
  /** The hash logged on chain with the use (keccak256 of `wrapped`). */
  readonly deliveredHash: string
}

interface Ring {
  readonly datasetId: string
  /** epoch → DEK wrapped to the owner's encryption key (0x-hex), epochs from 1. */
  readonly epochs: ReadonlyArray<{ readonly epoch: number; readonly wrapped: string; readonly createdAt: string }>
}

const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}
const dataAd = (datasetId: string, epoch: number) => concat(getBytes(datasetId), u32(epoch))
const deliveryAd = (tokenId: string, datasetId: string, epoch: number) => concat(getBytes(tokenId), getBytes(datasetId), u32(epoch))

/** Encrypts `data` under the DEK of `epoch`. */
export const sealWith = (dek: Uint8Array, datasetId: string, epoch: number, data: Uint8Array): Uint8Array =>
  concat(new Uint8Array([...MAGIC, VERSION]), u32(epoch), Ecies.seal(dek, data, dataAd(datasetId, epoch)))

/** The epoch a sealed release was encrypted under (which DEK opens it). */
export const epochOf = (sealed: Uint8Array): number => {
  if (sealed.length < 8 || sealed[0] !== MAGIC[0] || sealed[1] !== MAGIC[1] || sealed[2] !== MAGIC[2]) {
    throw new DataKeyError({ reason: "Malformed", detail: "not a sealed dataset release" })
  }
  if (sealed[3] !== VERSION) throw new DataKeyError({ reason: "Malformed", detail: `version ${sealed[3]}, expected ${VERSION}` })
  return new DataView(sealed.buffer, sealed.byteOffset + 4, 4).getUint32(0)
}

/** Opens a release with the DEK of its epoch; DataKeyError("WrongKey") for any other key (e.g. one rotated away). */
export const openWith = (dek: Uint8Array, datasetId: string, sealed: Uint8Array): Uint8Array => {
  const epoch = epochOf(sealed)
  try {
    return Ecies.open(dek, sealed.subarray(8), dataAd(datasetId, epoch))
  } catch {
    throw new DataKeyError({ reason: "WrongKey", detail: `this key does not open epoch ${epoch} of ${datasetId}` })
  }
}

/** The grantee's side: the DEK out of a delivery, with its encryption secret key. */
export const receive = (delivery: Delivery, secretKey: Uint8Array): Uint8Array =>
  Ecies.decrypt(secretKey, getBytes(delivery.wrapped), deliveryAd(delivery.tokenId, delivery.datasetId, delivery.epoch))

export interface Options {
  /** The owner's view of the chain (its account owns the datasets). */
  readonly chain: Pick<GovernanceLedger, "account" | "getGrant" | "checkGrant" | "consumeGrant" | "revokeGrant">
  /** The owner's own encryption key pair (secp256k1): wraps the ring at rest. */
  readonly ownerKey: Ecies.KeyPair
  /** Where rings are kept. */
  readonly dir: string
  /** A grantee's current encryption key (compressed, 0x-hex): its DID's newest keyAgreement key, else the registry's. */
  readonly encryptionKeyOf: (account: string) => Promise<string | undefined>
}

export const make = (o: Options) => {
  const path = (datasetId: string) => join(o.dir, `${datasetId.toLowerCase()}.json`)
  const load = async (datasetId: string): Promise<Ring> => {
    try {
      return JSON.parse(await readFile(path(datasetId), "utf8")) as Ring
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { datasetId: datasetId.toLowerCase(), epochs: [] }
      throw error
    }
  }
  const save = async (ring: Ring) => {
    await mkdir(o.dir, { recursive: true })
    // Write-then-rename: a crash leaves the old ring or the new one.
    await writeFile(`${path(ring.datasetId)}.tmp`, JSON.stringify(ring, null, 2) + "\n", { mode: 0o600 })
    await rename(`${path(ring.datasetId)}.tmp`, path(ring.datasetId))
  }
  const addEpoch = async (ring: Ring): Promise<{ epoch: number; dek: Uint8Array }> => {
    const dek = new Uint8Array(randomBytes(Ecies.KEY_BYTES))
    const epoch = (ring.epochs.at(-1)?.epoch ?? 0) + 1
    const wrapped = hexlify(Ecies.encrypt(o.ownerKey.publicKey, dek, dataAd(ring.datasetId, epoch)))
    await save({ ...ring, epochs: [...ring.epochs, { epoch, wrapped, createdAt: new Date().toISOString() }] })
    return { epoch, dek }
  }
  const unwrap = (ring: Ring, epoch: number) => {
    const entry = ring.epochs.find((e) => e.epoch === epoch)
    if (entry === undefined) throw new DataKeyError({ reason: "UnknownEpoch", detail: `${ring.datasetId} has no epoch ${epoch}` })
    return Ecies.decrypt(o.ownerKey.secretKey, getBytes(entry.wrapped), dataAd(ring.datasetId, epoch))
  }
  /** The current epoch and its DEK (epoch 1 is created on first use). */
  const current = async (datasetId: string) => {
    const ring = await load(datasetId)
    const last = ring.epochs.at(-1)
    return last === undefined ? addEpoch(ring) : { epoch: last.epoch, dek: unwrap(ring, last.epoch) }
  }

  return {
    current,
    /** Encrypts a release of the dataset under its current DEK. */
    seal: async (datasetId: string, data: Uint8Array) => {
      const { epoch, dek } = await current(datasetId)
      return sealWith(dek, datasetId, epoch, data)
    },
    /** The owner reads its own releases of any epoch. */
    open: async (datasetId: string, sealed: Uint8Array) => openWith(unwrap(await load(datasetId), epochOf(sealed)), datasetId, sealed),
    /** A new epoch: what is sealed from now on needs the new DEK. */
    rotate: async (datasetId: string) => (await addEpoch(await load(datasetId))).epoch,
    /**
     * Delivers the current DEK of the grant's dataset to its grantee, only while the grant is valid on chain, and
     * logs the delivery as a use. @throws AccessDenied (the chain's reason), DataKeyError NotOwner/NoEncryptionKey.
     */
    deliver: async (tokenId: string): Promise<Delivery> => {
      const grant = await o.chain.getGrant(tokenId)
      if (grant === undefined) throw new AccessDenied({ reason: "NoGrant", dataset: "?", detail: `no grant ${tokenId}` })
      if (grant.owner.toLowerCase() !== o.chain.account.toLowerCase()) {
        throw new DataKeyError({ reason: "NotOwner", detail: `grant ${tokenId} is for a dataset of ${grant.owner}, not of ${o.chain.account}` })
      }
      const validity = await o.chain.checkGrant(tokenId)
      if (validity !== "Valid") throw new AccessDenied({ reason: validity, dataset: grant.datasetId, detail: `grant ${tokenId} is ${validity} on chain: no data key is delivered` })
      const key = await o.encryptionKeyOf(grant.requester)
      if (key === undefined) throw new DataKeyError({ reason: "NoEncryptionKey", detail: `${grant.requester} publishes no encryption key` })
      const { epoch, dek } = await current(grant.datasetId)
      const wrapped = hexlify(Ecies.encrypt(getBytes(key), dek, deliveryAd(tokenId, grant.datasetId, epoch)))
      const deliveredHash = keccak256(wrapped)
      // The access log (§2.4 step 5): one use of the grant, naming what was delivered.
      await o.chain.consumeGrant(tokenId, deliveredHash)
      return { tokenId, datasetId: grant.datasetId, epoch, wrapped, deliveredHash }
    },
    /** Revokes the grant on chain and rotates its dataset's DEK (§2.4 step 4): the grantee reads nothing sealed after. */
    revoke: async (tokenId: string, reason?: string) => {
      const grant = await o.chain.getGrant(tokenId)
      if (grant === undefined) throw new AccessDenied({ reason: "NoGrant", dataset: "?", detail: `no grant ${tokenId}` })
      await o.chain.revokeGrant(tokenId, reason)
      return (await addEpoch(await load(grant.datasetId))).epoch
    }
  }
}
export type DataKeys = ReturnType<typeof make>
