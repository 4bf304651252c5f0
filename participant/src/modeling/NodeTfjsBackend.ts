/**
 * Where Node finds the tfjs WASM binaries: the installed package's own dist folder, so nothing is downloaded.
 * Node-only (node:module, node:path), kept out of TfjsRuntime.ts so the job registry that imports it stays
 * browser-safe; a browser embedder calls `setWasmPaths` with its bundler's asset URL instead.
 */
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

export const wasmDir = (): string => {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + "/"
}
