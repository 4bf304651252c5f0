/**
 * A second address of a member organisation, as PROTOCOLS.md §2.1 (a) has it: the new address asks to join
 * (`jointly member join`, its own transaction is its consent), an address already bound to the company endorses
 * it (`jointly member endorse`, the company's will), and the supervisor approves (`jointly supervise
 * approve-join`). None of it while the company awaits audit, is suspended or revoked: the registry refuses.
 * Output is JSON on stdout.
 */
import { Redacted } from "effect"
import { getAddress, isAddress, isHexString } from "ethers"
import { makeEthersLedger } from "@jointly/core/internal/ledger/EthersLedger"
import type { LedgerClient } from "@jointly/core/internal/ledger/Ledger"
import * as Keystore from "@jointly/participant/internal/keystore/Keystore"
import * as ParticipantConfig from "@jointly/participant/internal/cli/ParticipantConfig"
import { loadDeployment } from "@jointly/coordinator/internal/chain/Deployment"
import * as Consortium from "@jointly/coordinator/internal/local/Consortium"
import * as Operator from "@jointly/coordinator/internal/local/Operator"
import { CommandFailed, emitter, type MemberAccess, type Printing } from "./governance.ts"

/** The registry as the participant of `configFile` sees it, signing with its keystore (opened as governance.ts's `MemberAccess` says). */
const memberLedger = async (configFile: string, access: MemberAccess): Promise<LedgerClient> => {
  const config = await ParticipantConfig.load(configFile, access.env ?? {})
  if (config.chain === undefined) throw new CommandFailed(`${configFile} has no "chain" section (rpcUrl and contract addresses)`)
  if (config.chain.ledger === undefined) throw new CommandFailed(`${configFile}: its "chain" section has no "ledger" address (the task ledger's proxy)`)
  const identity = await Keystore.openPromise({ dataDir: config.dataDir, passphrase: access.passphrase })
  const wallet = Redacted.value(identity.account)
  return makeEthersLedger({
    rpcUrl: config.chain.rpcUrl,
    privateKey: wallet.privateKey,
    addresses: { registry: config.chain.registry, ledger: config.chain.ledger, deployBlock: BigInt(config.chain.deployBlock ?? "0") }
  })
}

const addressArg = (command: string, value: string | undefined) => {
  if (value === undefined || !isAddress(value)) throw new CommandFailed(`${command} needs the joining address (0x…)`)
  return getAddress(value)
}

/** `jointly member join <company-id> | endorse <address> | show [<address>] --config <participant.json>`. */
export const member = async (o: Printing & MemberAccess & { action: string; arg?: string; config?: string }) => {
  const emit = emitter(o)
  if (!o.config) throw new CommandFailed(`member ${o.action} acts as the participant of --config <participant.json>`)
  const ledger = await memberLedger(o.config, o)
  try {
    switch (o.action) {
      case "join": {
        if (o.arg === undefined || !isHexString(o.arg, 32)) throw new CommandFailed("member join needs the company id (32-byte hex, as `member show` prints it)")
        const receipt = await ledger.requestJoin(o.arg)
        return emit({ event: "join-requested", account: ledger.account, companyId: o.arg, next: "an address of the company endorses it, then the supervisor approves", ...receipt })
      }
      case "endorse": {
        const account = addressArg("member endorse", o.arg)
        const own = await ledger.companyOf(ledger.account)
        if (own.companyId === undefined) throw new CommandFailed(`${ledger.account} is bound to no company: only a company's address may endorse a join`)
        return emit({ event: "join-endorsed", companyId: own.companyId, account, endorsedBy: ledger.account, ...(await ledger.endorseJoin(own.companyId, account)) })
      }
      case "show": {
        const account = o.arg === undefined ? ledger.account : addressArg("member show", o.arg)
        const membership = await ledger.companyOf(account)
        const company = membership.companyId === undefined ? undefined : await ledger.getCompany(membership.companyId)
        return emit({ account, ...membership, company: company === undefined ? undefined : { name: company.name, state: company.state, addresses: company.addresses } })
      }
      default:
        throw new CommandFailed(`unknown member action ${o.action} (join, endorse, show)`)
    }
  } finally {
    await ledger.close()
  }
}

/** `jointly supervise approve-join <address> --data-dir <dir> --rpc-url <url>`: binds an endorsed join. */
export const approveJoin = async (o: Printing & { account?: string; dataDir?: string; rpcUrl?: string }) => {
  const account = addressArg("supervise approve-join", o.account)
  if (!o.dataDir || !o.rpcUrl) throw new CommandFailed("supervise approve-join acts as the supervisor: give --data-dir and --rpc-url")
  const deployment = await loadDeployment(o.dataDir)
  if (!deployment) throw new CommandFailed(`no deployment in ${o.dataDir}`)
  const ledger = await Consortium.ledgerFor(o.rpcUrl, (await Operator.load(o.dataDir)).supervisor, deployment)
  try {
    const pending = await ledger.companyOf(account)
    if (pending.pendingJoin === undefined) throw new CommandFailed(`${account} has no pending join request`)
    if (pending.joinEndorsedBy === undefined) throw new CommandFailed(`${account}'s join into ${pending.pendingJoin} is not endorsed by an address of the company yet`)
    return emitter(o)({ event: "join-approved", companyId: pending.pendingJoin, account, endorsedBy: pending.joinEndorsedBy, ...(await ledger.approveJoin(pending.pendingJoin, account)) })
  } finally {
    await ledger.close()
  }
}
