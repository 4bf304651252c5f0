/**
 * Bringing an embedded consortium up: chain, contracts, coordinator role, and orgs registered by their own
 * accounts and audited by the supervisor. Idempotent, so a second run over the same data directory reuses all.
 */
import { randomBytes } from "node:crypto"
import type { Wallet } from "ethers"
import { keccak256, toUtf8Bytes } from "ethers"
import * as Chain from "@jointly/core/internal/ledger/Chain"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import { makeGovernanceLedger } from "@jointly/core/internal/ledger/GovernanceLedger"
import type { Addresses, Deployment, LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import { ensureDeployment } from "../chain/Deployment.ts"
import * as Funding from "../chain/Funding.ts"

export interface Org {
  readonly name: string
  readonly wallet: Wallet
  /** 33-byte compressed secp256k1 key for ECIES, 0x-hex. */
  readonly encryptionPublicKey: string
}

/**
 * The chain client of a process: every view of every key shares it (one provider, one nonce manager per key).
 * On the embedded chain a record is final once mined: one node, mining on demand, never reorganises.
 */
export const connect = (rpcUrl: string, options: { readonly embedded: boolean; readonly confirmations?: number; readonly maxFeePerGasWei?: bigint }) =>
  Chain.make({
    rpcUrl,
    confirmations: options.confirmations ?? (options.embedded ? 1 : 2),
    ...(options.maxFeePerGasWei === undefined ? {} : { maxFeePerGasWei: options.maxFeePerGasWei })
  })

/** A chain client of its own (closed with the view) for a URL, or the shared one. */
const connection = (chain: Chain.ChainClient | string) => (typeof chain === "string" ? { rpcUrl: chain } : { rpcUrl: chain.rpcUrl, chain })

export const ledgerFor = (chain: Chain.ChainClient | string, wallet: Wallet, addresses: Addresses) =>
  makeEthersLedger({ ...connection(chain), privateKey: wallet.privateKey, addresses })

/** The governance contracts as `wallet` sees them; undefined for a deployment without them. */
export const governanceFor = (chain: Chain.ChainClient | string, wallet: Wallet, deployment: Deployment) =>
  deployment.suite === undefined
    ? Promise.resolve(undefined)
    : makeGovernanceLedger({ ...connection(chain), privateKey: wallet.privateKey, addresses: { ...deployment.suite, registry: deployment.registry, ledger: deployment.ledger, deployBlock: deployment.deployBlock } })

/** What a participant's config says about the chain (ParticipantConfig.chain). */
export const chainConfig = (rpcUrl: string, deployment: Deployment) =>
  deployment.suite === undefined ? undefined : { rpcUrl, registry: deployment.registry, ledger: deployment.ledger, ...deployment.suite, deployBlock: deployment.deployBlock.toString() }

/**
 * Deploys (or reuses) the contracts and grants the coordinator its role. The supervisor's account pays: minted
 * on the embedded chain; on another network it must hold funds already (the operator's job) and tops up the
 * coordinator's account by a plain transfer.
 */
export const deploy = async (dataDir: string, chain: Chain.ChainClient, supervisor: Wallet, coordinator: { readonly address: string }, embedded: boolean) => {
  const operator = chain.signer(supervisor.privateKey)
  if (embedded) await Funding.fund(chain, operator, [supervisor.address], true)
  await Funding.fund(chain, operator, [coordinator.address], embedded)
  const { deployment } = await ensureDeployment({ dataDir, rpcUrl: chain.rpcUrl, privateKey: supervisor.privateKey })
  const ledger = await ledgerFor(chain, supervisor, deployment)
  await ledger.setCoordinator(coordinator.address, true)
  return { deployment, supervisorLedger: ledger }
}

/** Funds `org` (from the supervisor's account), registers it from its own account (if it is not yet) and has the supervisor audit it. */
export const admit = async (addresses: Addresses, supervisor: Wallet, supervisorLedger: LedgerClient, org: Org, embedded: boolean) => {
  const chain = supervisorLedger.chain
  await Funding.fund(chain, chain.signer(supervisor.privateKey), [org.wallet.address], embedded)
  const own = await ledgerFor(chain, org.wallet, addresses)
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
