/**
 * @jointly/wasm — the WebAssembly implementation of the compute kernels named in core/src/compute/Kernels.ts
 * (composed with the other backends in `@jointly/backends`). The loader uses no Node-only API: pass the `.wasm`
 * bytes, a compiled `WebAssembly.Module`, or a URL to fetch; without an argument it fetches
 * `dist/jointly-bigint.wasm` beside this package through `import.meta.url` (which bundlers rewrite to an asset
 * URL). Node cannot fetch file: URLs: its backends read `defaultWasmUrl()` from disk and pass the bytes.
 */
import type { BigIntKernels } from "@jointly/core/internal/compute/Kernels"
import { wasmKernelsFromBytes, wasmKernelsFromModule } from "./WasmKernels.ts"

export { wasmKernelsFromBytes, wasmKernelsFromInstance, wasmKernelsFromModule } from "./WasmKernels.ts"

/** Where the compiled kernel comes from: its bytes, a compiled module, a fetch response, or a URL. */
export type WasmSource = BufferSource | WebAssembly.Module | Response | URL | string

/** URL of the kernel produced by `npm run build -w wasm`. */
export const defaultWasmUrl = (): URL => new URL("../dist/jointly-bigint.wasm", import.meta.url)

const bytesOf = async (url: URL): Promise<BufferSource> => {
  const response = await fetch(url)
  if (!response.ok) throw new Error(`cannot fetch ${url.href}: HTTP ${response.status}`)
  return response.arrayBuffer()
}

/** Loads the WebAssembly `BigIntKernels` (name "wasm"): Montgomery multiplication, sliding-window modPow. */
export const loadWasmKernels = async (source: WasmSource = defaultWasmUrl()): Promise<BigIntKernels> => {
  if (source instanceof WebAssembly.Module) return wasmKernelsFromModule(source)
  if (typeof source === "string") return wasmKernelsFromBytes(await bytesOf(new URL(source, import.meta.url)))
  if (source instanceof URL) return wasmKernelsFromBytes(await bytesOf(source))
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return wasmKernelsFromBytes(source)
  return wasmKernelsFromBytes(await source.arrayBuffer())
}
