/**
 * The node-api addon of ../native (groups.node, built by `npm run build -w backends`), opened once per thread for
 * every module that uses a part of it (NativeGroups.ts, NativeBigInt.ts): the OS loader keeps it for the thread's
 * life whatever holds the module, so one `process.dlopen` serves all.
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const addonPath = fileURLToPath(new URL("../../dist/native/groups.node", import.meta.url))

/** The addon's exports (each part present only where its library was found), or why it could not be opened. */
export type Opened = { readonly exports: Record<string, unknown>; readonly problem?: undefined } | { readonly exports?: undefined; readonly problem: string }

let opened: Opened | undefined

export const open = (): Opened => {
  if (opened !== undefined) return opened
  if (!existsSync(addonPath)) return { problem: "addon not built (npm run build -w backends)" }
  try {
    const module = { exports: {} as Record<string, unknown> }
    process.dlopen(module, addonPath)
    opened = { exports: module.exports }
  } catch (error) {
    opened = { problem: error instanceof Error ? error.message : String(error) }
  }
  return opened
}
