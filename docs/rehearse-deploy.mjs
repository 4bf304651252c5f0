#!/usr/bin/env node
// Rehearses docs/deploy.md: runs every ```sh block of the guide, in order, exactly as written, in one bash
// session on this machine. Each block's `# on: <host>` line says where it runs: the operator's host, each
// clinic's host (the block runs once per clinic, with CLINIC_NAME and CLINIC_PASSPHRASE set), or every host.
// Hosts are directories under a temporary root; the whole run happens inside a network namespace of its own,
// so the chain's and the coordinator's ports on 0.0.0.0 are private to it (needs root and iproute2).
// Lines ending in `# keeps running` are started in the background and awaited until they print their ready
// line. Between blocks the rehearsal does only what the guide tells a person to do by hand: hand files over,
// send an address, set the variables. Usage: sudo node docs/rehearse-deploy.mjs [--keep]
import { execFileSync, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const guide = readFileSync(join(repo, "docs", "deploy.md"), "utf8")
// Blocks may sit indented in a list item: dedent them by their fence's indentation.
const blocks = [...guide.matchAll(/^( *)```sh\n([\s\S]*?)^ *```/gm)].map((m) => m[2].split("\n").map((l) => l.slice(m[1].length)).join("\n"))
const clinics = [["north", "North Clinic"], ["south", "South Clinic"], ["east", "East Clinic"]]
const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`
const secret = () => randomBytes(18).toString("base64url")
const root = mkdtempSync(join(tmpdir(), "jointly-rehearsal-"))
const pg = execFileSync("bash", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"]).toString().trim()

const lines = [
  "set -euo pipefail",
  `export JOINTLY_HOME=${quote(repo)} JOINTLY_LOG=error`,
  `root=${quote(root)}`,
  "export COORDINATOR=localhost RPC_URL=http://127.0.0.1:8545 POSTGRES_HOST=127.0.0.1",
  ...["SUPERVISOR", "COORDINATOR", "ANALYST", "NEXT_COORDINATOR"].map((who) => `export ${who}_PASSPHRASE=${secret()}`),
  `export POSTGRES_PASSWORD=${secret()}`,
  // The operator's PostgreSQL server (the guide assumes one): a throwaway cluster owned by the postgres user.
  `chmod 711 "$root" && mkdir -p "$root/pg" && chown postgres "$root/pg" && runuser -u postgres -- ${pg}/initdb -D "$root/pg/data" -U postgres --auth=trust >/dev/null`,
  `runuser -u postgres -- ${pg}/pg_ctl -D "$root/pg/data" -o "-c listen_addresses=127.0.0.1 -k $root/pg" -l "$root/pg/log" -w start >/dev/null`,
  `export POSTGRES_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres`,
  `trap 'runuser -u postgres -- ${pg}/pg_ctl -D "$root/pg/data" -m immediate stop >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true' EXIT`,
  "mkdir -p \"$root/operator\"",
  // A long-running command: background it, remember its pid, wait for its ready line.
  'started() { local log=$1; for _ in $(seq 1 600); do grep -q \'"event":"ready"\' "$log" && return 0; sleep 1; done; cat "$log"; return 1; }'
]
let step = 0
for (const block of blocks) {
  const body = block.split("\n").filter((l) => l !== "")
  const on = /^# on: (.+)$/.exec(body[0] ?? "")?.[1]
  if (on === undefined) throw new Error(`a sh block without "# on:": ${body[0]}`)
  const hosts = on === "every host" ? ["."] : on === "each clinic" ? clinics.map(([dir]) => dir) : [on]
  for (const host of hosts) {
    step++
    lines.push(`echo "--- step ${step}: ${on}${on === "each clinic" ? ` (${host})` : ""}" >&2`)
    if (on === "each clinic") {
      const [, name] = clinics.find(([dir]) => dir === host)
      // By hand: the clinic's own name, passphrase and rows; ca.pem and deployment.json from the operator.
      lines.push(`mkdir -p "$root/${host}" && cd "$root/${host}"`, `export CLINIC_NAME=${quote(name)}`,
        `export CLINIC_PASSPHRASE="\${${host.toUpperCase()}_PASSPHRASE:=${secret()}}"`,
        `[ -f pima.csv ] || cp "$JOINTLY_HOME/examples/demo/pima-${host}.csv" pima.csv`,
        `[ ! -f "$root/operator/ca.pem" ] || cp "$root/operator/ca.pem" "$root/operator/deployment.json" . 2>/dev/null || true`)
    } else lines.push(`cd "$root/${host === "." ? "operator" : host}"`)
    for (const line of body.slice(1).join("\n").replace(/\\\n\s*/g, " ").split("\n")) {
      // By hand: a person waits for the stopped process to be gone before starting the next one.
      if (line.startsWith("kill -TERM ")) {
        lines.push(line, `while kill -0 "$COORDINATOR_PID" 2>/dev/null; do sleep 1; done`)
        continue
      }
      const running = / # keeps running$/.exec(line)
      if (running) {
        const command = line.slice(0, running.index)
        const log = `$root/${host === "." ? "operator" : host}/step-${step}.log`
        lines.push(`${command} > "${log}" 2>&1 &`, `pid=$!`, `started "${log}"`, `cat "${log}" | head -1`)
        // `jointly` is a shell function, so the background job is a subshell: the coordinator is its node child.
        if (command.includes("jointly coordinator")) lines.push(`export COORDINATOR_PID="$(pgrep -n -P "$pid" node)"`)
      } else lines.push(line)
    }
    // The rehearsal's own names and addresses, over the guide's examples.
    if (on === "every host") lines.push("export COORDINATOR=localhost RPC_URL=http://127.0.0.1:8545 POSTGRES_HOST=127.0.0.1")
    // By hand: each clinic sends its address to the operator once it has registered.
    if (on === "each clinic" && body.some((l) => l.includes("org register"))) {
      lines.push(`export ${host.toUpperCase()}_ADDRESS="$(jointly keys address data/identity.json)"`)
    }
  }
}
// After both rotations, the same task again: the renewed certificate and the new key serve it.
lines.push(`cd "$root/operator"`, 'echo "--- after the rotations: the first task again" >&2', "export JOINTLY_KEY_PASSPHRASE=\"$ANALYST_PASSPHRASE\"",
  'jointly task submit task.json --coordinator "https://$COORDINATOR:8443" --ca ca.pem --keystore analyst-key.json --watch --json | grep -E \'"status"|"count"\'')
lines.push('echo "--- rehearsal passed" >&2')
const script = join(root, "rehearsal.sh")
writeFileSync(script, lines.join("\n") + "\n")

const ns = `jtguide${randomBytes(3).toString("hex")}`
execFileSync("ip", ["netns", "add", ns])
try {
  execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"])
  const run = spawnSync("ip", ["netns", "exec", ns, "bash", script], { stdio: "inherit" })
  process.exitCode = run.status ?? 1
} finally {
  for (const pid of execFileSync("ip", ["netns", "pids", ns]).toString().split("\n").filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL")
    } catch {}
  }
  execFileSync("ip", ["netns", "del", ns])
  if (!process.argv.includes("--keep")) execFileSync("rm", ["-rf", root])
  else process.stderr.write(`rehearsal files kept in ${root}\n`)
}
