// An owner's decisions on chain, sent through the user's own wallet (EIP-1193): the page builds the call with ethers'
// browser build, the wallet shows and signs the transaction, and the contract decides (AccessGrants.decide: only the
// grant's owner, only a grant still requested; ModelRequests.decide: only an account of the owner's organisation, only
// a request still waiting, before its expiry). The coordinator takes no part: it sees the decision when its chain
// index reads the event, like any member's.
import { BrowserProvider, Contract, Interface, ZeroHash, id } from "./vendor/ethers.js"
import { abis } from "./contracts.js"

/** The contract refused the call: `tag` is its custom error's name (NotOwner, WrongStatus, …), `args` its arguments. */
export class ChainRefused extends Error {
  constructor(tag, args) {
    super(`the contract refused: ${tag}(${args.map(String).join(", ")})`)
    this.tag = tag
    this.args = args
  }
}

/** keccak256 of the reason's text, as the CLI and the participants hash it (core/src/ledger/Ledger.ts reasonHash). */
const reasonHash = (reason) => (reason ? id(reason) : ZeroHash)

/**
 * The contract's custom error in a failed call (the revert data ethers' CALL_EXCEPTION carries, read with the
 * contract's ABI), else the error itself.
 */
const refusal = (error, abi) => {
  const data = [error?.data, error?.info?.error?.data, error?.error?.data].find((d) => typeof d === "string" && /^0x[0-9a-fA-F]{8}/.test(d))
  let parsed = null
  try {
    parsed = data === undefined ? null : new Interface(abi).parseError(data)
  } catch {
    parsed = null
  }
  return parsed ? new ChainRefused(parsed.name, [...parsed.args]) : error
}

/** Sends `decide(id, approve, reasonHash)` to contract `which` as `account`; resolves with the mined transaction's hash. */
const decide = async ({ which, what, contract, account, id: subject, approve, reason }) => {
  if (!window.ethereum) throw new Error(`deciding ${what} needs the owner's browser wallet: it signs the transaction on chain`)
  if (!contract) throw new Error(`this coordinator names no ${which} contract`)
  const provider = new BrowserProvider(window.ethereum)
  provider.pollingInterval = 500
  try {
    const deployed = new Contract(contract, abis[which], await provider.getSigner(account))
    const tx = await deployed.decide(subject, approve, reasonHash(reason))
    return (await tx.wait()).hash
  } catch (error) {
    throw refusal(error, abis[which])
  }
}

/** Approves or rejects grant `tokenId` as `account` (the grant's owner). */
export const decideGrant = ({ contract, account, tokenId, approve, reason }) =>
  decide({ which: "grants", what: "a grant", contract, account, id: tokenId, approve, reason })

/** Approves or rejects model request `reqId` as `account` (an account of the owner's organisation). */
export const decideModelRequest = ({ contract, account, reqId, approve, reason }) =>
  decide({ which: "modelRequests", what: "a model request", contract, account, id: reqId, approve, reason })
