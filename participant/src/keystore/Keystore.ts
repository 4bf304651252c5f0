/**
 * The participant's identity, kept in its data directory and encrypted at rest (DESIGN.md §4, §7):
 * - a secp256k1 chain account (the org's address; signs handshakes, consents and protocol values);
 * - a separate secp256k1 encryption key pair for ECIES, whose compressed public key is published in the
 *   consortium registry so peers can send it end-to-end encrypted payloads.
 *
 * Both secrets are stored as ethers JSON keystores (scrypt + AES-128-CTR + keccak MAC, the wallet format every
 * Ethereum tool reads) in one file, `identity.json`, written atomically so a crash cannot leave half an
 * identity. The scrypt cost is lowered from ethers' 2^17 to 2^14 so a participant starts in well under a second;
 * the passphrase, not the KDF cost, is what must be strong.
 *
 * Secrets leave this module only inside the `Identity` returned to the caller that opened the keystore, and
 * are wrapped in `Redacted` so logging an Identity prints no key material.
 */
import { Effect, Redacted, Schema } from "effect"
import { computeAddress, decryptKeystoreJson, encryptKeystoreJson, getBytes, hexlify, randomBytes, SigningKey, Wallet } from "ethers"
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"

export const PASSPHRASE_ENV = "JOINTLY_KEY_PASSPHRASE"
export const FILE_NAME = "identity.json"
const DEFAULT_SCRYPT_N = 1 << 14

export class KeystoreError extends Schema.TaggedError<KeystoreError>()("KeystoreError", {
  reason: Schema.Literals(["MissingPassphrase", "WrongPassphrase", "Corrupt", "Io"]),
  file: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `keystore ${this.file}: ${this.reason}: ${this.detail}`
  }
}

export interface KeystoreOptions {
  /** The participant's data directory; the keystore lives in `<dataDir>/identity.json`. */
  readonly dataDir: string
  /**
   * Required to open or create the keystore. A command-line entry point reads it from JOINTLY_KEY_PASSPHRASE
   * (`PASSPHRASE_ENV`) and passes it in; the library never reads the environment.
   */
  readonly passphrase?: string | Redacted.Redacted<string>
  /** scrypt cost N for newly created keystores (a power of two); default 2^14. */
  readonly scryptN?: number
}

export interface Identity {
  /** Checksummed chain address: the participant's id. */
  readonly address: string
  /** Chain account; signs with its private key. */
  readonly account: Redacted.Redacted<Wallet>
  /** 33-byte compressed secp256k1 public key for ECIES, 0x-hex: publish it. */
  readonly encryptionPublicKey: string
  /** 32-byte secp256k1 secret key for ECIES. */
  readonly encryptionSecretKey: Redacted.Redacted<Uint8Array>
  /** True when this call created the keystore. */
  readonly created: boolean
}

const KeystoreFile = Schema.Struct({
  version: Schema.Literal(1),
  address: Schema.String,
  encryptionPublicKey: Schema.String,
  account: Schema.Unknown,
  encryption: Schema.Unknown
})

const passphraseOf = (given: KeystoreOptions["passphrase"], file: string): Effect.Effect<string, KeystoreError> => {
  const value = given === undefined ? undefined : Redacted.isRedacted(given) ? Redacted.value(given) : given
  return value === undefined || value === ""
    ? Effect.fail(new KeystoreError({ reason: "MissingPassphrase", file, detail: `set a passphrase in the config or in ${PASSPHRASE_ENV}` }))
    : Effect.succeed(value)
}

const io = (file: string) => (cause: unknown) => new KeystoreError({ reason: "Io", file, detail: (cause as Error).message ?? String(cause) })

const randomSecretKey = (): string => {
  // Rejection sampling: a random 32-byte string is a valid secp256k1 key unless it is 0 or ≥ the group order.
  for (;;) {
    const candidate = hexlify(randomBytes(32))
    try {
      new SigningKey(candidate)
      return candidate
    } catch {
      continue
    }
  }
}

const create = (file: string, dataDir: string, passphrase: string, scryptN: number): Effect.Effect<Identity, KeystoreError> =>
  Effect.gen(function* () {
    const accountKey = randomSecretKey()
    const encryptionKey = randomSecretKey()
    const address = computeAddress(accountKey)
    const encryptionPublicKey = SigningKey.computePublicKey(encryptionKey, true)
    const options = { scrypt: { N: scryptN } }
    const [account, encryption] = yield* Effect.tryPromise({
      try: () =>
        Promise.all([
          encryptKeystoreJson({ address, privateKey: accountKey }, passphrase, options),
          encryptKeystoreJson({ address: computeAddress(encryptionKey), privateKey: encryptionKey }, passphrase, options)
        ]),
      catch: (cause) => new KeystoreError({ reason: "Corrupt", file, detail: `cannot encrypt: ${(cause as Error).message}` })
    })
    const body = JSON.stringify({ version: 1, address, encryptionPublicKey, account: JSON.parse(account), encryption: JSON.parse(encryption) }, null, 2)
    const temporary = `${file}.${hexlify(randomBytes(6)).slice(2)}.tmp`
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dataDir, { recursive: true, mode: 0o700 })
        await writeFile(temporary, body, { mode: 0o600, flag: "wx" })
        await rename(temporary, file)
      },
      catch: io(file)
    })
    return {
      address,
      account: Redacted.make(new Wallet(accountKey)),
      encryptionPublicKey,
      encryptionSecretKey: Redacted.make(getBytes(encryptionKey)),
      created: true
    }
  })

const decrypt = (file: string, json: unknown, passphrase: string) =>
  Effect.tryPromise({
    try: () => decryptKeystoreJson(JSON.stringify(json), passphrase),
    catch: (cause) => {
      const message = (cause as Error).message ?? String(cause)
      return /incorrect password/i.test(message)
        ? new KeystoreError({ reason: "WrongPassphrase", file, detail: "the passphrase does not decrypt this keystore" })
        : new KeystoreError({ reason: "Corrupt", file, detail: message })
    }
  })

const load = (file: string, text: string, passphrase: string): Effect.Effect<Identity, KeystoreError> =>
  Effect.gen(function* () {
    const parsed = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (cause) => new KeystoreError({ reason: "Corrupt", file, detail: `not JSON: ${(cause as Error).message}` })
    })
    const stored = yield* Schema.decodeUnknownEffect(KeystoreFile)(parsed).pipe(
      Effect.mapError((error) => new KeystoreError({ reason: "Corrupt", file, detail: error.message }))
    )
    const [account, encryption] = yield* Effect.all([decrypt(file, stored.account, passphrase), decrypt(file, stored.encryption, passphrase)], {
      concurrency: 2
    })
    const encryptionPublicKey = SigningKey.computePublicKey(encryption.privateKey, true)
    // The plaintext copies in the file are for readers without the passphrase; check them against the secrets.
    if (account.address !== stored.address || encryptionPublicKey !== stored.encryptionPublicKey) {
      return yield* new KeystoreError({ reason: "Corrupt", file, detail: "the public fields do not match the encrypted keys" })
    }
    return {
      address: account.address,
      account: Redacted.make(new Wallet(account.privateKey)),
      encryptionPublicKey,
      encryptionSecretKey: Redacted.make(getBytes(encryption.privateKey)),
      created: false
    }
  })

/** Opens the keystore in `dataDir`, creating it on first start. Fails with KeystoreError. */
export const open = (options: KeystoreOptions): Effect.Effect<Identity, KeystoreError> =>
  Effect.gen(function* () {
    const file = join(options.dataDir, FILE_NAME)
    const passphrase = yield* passphraseOf(options.passphrase, file)
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8").catch((cause: NodeJS.ErrnoException) => (cause.code === "ENOENT" ? undefined : Promise.reject(cause))),
      catch: io(file)
    })
    return text === undefined
      ? yield* create(file, options.dataDir, passphrase, options.scryptN ?? DEFAULT_SCRYPT_N)
      : yield* load(file, text, passphrase)
  })

/** Promise facade of `open`: rejects with KeystoreError. */
export const openPromise = (options: KeystoreOptions): Promise<Identity> => Effect.runPromise(open(options))

/**
 * Opens a single key from an ethers JSON keystore file (the Web3 Secret Storage format of `jointly keys new`, geth
 * and foundry): a login or consent key the org published in its DID for this participant to sign with.
 */
export const openKeyFile = (file: string, passphrase: string | Redacted.Redacted<string> | undefined): Effect.Effect<Wallet, KeystoreError> =>
  Effect.gen(function* () {
    const secret = yield* passphraseOf(passphrase, file)
    const text = yield* Effect.tryPromise({ try: () => readFile(file, "utf8"), catch: io(file) })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (cause) => new KeystoreError({ reason: "Corrupt", file, detail: `not JSON: ${(cause as Error).message}` })
    })
    const key = yield* decrypt(file, json, secret)
    return new Wallet(key.privateKey)
  })

/** Reads the public half of a keystore (address and ECIES public key) without the passphrase. */
export const readPublic = (dataDir: string): Effect.Effect<{ readonly address: string; readonly encryptionPublicKey: string }, KeystoreError> => {
  const file = join(dataDir, FILE_NAME)
  return Effect.tryPromise({ try: () => readFile(file, "utf8"), catch: io(file) }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (cause) => new KeystoreError({ reason: "Corrupt", file, detail: `not JSON: ${(cause as Error).message}` })
      })
    ),
    Effect.flatMap((json) =>
      Schema.decodeUnknownEffect(KeystoreFile)(json).pipe(Effect.mapError((error) => new KeystoreError({ reason: "Corrupt", file, detail: error.message })))
    ),
    Effect.map(({ address, encryptionPublicKey }) => ({ address, encryptionPublicKey }))
  )
}
