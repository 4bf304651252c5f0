// comlink 4.4 ships the ESM node adapter as a bare `.mjs` without a `.d.mts` beside it: borrow the UMD typings.
declare module "comlink/dist/esm/node-adapter.mjs" {
  export { default } from "comlink/dist/umd/node-adapter"
}
