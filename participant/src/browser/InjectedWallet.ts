/**
 * The org's account in the person's own browser wallet (an injected EIP-1193 provider, `window.ethereum`), so the
 * key never enters the page: the session's EIP-712 sign-in and consents (Eip712.signLogin/signConsent, exactly
 * what a Node participant signs) go to the wallet as `eth_signTypedData_v4`, which shows the person the typed
 * fields — task id, approve or reject, the hash of the reason — before they sign; a stage's commitment and a
 * dashboard sign-in go as `personal_sign` of the message. Through ethers' BrowserProvider, which speaks EIP-1193.
 *
 *   const agent = await BrowserAgent.start({ wallet: await InjectedWallet.connect(window.ethereum), … })
 */
import { BrowserProvider, type Eip1193Provider, getAddress } from "ethers"
import type { AccountSigner } from "../AgentSession.ts"

export type { Eip1193Provider }

/**
 * Asks the wallet for its account (`eth_requestAccounts`: the wallet asks the person to connect this page) and
 * returns its signer; `account` picks one of several. Rejects when the wallet refuses or holds no such account.
 */
export const connect = async (ethereum: Eip1193Provider, account?: string): Promise<AccountSigner> => {
  const provider = new BrowserProvider(ethereum)
  const accounts = ((await ethereum.request({ method: "eth_requestAccounts" })) as Array<string>).map((a) => getAddress(a))
  const chosen = account === undefined ? accounts[0] : accounts.find((a) => a === getAddress(account))
  if (chosen === undefined) throw new Error(account === undefined ? "the wallet shares no account with this page" : `the wallet holds no account ${account}`)
  return provider.getSigner(chosen)
}
