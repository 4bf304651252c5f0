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
import type { BrowserAgent, BrowserAgentConfig } from "./BrowserAgentConfig.ts"
import * as BrowserSession from "./BrowserSession.ts"
import * as ProtocolThread from "./ProtocolThread.ts"

export type { BrowserAgent, BrowserAgentConfig } from "./BrowserAgentConfig.ts"

/** Starts the participant with every stage in the protocol worker (`jointly-protocol-worker.js`). */
export const start = (config: BrowserAgentConfig): Promise<BrowserAgent> =>
  BrowserSession.startWith(config, ({ sign, onOutput, ...setup }) =>
    ProtocolThread.start({ workerUrl: new URL("jointly-protocol-worker.js", setup.jobs.assets).href, setup, sign, ...(onOutput === undefined ? {} : { onOutput }) }))
