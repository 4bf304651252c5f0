import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

// In the repository every `@jointly/*` import resolves to TypeScript sources through the `@jointly/source`
// export condition (installed packages resolve to `dist/`): vite's resolver for the modules vitest transforms,
// and Node's (`--conditions`) for the forks, the worker threads they start and anything loaded outside vite.
const sourceCondition = "@jointly/source"

/**
 * The longest files, longest first (durations of a clean-clone CI run). A clean clone has no duration cache, and
 * vitest's fallback order (larger files first) started the notebooks — 8 of the run's 27 minutes in one file, a
 * small one — last: one worker ran them alone while the other sat idle for minutes. Starting the long files first
 * lets the short ones fill in around them. An unlisted file keeps vitest's order, after these.
 */
const longestFirst = [
  "examples/notebooks/notebooks.test.ts",
  "cli/src/cli.test.ts",
  "coordinator/src/Faults.test.ts",
  "coordinator/src/Cluster.kill.test.ts",
  "participant/src/browser/BrowserParticipant.test.ts",
  "scripts/packaging/pack-install.test.ts",
  // Third before its commands ran in the test's own process (279 s; about a third of that since).
  "coordinator/src/Governance.test.ts",
  "coordinator/src/dashboard/Dashboard.test.ts",
  "coordinator/src/Contribution.test.ts",
  "coordinator/src/Coordinator.test.ts",
  "coordinator/src/JointQuery.test.ts",
  "coordinator/src/FederatedLearning.test.ts",
  "coordinator/src/DataSources.test.ts"
]

class LongestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const sorted = await super.sort(files)
    const rank = (spec: TestSpecification) => {
      const at = longestFirst.findIndex((path) => spec.moduleId.endsWith(path))
      return at === -1 ? longestFirst.length : at
    }
    // Array.prototype.sort is stable: unlisted files keep vitest's order.
    return sorted.sort((a, b) => rank(a) - rank(b))
  }
}

export default defineConfig({
  resolve: { conditions: [sourceCondition, ...defaultServerConditions] },
  ssr: { resolve: { conditions: [sourceCondition, ...defaultServerConditions], externalConditions: [sourceCondition] } },
  test: {
    include: ["{core,coordinator,participant,wasm,backends,cli,examples}/src/**/*.test.ts", "examples/**/*.test.ts", "scripts/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    // Integration tests start anvil, PGlite and child processes: give them room on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    execArgv: [`--conditions=${sourceCondition}`],
    maxWorkers: 2,
    fileParallelism: true,
    sequence: { sequencer: LongestFirst }
  }
})
