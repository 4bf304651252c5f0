/**
 * The Live layers of `Verify.verify`'s sources: the coordinator's copies over its API (`jointly verify`, which takes
 * no word of the coordinator it can check) or over its own stores (the dashboard's verify view, the same checks),
 * the chain over an RPC node (its EIP-712 domain, and the DID registry the task ledger names), and an IPFS node's
 * sealed copies.
 */
import { Effect, Layer } from "effect"
import type { Provider } from "ethers"
import type { ArtifactBlocksShape } from "@jointly/core/internal/artifacts/Blocks"
import type { RequestFailed } from "@jointly/core/internal/api/RequestFailed"
import * as Eip712 from "@jointly/core/internal/ledger/Eip712"
import type { ArtifactStore } from "../artifacts/ArtifactStore.ts"
import type { ModelStore } from "../models/ModelStore.ts"
import * as ConsentKeys from "./ConsentKeys.ts"
import { ChainSource, CoordinatorSource, type Fetched, fromBlocks, IpfsSource, SourceUnavailable, withheld } from "./Verify.ts"

const tampered = () => new TextEncoder().encode("tampered")

/**
 * The coordinator over its API. A refusal the API names is an answer (`answers`, by its code): missing, tampered
 * (the API re-hashes on read and refuses it: the check then fails on purpose), withheld from this caller; anything
 * else (unreachable, an undeclared status) leaves the audit unable to conclude, not a failed check.
 */
export const coordinatorOverApi = (client: {
  readonly getArtifact: (cid: string) => Promise<{ readonly bytes: Uint8Array }>
  readonly weights: (modelId: string) => Promise<{ readonly artifact: unknown }>
}) => {
  const fromCoordinator = <A>(call: () => Promise<A>, answers: ReadonlyMap<string, Fetched>) =>
    Effect.tryPromise({ try: call, catch: (error) => error as RequestFailed }).pipe(
      Effect.catch((error) =>
        answers.has(error.code) ? Effect.succeed(answers.get(error.code)) : Effect.fail(new SourceUnavailable({ source: "coordinator", message: error.message })))
    )
  return Layer.succeed(CoordinatorSource, {
    artifact: (cid) =>
      fromCoordinator(async (): Promise<Fetched> => (await client.getArtifact(cid)).bytes, new Map<string, Fetched>([["UnknownArtifact", undefined], ["Tampered", tampered()], ["Forbidden", withheld]])),
    model: (id) => fromCoordinator(async () => (await client.weights(id)).artifact, new Map<string, Fetched>([["UnknownModel", undefined], ["Forbidden", withheld]]))
  })
}

/**
 * The coordinator's own stores (none: every artifact and model missing). A tampered artifact must fail its check, a
 * missing one is reported missing, and a store that does not answer is the source unavailable.
 */
export const coordinatorStores = (stores: { readonly artifacts?: Pick<ArtifactStore, "get">; readonly models?: Pick<ModelStore, "get"> }) => {
  const unavailable = (error: { readonly message: string }) => Effect.fail(new SourceUnavailable({ source: "coordinator", message: error.message }))
  return Layer.succeed(CoordinatorSource, {
    artifact: (cid) =>
      stores.artifacts === undefined
        ? Effect.undefined
        : stores.artifacts.get(cid).pipe(
          Effect.map((artifact): Fetched => artifact.bytes),
          Effect.catchTags({ Tampered: () => Effect.succeed(tampered()), UnknownArtifact: () => Effect.undefined, ArtifactStoreFailed: unavailable })
        ),
    model: (modelId) =>
      stores.models === undefined ? Effect.undefined : stores.models.get(modelId).pipe(Effect.map((model) => model?.artifact), Effect.catchTag("ModelStoreFailed", unavailable))
  })
}

/**
 * The chain over an RPC node: the domain consents are signed in for the task ledger at `ledger`, the domain the
 * ledger itself announces, and the consent keys of the DID registry it names (none: only accounts sign). Reading
 * them fails the layer with SourceUnavailable naming the chain.
 */
export const chainOverRpc = (chain: {
  readonly chainId: bigint
  readonly ledger: string
  readonly provider: Provider
  readonly onChainDomain: () => Promise<NonNullable<ChainSource["Service"]["onChainDomain"]>>
}) =>
  Layer.effect(
    ChainSource,
    Effect.tryPromise({
      try: async () => {
        const consentSigners = await ConsentKeys.fromLedger(chain.provider, chain.chainId, chain.ledger)
        return { domain: Eip712.domain(chain.chainId, chain.ledger), onChainDomain: await chain.onChainDomain(), ...(consentSigners === undefined ? {} : { consentSigners }) }
      },
      catch: (error) => new SourceUnavailable({ source: "chain", message: error instanceof Error ? error.message : String(error) })
    })
  )

/** An IPFS node's (or its peers') sealed copies, opened with `readerKey` when it is a reader's. */
export const ipfsBlocks = (blocks: ArtifactBlocksShape, options: { readonly readerKey?: Uint8Array; readonly timeoutMs?: number } = {}) =>
  Layer.succeed(IpfsSource, { get: fromBlocks(blocks, options), ...(options.readerKey === undefined ? {} : { readerKey: options.readerKey }) })
