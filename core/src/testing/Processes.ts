/**
 * Test support: the processes a test started, read from Linux's `/proc` (a test that checks a call-off or a
 * failed start left none behind skips elsewhere).
 */
import { readdir, readFile } from "node:fs/promises"

/** The live processes below `root` (zombies count as gone), with their command lines. */
export const descendants = async (root: number): Promise<Map<number, string>> => {
  const parents = new Map<number, number>()
  const commands = new Map<number, string>()
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8")
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (state === "Z") continue
      parents.set(pid, Number(ppid))
      commands.set(pid, (await readFile(`/proc/${pid}/cmdline`, "utf8")).replace(/\0/g, " "))
    } catch {
      /* gone meanwhile */
    }
  }
  const below = new Map<number, string>()
  const visit = (parent: number) => {
    for (const [pid, ppid] of parents) {
      if (ppid === parent && !below.has(pid)) {
        below.set(pid, commands.get(pid) ?? "")
        visit(pid)
      }
    }
  }
  visit(root)
  return below
}
