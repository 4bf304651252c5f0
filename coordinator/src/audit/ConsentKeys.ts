/**
 * The consent keys an audit accepts (Verify.ts `ChainSource.consentSigners`): the ones a participant's did:ethr document named
 * at the block its consent was recorded in. The DID registry is the one the task ledger itself consults
 * (TaskLedger.didRegistry), read from the chain, never from the coordinator.
 *
 * "At the block" is ethr-did-resolver's `versionId`: the document rebuilt from the DID's events up to and including
 * that block, validity compared with the block's timestamp. The ledger checked the key at the consent's own
 * transaction; a change later in the same block is the one case the event history cannot order against it.
 */
import { Effect } from "effect"
import { type Provider, ZeroAddress } from "ethers"
import * as DidIdentity from "@jointly/core/internal/identity/DidIdentity"
import * as TaskLedger from "@jointly/core/internal/ledger/generated/TaskLedger"
import { type ConsentSigners, SourceUnavailable } from "./Verify.ts"

/** The consent signers of a participant as of a block, read with `dids`; SourceUnavailable when the registry does not answer. */
export const ofResolver = (dids: DidIdentity.DidResolver): ConsentSigners => (participant, blockNumber) =>
  Effect.tryPromise({
    try: () => dids.resolveAt(participant, Number(blockNumber)),
    catch: (error) => new SourceUnavailable({ source: "DID registry", message: `the DID of ${participant} at block ${blockNumber} could not be resolved: ${error instanceof Error ? error.message : String(error)}` })
  }).pipe(Effect.map((document) => document.consentSigners))

/** The same, over the DID registry the ledger names; undefined when it names none (only accounts sign). */
export const fromLedger = async (provider: Provider, chainId: bigint, ledger: string) => {
  const registry = await TaskLedger.connect(ledger, provider).didRegistry()
  return registry === ZeroAddress ? undefined : ofResolver(DidIdentity.makeResolver({ chainId, registry, provider }))
}
