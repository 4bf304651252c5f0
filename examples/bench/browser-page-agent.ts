/**
 * The bench's baseline only (browser-protocol.ts): the browser participant with every stage on the page's main
 * thread — the same session and runner as the shipped agent, but BrowserRunner started on the page instead of in
 * the protocol worker. Bundled by browser.ts as `bench-page-agent.js`, so the shipped page bundle
 * (`jointly-participant.js`) carries no protocol code.
 */
import type { BrowserAgentConfig } from "@jointly/participant/internal/browser/BrowserAgent"
import * as BrowserRunner from "@jointly/participant/internal/browser/BrowserRunner"
import * as BrowserSession from "@jointly/participant/internal/browser/BrowserSession"

export * as KeyVault from "@jointly/participant/internal/browser/KeyVault"

export const start = (config: BrowserAgentConfig) =>
  BrowserSession.startWith(config, ({ jobs, ...setup }) => BrowserRunner.start({ ...setup, workers: jobs }))
