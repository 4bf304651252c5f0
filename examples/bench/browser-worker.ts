/**
 * The Web Worker of `npm run bench -- browser`: builds the portable backends (as the browser participant's job
 * workers do) and times browser-ops.ts in them; posts progress lines and, at the end, the rates.
 */
import * as Backends from "@jointly/backends/internal/Backends"
import * as PortableBackends from "@jointly/backends/portable"
import { measure, type OpsInput } from "./browser-ops.ts"

self.onmessage = async (message: MessageEvent<{ readonly assets: string; readonly input: OpsInput }>) => {
  try {
    const { assets, input } = message.data
    const backends = await Backends.build(PortableBackends.layer({ bigintWasm: new URL("jointly-bigint.wasm", assets), tfjsWasmPaths: assets }))
    const rates = await measure(backends.context, input, (line) => self.postMessage({ progress: line }))
    self.postMessage({ rates })
  } catch (error) {
    self.postMessage({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) })
  }
}
