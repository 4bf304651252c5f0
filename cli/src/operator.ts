/**
 * The commands that bring a consortium up across hosts (docs/deploy.md), each party with its own keys (made by
 * `keys new`, keys.ts): `deploy --keystore` (the supervisor deploys the
 * contracts and names the coordinator's account), `org register` (an organisation registers itself from its
 * participant keystore), `supervise audit|suspend|restore|coordinator` with the supervisor's keystore.
 * Passphrases come from the environment only: JOINTLY_KEY_PASSPHRASE, read at the process's edge (dispatch.ts)
 * and passed in as `passphrase`. Output is one JSON line on stdout.
 */
import { randomBytes } from "node:crypto"
import { readFile } from "node:fs/promises"
import { Redacted } from "effect"
import { getAddress, isAddress, isHexString, keccak256, toUtf8Bytes } from "ethers"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import type { Deployment } from "@jointly/core/internal/ledger/Ledger"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import * as ParticipantConfig from "@jointly/participant/internal/cli/ParticipantConfig"
import { fundAccounts } from "@jointly/coordinator/internal/chain/Anvil"
import { readDeploymentFile } from "@jointly/coordinator/internal/chain/Deployment"
import * as AccountKeystore from "@jointly/coordinator/internal/keys/AccountKeystore"
import * as Consortium from "@jointly/coordinator/internal/local/Consortium"
import { OPERATOR_PASSPHRASE_ENV } from "@jointly/coordinator/internal/cli/keys"

const out = (value: unknown) => process.stdout.write(JSON.stringify(value) + "\n")

export class OperatorCommandFailed extends Error {}

/** An operator keystore opened with the passphrase the edge read from OPERATOR_PASSPHRASE_ENV (named when it is missing). */
const openOperatorKey = (file: string, passphrase: string | undefined) => AccountKeystore.open(file, passphrase, OPERATOR_PASSPHRASE_ENV)

/**
 * `jointly deploy --data-dir <dir> --rpc-url <url> --keystore <supervisor.json> --coordinator <address>`:
 * deploys (or reuses) the contracts with the supervisor's key and grants the coordinator's account its role;
 * the deployment lands in `<dir>/chain/deployment.json`. `--fund` gives both accounts test ether on an anvil.
 */
export const deploy = async (o: { dataDir: string; rpcUrl: string; keystore: string; passphrase: string | undefined; coordinator: string; fund: boolean }) => {
  if (!isAddress(o.coordinator)) throw new OperatorCommandFailed(`--coordinator ${o.coordinator} is not an address`)
  const supervisor = await openOperatorKey(o.keystore, o.passphrase)
  // With --fund the supervisor's account is minted on anvil; elsewhere it must hold funds and tops up the coordinator's.
  const chain = await Consortium.connect(o.rpcUrl, { embedded: o.fund })
  const { deployment, supervisorLedger } = await Consortium.deploy(o.dataDir, chain, supervisor, { address: getAddress(o.coordinator) }, o.fund)
  await supervisorLedger.close()
  await chain.close()
  out({
    event: "deployed",
    deployment: `${o.dataDir}/chain/deployment.json`,
    chainId: deployment.chainId.toString(),
    registry: deployment.registry,
    ledger: deployment.ledger,
    supervisor: supervisor.address,
    coordinator: getAddress(o.coordinator)
  })
}

const loadDeployment = (file: string): Promise<Deployment> =>
  readDeploymentFile(file).catch((error: Error) => {
    throw new OperatorCommandFailed(`--deployment ${file}: ${error.message}`)
  })

/** The registering account: a participant's identity (its config's data dir), or an operator keystore. */
const registrant = async (o: { config?: string; keystore?: string; passphrase: string | undefined; env?: Readonly<Record<string, string | undefined>> }) => {
  if (o.config !== undefined) {
    const config = await ParticipantConfig.load(o.config, o.env ?? {})
    const identity = await Keystore.openPromise({ dataDir: config.dataDir, passphrase: o.passphrase })
    return { wallet: Redacted.value(identity.account), encryptionPublicKey: identity.encryptionPublicKey }
  }
  if (o.keystore === undefined) throw new OperatorCommandFailed("org register needs --config <participant.json> or --keystore <file>")
  // An organisation that only initiates tasks (an analyst) publishes its account key as its ECIES key.
  const wallet = await openOperatorKey(o.keystore, o.passphrase)
  return { wallet, encryptionPublicKey: wallet.signingKey.compressedPublicKey }
}

/**
 * `jointly org register --config <participant.json> --name <org> --deployment <file> --rpc-url <url>` (or
 * `--keystore <file>` for an organisation without a participant, e.g. an analyst): the organisation registers
 * itself from its own account (passphrase in JOINTLY_KEY_PASSPHRASE), publishing its ECIES key; only a salted
 * digest of its dossier goes on chain. It takes part once the supervisor has audited it.
 */
export const orgRegister = async (o: { config?: string; keystore?: string; passphrase: string | undefined; env?: Readonly<Record<string, string | undefined>>; name: string; registrationNumber?: string; dossier?: string; deployment: string; rpcUrl: string; fund: boolean }) => {
  const { wallet, encryptionPublicKey } = await registrant(o)
  const deployment = await loadDeployment(o.deployment)
  if (o.fund) await fundAccounts(o.rpcUrl, [wallet.address])
  const own = await makeEthersLedger({ rpcUrl: o.rpcUrl, privateKey: wallet.privateKey, addresses: deployment })
  try {
    let membership = await own.companyOf(wallet.address)
    if (membership.companyId === undefined) {
      const dossier = o.dossier === undefined ? toUtf8Bytes(o.name) : new Uint8Array(await readFile(o.dossier))
      await own.register({
        name: o.name,
        registrationNumber: o.registrationNumber ?? `org-${wallet.address.toLowerCase()}`,
        encPubKey: encryptionPublicKey,
        // PROTOCOLS §2.1 b: a salted digest, so the dossier cannot be guessed back from the chain.
        dossierHash: keccak256(new Uint8Array([...randomBytes(16), ...dossier]))
      })
      membership = await own.companyOf(wallet.address)
    }
    out({ event: "registered", name: o.name, address: wallet.address, companyId: membership.companyId, state: membership.state })
  } finally {
    await own.close()
  }
}

/**
 * `jointly supervise audit|suspend|restore <org> --keystore <supervisor.json> --deployment <file> --rpc-url
 * <url>`; `supervise coordinator <address> [--revoke]` grants (or withdraws) the coordinator role, e.g. when the
 * coordinator's key is rotated. `<org>` is an address or a company id.
 */
export const superviseWithKeystore = async (o: { what: string; targets: ReadonlyArray<string>; keystore: string; passphrase: string | undefined; deployment: string; rpcUrl: string; reason?: string; revoke: boolean; fund?: boolean }) => {
  const supervisor = await openOperatorKey(o.keystore, o.passphrase)
  const deployment = await loadDeployment(o.deployment)
  const ledger = await Consortium.ledgerFor(o.rpcUrl, supervisor, deployment)
  try {
    if (o.what === "coordinator") {
      for (const target of o.targets) {
        if (!isAddress(target)) throw new OperatorCommandFailed(`${target} is not an address`)
        // On anvil, a new coordinator account gets test ether for its ledger writes; elsewhere the operator funds it.
        if (o.fund === true && !o.revoke) await fundAccounts(o.rpcUrl, [getAddress(target)])
        await ledger.setCoordinator(getAddress(target), !o.revoke)
        out({ event: o.revoke ? "coordinator-revoked" : "coordinator-granted", address: getAddress(target) })
      }
      return
    }
    const to = o.what === "suspend" ? "Suspended" : "Audited"
    for (const target of o.targets) {
      const companyId = isHexString(target, 32) ? target : isAddress(target) ? (await ledger.companyOf(target)).companyId : undefined
      if (companyId === undefined) throw new OperatorCommandFailed(`no organisation ${target} on chain (give a registered address or a company id)`)
      const receipt = await ledger.setState(companyId, to, keccak256(toUtf8Bytes(o.reason ?? `${o.what} by the supervisor`)))
      out({ event: o.what === "audit" ? "audited" : o.what === "suspend" ? "suspended" : "restored", target, companyId, state: to, txHash: receipt.txHash })
    }
  } finally {
    await ledger.close()
  }
}
