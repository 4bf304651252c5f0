/**
 * The public API of every published package equals its checked-in report (api/*.api.md): a change to what a
 * package exports, or to an exported declaration, fails here until the report is regenerated and committed —
 * so the change is seen in review. Reads the built declarations (`npm test` builds first).
 */
import { describe, expect, it } from "vitest"
// @ts-expect-error: a plain .mjs script without declarations
import * as Report from "./api-report.mjs"

describe("the public API report", () => {
  it("matches the built declarations of every package", () => {
    const reports = Report.render() as Record<string, string>
    const changed = Report.changed(reports) as Array<string>
    expect(changed, `the public API of ${changed.join(", ")} changed: review it, then run \`${Report.updateCommand}\` and commit api/*.api.md`).toEqual([])
    // The report lists public names only, never the internal subpath.
    expect(reports["participant"]).toContain("- Agent.start")
    expect(reports["participant"]).not.toMatch(/^## @jointly\/participant\/internal/m)
  })
})
