import { Effect, Redacted } from "effect"
import { encryptKeystoreJson, getBytes, SigningKey, verifyMessage, Wallet } from "ethers"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inspect } from "node:util"
import { afterAll, describe, expect, it } from "vitest"
import * as Keystore from "./Keystore.ts"
import { removeDir } from "@jointly/core/internal/testing/TempDir"

const root = mkdtempSync(join(tmpdir(), "jointly-keystore-"))
afterAll(() => removeDir(root))

describe("Keystore", () => {
  it("creates an encrypted identity on first start and loads the same one afterwards", async () => {
    const dataDir = join(root, "a")
    const first = await Keystore.openPromise({ dataDir, passphrase: "correct horse" })
    expect(first.created).toBe(true)
    expect(first.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(first.encryptionPublicKey).toMatch(/^0x0[23][0-9a-f]{64}$/)

    const secretHex = Redacted.value(first.account).privateKey
    const encryptionSecret = Redacted.value(first.encryptionSecretKey)
    const file = readFileSync(join(dataDir, Keystore.FILE_NAME), "utf8")
    // Encrypted at rest: neither secret appears in the file.
    expect(file).not.toContain(secretHex.slice(2))
    expect(file).not.toContain(Buffer.from(encryptionSecret).toString("hex"))
    // Nor in what a careless log line would print.
    expect(inspect(first, { depth: 5 })).not.toContain(secretHex.slice(2))
    expect(JSON.stringify(first)).not.toContain(secretHex.slice(2))

    const second = await Effect.runPromise(Keystore.open({ dataDir, passphrase: Redacted.make("correct horse") }))
    expect(second.created).toBe(false)
    expect(second.address).toBe(first.address)
    expect(second.encryptionPublicKey).toBe(first.encryptionPublicKey)
    expect(Redacted.value(second.encryptionSecretKey)).toEqual(encryptionSecret)
    // The account signs as its address; the two key pairs are distinct and consistent.
    const signature = await Redacted.value(second.account).signMessage("hello")
    expect(verifyMessage("hello", signature)).toBe(first.address)
    expect(SigningKey.computePublicKey(Redacted.value(second.encryptionSecretKey), true)).toBe(first.encryptionPublicKey)
    expect(getBytes(secretHex)).not.toEqual(encryptionSecret)

    expect(await Effect.runPromise(Keystore.readPublic(dataDir))).toEqual({ address: first.address, encryptionPublicKey: first.encryptionPublicKey })
  })

  it("fails with WrongPassphrase, MissingPassphrase and Corrupt", async () => {
    const dataDir = join(root, "b")
    await Keystore.openPromise({ dataDir, passphrase: "right" })
    const wrong = await Effect.runPromise(Effect.flip(Keystore.open({ dataDir, passphrase: "wrong" })))
    expect(wrong).toBeInstanceOf(Keystore.KeystoreError)
    expect(wrong.reason).toBe("WrongPassphrase")
    expect(wrong.message).not.toContain("wrong")

    // The library never reads the environment: without a passphrase passed in, even with JOINTLY_KEY_PASSPHRASE
    // set (the command line's edge reads that), it refuses.
    const saved = process.env[Keystore.PASSPHRASE_ENV]
    process.env[Keystore.PASSPHRASE_ENV] = "right"
    try {
      const missing = await Effect.runPromise(Effect.flip(Keystore.open({ dataDir })))
      expect(missing.reason).toBe("MissingPassphrase")
    } finally {
      if (saved === undefined) delete process.env[Keystore.PASSPHRASE_ENV]
      else process.env[Keystore.PASSPHRASE_ENV] = saved
    }

    const corruptDir = join(root, "c")
    await Keystore.openPromise({ dataDir: corruptDir, passphrase: "p" })
    const path = join(corruptDir, Keystore.FILE_NAME)
    const stored = JSON.parse(readFileSync(path, "utf8"))
    writeFileSync(path, JSON.stringify({ ...stored, encryptionPublicKey: "0x02" + "11".repeat(32) }))
    expect((await Effect.runPromise(Effect.flip(Keystore.open({ dataDir: corruptDir, passphrase: "p" })))).reason).toBe("Corrupt")
    writeFileSync(path, "{ not json")
    expect((await Effect.runPromise(Effect.flip(Keystore.open({ dataDir: corruptDir, passphrase: "p" })))).reason).toBe("Corrupt")
  })

  it("opens a single key file (a DID consent or login key) and names what is wrong with one it cannot open", async () => {
    const key = Wallet.createRandom()
    const file = join(root, "consent-key.json")
    writeFileSync(file, await encryptKeystoreJson({ address: key.address, privateKey: key.privateKey }, "p", { scrypt: { N: 1 << 10 } }))
    const opened = await Effect.runPromise(Keystore.openKeyFile(file, "p"))
    expect(opened.address).toBe(key.address)
    expect(await opened.signMessage("consent")).toBe(await key.signMessage("consent"))
    const failure = (path: string, passphrase: string | undefined) => Effect.runPromise(Effect.flip(Keystore.openKeyFile(path, passphrase)))
    expect(await failure(file, "wrong")).toMatchObject({ reason: "WrongPassphrase", file })
    expect(await failure(file, undefined)).toMatchObject({ reason: "MissingPassphrase", file })
    expect(await failure(join(root, "absent.json"), "p")).toMatchObject({ reason: "Io" })
  })
})
