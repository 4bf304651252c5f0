/**
 * Where the Node backends find the WASM binaries they load: files of installed packages, read from disk, so
 * nothing is downloaded (Node's fetch does not serve file: URLs). The portable backends take URLs or bytes from
 * their embedder instead (PortableBackends.ts).
 */
import { readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

/** The tfjs WASM binaries: the installed `@tensorflow/tfjs-backend-wasm` package's own dist folder. */
export const tfjsWasmDir = (): string => {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + "/"
}

/** The bytes of a file: URL, e.g. `@jointly/wasm`'s compiled big-integer kernel. */
export const readWasmFile = async (url: URL): Promise<Uint8Array<ArrayBuffer>> => {
  try {
    return await readFile(url)
  } catch (cause) {
    throw new Error(`cannot read ${url.pathname}: run \`npm run build -w wasm\` first`, { cause })
  }
}
