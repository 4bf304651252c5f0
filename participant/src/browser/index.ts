/**
 * The browser entry of `@jointly/participant` (bundled by scripts/bundle-browser.mjs into
 * `jointly-participant.js` with its job worker and WASM binaries beside it):
 *
 *   import { BrowserAgent, KeyVault } from "./jointly-participant.js"
 *   const vault = KeyVault.make()
 *   const agent = await BrowserAgent.start({ coordinatorUrl, wallet: await vault.open(),
 *     datasets: [{ name: "visits", csv: fileInput.files[0], columns: [{ name: "age", type: "integer" }] }],
 *     policy: (question, human) => … })
 *
 * No Node built-in is on its import graph (`npm run check:portable`).
 */
export * as BrowserAgent from "./BrowserAgent.ts"
export * as InjectedWallet from "./InjectedWallet.ts"
export * as KeyVault from "./KeyVault.ts"
export { type KeptModel, ModelNotKept } from "./KeptModel.ts"
export * as TableInput from "./TableInput.ts"
export { type AccountSigner, AdmissionRefused, type AgentEvent, type ConsentDecision, type ConsentPolicy, type ConsentQuestion, type HumanChannel } from "../AgentSession.ts"
