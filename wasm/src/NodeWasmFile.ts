/** Node-only: reads the compiled kernel from a file: URL (Node's fetch does not serve file: URLs). */
import { readFile } from "node:fs/promises"

export const readWasmFile = async (url: URL): Promise<Uint8Array<ArrayBuffer>> => {
  try {
    return await readFile(url)
  } catch (cause) {
    throw new Error(`cannot read ${url.pathname}: run \`npm run build -w wasm\` first`, { cause })
  }
}
