/**
 * The participant agent in a browser page: the same session as on Node (AgentSession.ts: identity, signed
 * consent from the page's policy, stage relay, key floor), over the browser's parts — datasets the page hands
 * over (a CSV File/Blob or an in-memory table, TableInput.ts), read and computed on in the protocol worker
 * (ProtocolThread.ts → BrowserRunner.ts) with every batch job in a pool of Web Workers, the coordinator reached
 * with the page's own fetch and WebSocket (its certificate checked by the browser's store). The account key comes from the caller, typically the page's
 * KeyVault (IndexedDB, wrapped by a non-extractable WebCrypto key).
 *
 * The coordinator must be reachable from the page's origin: the page served by the coordinator's host, or a
 * coordinator that allows the page's origin.
 */
import * as EndpointRule from "@jointly/core/internal/net/EndpointRule"
import * as AgentSession from "../AgentSession.ts"
import type { AccountSigner, AgentEvent } from "../AgentSession.ts"
import type * as BrowserRunner from "./BrowserRunner.ts"
import * as ProtocolThread from "./ProtocolThread.ts"
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

/** The directory the running bundle was loaded from (esbuild keeps `import.meta.url` in ESM output). */
const here = (): string => new URL("./", import.meta.url).href

/** What a runner starts from: the page's config, resolved (the job pool's URLs, the options that reach the runner). */
export interface RunnerSetup {
  readonly self: string
  readonly sign: (message: Uint8Array) => Promise<string>
  readonly datasets: ReadonlyArray<TableInput>
  readonly jobs: { readonly workerUrl: string; readonly assets: string; readonly size?: number }
  readonly onOutput?: (output: BrowserRunner.Output) => void
  readonly unsafeTestKeySizes?: boolean
  readonly storage?: string
}

/**
 * Connects with the runner `startRunner` makes: the protocol worker (`start`), or — for the bench's baseline only,
 * in a bundle of its own so the shipped page carries no protocol code — stages on the page's thread.
 */
export const startWith = async (config: BrowserAgentConfig, startRunner: (setup: RunnerSetup) => Promise<BrowserRunner.BrowserRunner>) => {
  // Checked before anything loads: never a handshake over plain http to another host.
  const endpoint = EndpointRule.make(config.coordinatorUrl, { ...(config.allowInsecure === undefined ? {} : { allowInsecure: config.allowInsecure }) })
  const assets = new URL(config.assets ?? here()).href
  const runner = await startRunner({
    self: config.wallet.address,
    sign: (message) => config.wallet.signMessage(message),
    datasets: config.datasets,
    jobs: { workerUrl: new URL("jointly-job-worker.js", assets).href, assets, ...(config.workers === undefined ? {} : { size: config.workers }) },
    ...(config.onOutput === undefined ? {} : { onOutput: config.onOutput }),
    ...(config.unsafeTestKeySizes === undefined ? {} : { unsafeTestKeySizes: config.unsafeTestKeySizes }),
    ...(config.storage === undefined ? {} : { storage: config.storage })
  })
  const listeners = new Set<(event: AgentEvent) => void>()
  const session = AgentSession.connect(config, { endpoint, runner, listeners })
  return {
    ...session,
    /**
     * Keeps a `linear` model artifact this org owns for encrypted inference (`prediction.encrypted-linear` tasks
     * naming it as the owner), checked and sealed in IndexedDB; resolves with its content address, the `modelId`
     * tasks name. Rejects with ModelNotKept (InvalidModel: not a usable linear model; NoStore: no IndexedDB here).
     */
    keepModel: (artifact: unknown) => runner.keepModel(artifact)
  }
}

/** Starts the participant with every stage in the protocol worker (`jointly-protocol-worker.js`). */
export const start = (config: BrowserAgentConfig) =>
  startWith(config, ({ sign, onOutput, ...setup }) =>
    ProtocolThread.start({ workerUrl: new URL("jointly-protocol-worker.js", setup.jobs.assets).href, setup, sign, ...(onOutput === undefined ? {} : { onOutput }) }))

export type BrowserAgent = Awaited<ReturnType<typeof start>>
