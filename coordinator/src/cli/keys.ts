/**
 * `jointly keys new | address`: an operator's account (the supervisor's, the coordinator's, an analyst's) in an
 * encrypted keystore, its passphrase from the environment (read at the process's edge and passed in). Kept apart from the other operator commands so it
 * loads nothing of the chain tooling.
 */
import { readFile } from "node:fs/promises"
import { getAddress } from "ethers"
import * as AccountKeystore from "../keys/AccountKeystore.ts"

/** The variable an operator keystore's passphrase is read from, unless `--passphrase-env` names another. */
export const OPERATOR_PASSPHRASE_ENV = "JOINTLY_KEY_PASSPHRASE"

const out = (value: unknown) => process.stdout.write(JSON.stringify(value) + "\n")

/**
 * `jointly keys new --out <file>`: a fresh account in an encrypted keystore; prints its address. `passphrase` is
 * the value of the variable `passphraseEnv` names (default JOINTLY_KEY_PASSPHRASE), named when it is missing.
 */
export const keysNew = async (o: { out: string; passphrase: string | undefined; passphraseEnv?: string }) => {
  const source = o.passphraseEnv ?? OPERATOR_PASSPHRASE_ENV
  const { address } = await AccountKeystore.create(o.out, o.passphrase, { source })
  out({ event: "created", keystore: o.out, address })
}

/**
 * `jointly keys address <file>`: the address of a keystore (an operator's, or a participant's identity.json),
 * read without its passphrase; printed bare, for shell use (`--coordinator "$(jointly keys address …)"`).
 */
export const keysAddress = async (o: { file: string }) => {
  const json = JSON.parse(await readFile(o.file, "utf8")) as { address?: string }
  if (json.address === undefined) throw new Error(`${o.file} is not a keystore (no address)`)
  process.stdout.write(getAddress(json.address.startsWith("0x") ? json.address : `0x${json.address}`) + "\n")
}
