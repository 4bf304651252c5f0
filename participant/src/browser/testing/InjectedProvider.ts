/**
 * Test helper: a minimal injected EIP-1193 wallet (`window.ethereum`) backed by a real ethers Wallet in the page,
 * answering what ethers' BrowserProvider asks of a wallet (accounts, chain id, `personal_sign`,
 * `eth_signTypedData_v4`). Bundled by the Chromium test into a classic script and installed before the page's
 * own scripts run. `window.__walletConsentKey`, when set, makes it sign EIP-712 consents with that other key
 * while still claiming the account — a wallet that signs as the wrong account, which the coordinator must refuse.
 * Every typed-data request is recorded in `window.__walletRequests` (what the person would have been shown).
 */
import { getBytes, Wallet } from "ethers"

interface WalletWindow {
  ethereum?: unknown
  __walletKey?: string
  __walletConsentKey?: string
  __walletRequests?: Array<{ method: string; primaryType?: string; message?: unknown }>
}

const w = globalThis as unknown as WalletWindow

if (w.__walletKey !== undefined) {
  const wallet = new Wallet(w.__walletKey)
  const requests: NonNullable<WalletWindow["__walletRequests"]> = (w.__walletRequests = [])
  w.ethereum = {
    isJointlyTestWallet: true,
    request: async ({ method, params }: { method: string; params?: Array<unknown> }) => {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [wallet.address]
        case "eth_chainId":
          return "0x7a69"
        case "net_version":
          return "31337"
        case "personal_sign": {
          requests.push({ method })
          return wallet.signMessage(getBytes(params![0] as string))
        }
        case "eth_signTypedData_v4": {
          const { domain, types, primaryType, message } = JSON.parse(params![1] as string)
          requests.push({ method, primaryType, message })
          const { EIP712Domain: _, ...rest } = types
          const signer = primaryType === "Consent" && w.__walletConsentKey !== undefined ? new Wallet(w.__walletConsentKey) : wallet
          return signer.signTypedData(domain, rest, message)
        }
        default:
          throw Object.assign(new Error(`the test wallet does not support ${method}`), { code: 4200 })
      }
    }
  }
}
