/**
 * Bringing an embedded consortium up: chain, contracts, coordinator role, and orgs registered by their own
 * accounts and audited by the supervisor. Idempotent, so a second run over the same data directory reuses all.
 */
import { randomBytes } from "node:crypto"
import type { Wallet } from "ethers"
import { keccak256, toUtf8Bytes } from "ethers"
import { makeEthersLedger } from "@jointly/core/ledger/EthersLedger.ts"
import { makeGovernanceLedger } from "@jointly/core/ledger/GovernanceLedger.ts"
import type { Addresses, Deployment, LedgerClient } from "@jointly/core/ledger/Ledger.ts"
import { fundAccounts } from "../chain/Anvil.ts"
import { ensureDeployment } from "../chain/Deployment.ts"

export interface Org {
  readonly name: string
  readonly wallet: Wallet
  /** 33-byte compressed secp256k1 key for ECIES, 0x-hex. */
  readonly encryptionPublicKey: string
}

export const ledgerFor = (rpcUrl: string, wallet: Wallet, addresses: Addresses) =>
  makeEthersLedger({ rpcUrl, privateKey: wallet.privateKey, addresses })

/** The governance contracts as `wallet` sees them; undefined for a deployment without them. */
export const governanceFor = (rpcUrl: string, wallet: Wallet, deployment: Deployment) =>
  deployment.suite === undefined
    ? Promise.resolve(undefined)
    : makeGovernanceLedger({ rpcUrl, privateKey: wallet.privateKey, addresses: { ...deployment.suite, registry: deployment.registry, deployBlock: deployment.deployBlock } })

/** What a participant's config says about the chain (ParticipantConfig.chain). */
export const chainConfig = (rpcUrl: string, deployment: Deployment) =>
  deployment.suite === undefined ? undefined : { rpcUrl, registry: deployment.registry, ...deployment.suite, deployBlock: deployment.deployBlock.toString() }

/** Deploys (or reuses) the contracts and grants the coordinator its role. */
export const deploy = async (dataDir: string, rpcUrl: string, supervisor: Wallet, coordinator: { readonly address: string }, embedded: boolean) => {
  if (embedded) await fundAccounts(rpcUrl, [supervisor.address, coordinator.address])
  const { deployment } = await ensureDeployment({ dataDir, rpcUrl, privateKey: supervisor.privateKey })
  const ledger = await ledgerFor(rpcUrl, supervisor, deployment)
  await ledger.setCoordinator(coordinator.address, true)
  return { deployment, supervisorLedger: ledger }
}

/** Registers `org` from its own account (if it is not yet) and has the supervisor audit it. */
export const admit = async (rpcUrl: string, addresses: Addresses, supervisorLedger: LedgerClient, org: Org, embedded: boolean) => {
  if (embedded) await fundAccounts(rpcUrl, [org.wallet.address])
  const own = await ledgerFor(rpcUrl, org.wallet, addresses)
  try {
    let membership = await own.companyOf(org.wallet.address)
    if (membership.companyId === undefined) {
      await own.register({
        name: org.name,
        registrationNumber: `local-${org.wallet.address.toLowerCase()}`,
        encPubKey: org.encryptionPublicKey,
        // Only a salted digest of the dossier goes on chain (PROTOCOLS §2.1 b).
        dossierHash: keccak256(toUtf8Bytes(`${org.name}:${randomBytes(16).toString("hex")}`))
      })
      membership = await own.companyOf(org.wallet.address)
    }
    if (membership.state === "ToAudit") await supervisorLedger.setState(membership.companyId!, "Audited", keccak256(toUtf8Bytes("audited by the local supervisor")))
    return membership.companyId!
  } finally {
    await own.close()
  }
}
