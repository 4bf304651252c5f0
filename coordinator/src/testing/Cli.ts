/**
 * Test helper: runs the `jointly` CLI as its own process (the bin a local cluster spawns) and resolves with its exit
 * code and everything it wrote, for tests that exercise a command as a user would.
 */
import { spawn } from "node:child_process"
import * as LocalCluster from "@jointly/cli/internal/local/LocalCluster"

export const run = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [LocalCluster.cliPath(), ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
