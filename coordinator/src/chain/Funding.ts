/**
 * Gas money for the consortium's own accounts (coordinator, local orgs). On the embedded chain the dev node
 * mints it (`fundAccounts`, anvil-only RPC that stays in this folder); on any other network it is a plain
 * transfer from the operator's funded account (the supervisor key that deploys the contracts), and only when an
 * account runs low. Funding the operator's account itself is the operator's job, as on any network.
 */
import type * as Chain from "@jointly/core/internal/ledger/Chain"
import { fundAccounts } from "./Anvil.ts"

export interface TopUp {
  /** An account below this balance is topped up (default 0.1 ether). */
  readonly minimumWei?: bigint
  /** ... to this balance (default 1 ether). */
  readonly targetWei?: bigint
}

/**
 * Brings each account below `minimumWei` up to `targetWei` by a transfer from `operator`. Networks that charge
 * nothing for gas (a gas price of zero, as many permissioned chains run) need no funding and get none.
 * Returns the accounts it funded.
 */
export const topUp = async (chain: Chain.ChainClient, operator: Chain.Signer, accounts: ReadonlyArray<string>, options: TopUp = {}) => {
  const minimum = options.minimumWei ?? 10n ** 17n
  const target = options.targetWei ?? 10n ** 18n
  const gasPrice = BigInt((await chain.read("topUp", () => chain.provider.send("eth_gasPrice", []))) as string)
  if (gasPrice === 0n) return []
  const funded: Array<string> = []
  for (const account of accounts) {
    const balance = await chain.balance(account)
    if (balance >= minimum) continue
    await chain.transfer(operator, account, target - balance)
    funded.push(account)
  }
  return funded
}

/** Funds the accounts the embedded chain's way (minted) or any network's way (transferred from the operator). */
export const fund = async (chain: Chain.ChainClient, operator: Chain.Signer, accounts: ReadonlyArray<string>, embedded: boolean) => {
  if (embedded) return fundAccounts(chain.rpcUrl, accounts)
  await topUp(chain, operator, accounts)
}
