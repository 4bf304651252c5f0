/**
 * An operator's chain account (the coordinator's, the supervisor's, an analyst's) at rest: one ethers JSON
 * keystore (scrypt + AES-128-CTR, the Web3 Secret Storage format geth, foundry and every wallet read), its
 * passphrase never in a file — the caller passes it from the environment. Written owner-only and atomically.
 * Participants keep theirs in participant/src/keystore (an account and an ECIES key in one file).
 */
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { Schema } from "effect"
import { encryptKeystoreJson, Wallet } from "ethers"

export class AccountKeystoreError extends Schema.TaggedError<AccountKeystoreError>()("AccountKeystoreError", {
  reason: Schema.Literals(["MissingPassphrase", "WrongPassphrase", "Corrupt", "Exists", "Io"]),
  file: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `keystore ${this.file}: ${this.reason}: ${this.detail}`
  }
}

/** ethers' default scrypt cost (2^17): an operator key is opened once per process start. */
export const DEFAULT_SCRYPT_N = 1 << 17

const checkPassphrase = (file: string, passphrase: string | undefined, source: string): string => {
  if (passphrase === undefined || passphrase === "") {
    throw new AccountKeystoreError({ reason: "MissingPassphrase", file, detail: `set the passphrase in ${source}` })
  }
  return passphrase
}

/** Creates a keystore with a fresh random account; refuses to overwrite an existing file. */
export const create = (file: string, passphrase: string | undefined, options: { readonly source?: string; readonly scryptN?: number } = {}) =>
  save(file, Wallet.createRandom().privateKey, passphrase, options)

/** Writes `privateKey` into a new keystore at `file`; refuses to overwrite an existing one. */
export const save = async (file: string, privateKey: string, passphrase: string | undefined, options: { readonly source?: string; readonly scryptN?: number } = {}) => {
  const secret = checkPassphrase(file, passphrase, options.source ?? "the environment")
  const wallet = new Wallet(privateKey)
  const json = await encryptKeystoreJson({ address: wallet.address, privateKey: wallet.privateKey }, secret, { scrypt: { N: options.scryptN ?? DEFAULT_SCRYPT_N } })
  const temporary = `${file}.${process.pid}.tmp`
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await writeFile(temporary, json + "\n", { mode: 0o600, flag: "wx" })
    // A hard link appears whole and fails if the name is taken: never half a keystore, never one replaced.
    await link(temporary, file)
  } catch (error) {
    const exists = (error as NodeJS.ErrnoException).code === "EEXIST"
    throw new AccountKeystoreError({ reason: exists ? "Exists" : "Io", file, detail: exists ? "a keystore is already there; move it away first" : (error as Error).message })
  } finally {
    await rm(temporary, { force: true })
  }
  return { address: wallet.address }
}

/** Opens a keystore; the passphrase comes from `source` (named in the error when it is missing). */
export const open = async (file: string, passphrase: string | undefined, source = "the environment"): Promise<Wallet> => {
  const secret = checkPassphrase(file, passphrase, source)
  let json: string
  try {
    json = await readFile(file, "utf8")
  } catch (error) {
    throw new AccountKeystoreError({ reason: "Io", file, detail: (error as Error).message })
  }
  try {
    const account = await Wallet.fromEncryptedJson(json, secret)
    return new Wallet(account.privateKey)
  } catch (error) {
    const message = (error as Error).message ?? String(error)
    throw new AccountKeystoreError({
      reason: /incorrect password/i.test(message) ? "WrongPassphrase" : "Corrupt",
      file,
      detail: /incorrect password/i.test(message) ? "the passphrase does not decrypt this keystore" : message
    })
  }
}
