/**
 * What a browser participant is configured with and what it offers once started (BrowserAgent.ts starts it,
 * BrowserSession.ts runs it; both read these, so they live apart from either).
 */
import type * as AgentSession from "../AgentSession.ts"
import type { AccountSigner } from "../AgentSession.ts"
import type * as BrowserRunner from "./BrowserRunner.ts"
import type { KeptModel } from "./KeptModel.ts"
import type { TableInput } from "./TableInput.ts"

export interface BrowserAgentConfig extends AgentSession.SessionConfig {
  /** `https://…`; plain `http://` only to a loopback address unless `allowInsecure`. */
  readonly coordinatorUrl: string
  readonly allowInsecure?: boolean
  /** The org's account: a key from the page's KeyVault, or the person's wallet (InjectedWallet.connect). */
  readonly wallet: AccountSigner
  readonly datasets: ReadonlyArray<TableInput>
  /**
   * Where the bundle's files are: the job-worker script (`jointly-job-worker.js`) and the WASM binaries. By
   * default the directory this bundle was loaded from.
   */
  readonly assets?: string
  /** Web Workers of the job pool; `navigator.hardwareConcurrency` by default. */
  readonly workers?: number
  /** What tasks leave this participant for the page (query outputs, predictions). */
  readonly onOutput?: (output: BrowserRunner.Output) => void
  /**
   * Name prefix of the IndexedDB database where vertical models are kept sealed under this profile's
   * non-extractable key (default "jointly-models"; one database per org address).
   */
  readonly storage?: string
}

/** A running browser participant: the session (AgentSession.Agent), and where the page hands over models it owns. */
export interface BrowserAgent extends AgentSession.Agent {
  /**
   * Keeps a `linear` model artifact this org owns for encrypted inference (`prediction.encrypted-linear` tasks
   * naming it as the owner), checked and sealed in IndexedDB; resolves with its content address, the `modelId`
   * tasks name. Rejects with ModelNotKept (InvalidModel: not a usable linear model; NoStore: no IndexedDB here).
   */
  readonly keepModel: (artifact: unknown) => Promise<KeptModel>
}
