#!/usr/bin/env node
// The `jointly` CLI, as installed: the built JavaScript (`dist/`), no TypeScript loader. In the repository,
// `jointly-dev.mjs` runs the same CLI from its TypeScript sources.
await import("../dist/main.js")
