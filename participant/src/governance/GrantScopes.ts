/**
 * The scope documents of the grants this participant's owner approved (core/src/ledger/GrantScope.ts), one file
 * per token under `<dataDir>/grant-scopes/`: the chain holds only their hashes, so the owner keeps what it agreed
 * to, and GrantGuard reads it back for every task that presents the grant. Written atomically (temporary file,
 * then rename), readable by the owner only.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as GrantScope from "@jointly/core/internal/ledger/GrantScope"

const dirOf = (dataDir: string) => join(dataDir, "grant-scopes")
const fileOf = (dataDir: string, tokenId: string) => {
  if (!/^0x[0-9a-fA-F]{64}$/.test(tokenId)) throw new RangeError(`not a grant token id: ${tokenId}`)
  return join(dirOf(dataDir), `${tokenId.toLowerCase()}.json`)
}

export const save = async (dataDir: string, tokenId: string, scope: GrantScope.GrantScope): Promise<void> => {
  await mkdir(dirOf(dataDir), { recursive: true, mode: 0o700 })
  const file = fileOf(dataDir, tokenId)
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, GrantScope.canonical(scope) + "\n", { mode: 0o600 })
  await rename(temporary, file)
}

/** The scope kept for `tokenId`, or undefined when this participant never stored one. */
export const load = async (dataDir: string, tokenId: string): Promise<GrantScope.GrantScope | undefined> => {
  const text = await readFile(fileOf(dataDir, tokenId), "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined
    throw error
  })
  return text === undefined ? undefined : GrantScope.decode(JSON.parse(text))
}
