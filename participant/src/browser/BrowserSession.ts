/**
 * What BrowserAgent.start does, with the runner left open: the page's config resolved (the transport rule checked
 * first, the bundle's asset URLs, the job pool), the runner started, the session connected over it. The shipped
 * agent passes the protocol worker (ProtocolThread.ts); only the bench's baseline bundle passes BrowserRunner on
 * the page's thread (examples/bench/browser-page-agent.ts), so the shipped page bundle carries no protocol code.
 */
import * as EndpointRule from "@jointly/core/internal/net/EndpointRule"
import * as AgentSession from "../AgentSession.ts"
import type { AgentEvent } from "../AgentSession.ts"
import type { BrowserAgent, BrowserAgentConfig } from "./BrowserAgentConfig.ts"
import type * as BrowserRunner from "./BrowserRunner.ts"
import type { TableInput } from "./TableInput.ts"

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
export const startWith = async (config: BrowserAgentConfig, startRunner: (setup: RunnerSetup) => Promise<BrowserRunner.BrowserRunner>): Promise<BrowserAgent> => {
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
  return { ...session, keepModel: (artifact) => runner.keepModel(artifact) }
}
