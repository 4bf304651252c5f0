/**
 * @jointly/wasm — the WebAssembly implementation of the compute kernels named in core/src/compute/Kernels.ts
 * (the Node OpenSSL fast path lives in core/src/compute/NodeKernels.ts). The loader below uses no Node-only API on the path browsers take: pass the
 * `.wasm` bytes, a compiled `WebAssembly.Module`, or a URL to fetch; without an argument it locates
 * `dist/jointly-bigint.wasm` beside this package through `import.meta.url` (which bundlers rewrite to an asset URL).
 */
import type { BigIntKernels } from "@jointly/core/compute/Kernels.ts"
import { wasmKernelsFromBytes, wasmKernelsFromModule } from "./WasmKernels.ts"

export { wasmKernelsFromBytes, wasmKernelsFromInstance, wasmKernelsFromModule } from "./WasmKernels.ts"

/** Where the compiled kernel comes from: its bytes, a compiled module, a fetch response, or a URL. */
export type WasmSource = BufferSource | WebAssembly.Module | Response | URL | string

/** URL of the kernel produced by `npm run build -w wasm`. */
export const defaultWasmUrl = (): URL => new URL("../dist/jointly-bigint.wasm", import.meta.url)

const bytesOf = async (url: URL): Promise<BufferSource> => {
  if (url.protocol === "file:") {
    // Only Node loads modules from file: URLs; browsers and workers fetch. The specifier is a variable so that
    // browser bundlers do not pull the Node-only reader (and node:fs) into a browser bundle.
    const nodeReader = "./NodeWasmFile.ts"
    const { readWasmFile } = (await import(/* @vite-ignore */ nodeReader)) as typeof import("./NodeWasmFile.ts")
    return readWasmFile(url)
  }
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
