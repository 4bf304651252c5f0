#!/usr/bin/env node
// The `jointly` CLI, as installed: the built JavaScript (`dist/`), no TypeScript loader. In the repository,
// `jointly-dev.mjs` runs the same CLI from its TypeScript sources.
const main = new URL("../dist/main.js", import.meta.url)
try {
  await import(main.href)
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes(main.pathname)) throw error
  console.error("jointly: the CLI is not built (no dist/main.js): run `npm run build`, or `node cli/bin/jointly-dev.mjs` from sources")
  process.exit(1)
}
