/**
 * The registry of benchmark suites: name → lazy loader, so `npm run bench -- paillier` loads only that suite.
 * To add one, write `examples/bench/<name>.ts` exporting `run(): Promise<void>` (emitting lines with
 * Report.emit) and add a line here.
 */
export interface Suite {
  readonly run: () => Promise<void>
}

export const suites: Record<string, () => Promise<Suite>> = {
  "ack-size": () => import("./ack-size.ts"),
  api: () => import("./api.ts"),
  browser: () => import("./browser.ts"),
  chain: () => import("./chain.ts"),
  horizontal: () => import("./horizontal.ts"),
  "ipfs-gc": () => import("./ipfs-gc.ts"),
  load: () => import("./load.ts"),
  paillier: () => import("./paillier.ts"),
  psi: () => import("./psi.ts"),
  "psi-memory": () => import("./psi-memory.ts"),
  "psi-sum-values": () => import("./psi-sum-values.ts"),
  stats: () => import("./stats.ts"),
  "horizontal-svm": () => import("./secure-svm.ts"),
  vertical: () => import("./vertical.ts"),
  secureboost: () => import("./secureboost.ts"),
  sources: () => import("./sources.ts"),
  retrieval: () => import("./retrieval.ts"),
  "fedavg-memory": () => import("./fedavg-memory.ts")
}
