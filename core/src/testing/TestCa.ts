/**
 * A certificate authority a test makes for itself with Debian's `openssl` (node:crypto has no X.509 issuing
 * API): a P-256 CA valid for two days and server certificates it signs for the names and addresses a test
 * listens on. The same commands stand in docs/deploy.md for an operator's own CA.
 */
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const openssl = (args: ReadonlyArray<string>) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] })

export interface Issued {
  readonly certFile: string
  readonly keyFile: string
  readonly cert: string
  readonly key: string
}

export interface TestCa {
  readonly certFile: string
  /** PEM of the CA certificate: what a participant's `ca` names. */
  readonly cert: string
  /**
   * Signs a server certificate for `names` (DNS names or IP addresses), stored under `<dir>/<file>.pem|.key`; with
   * `usage` "clientAuth", a TLS client certificate instead (its first name the subject).
   */
  readonly issue: (file: string, names: ReadonlyArray<string>, usage?: "serverAuth" | "clientAuth") => Issued
}

const isIp = (name: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":")

/** Makes a CA in `dir` (its key stays there); `name` becomes its common name. */
export const make = (dir: string, name = "Jointly test CA"): TestCa => {
  const certFile = join(dir, "ca.pem")
  const keyFile = join(dir, "ca.key")
  openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-out", certFile,
    "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  return {
    certFile,
    cert: readFileSync(certFile, "utf8"),
    issue: (file, names, usage = "serverAuth") => {
      const key = join(dir, `${file}.key`)
      const csr = join(dir, `${file}.csr`)
      const cert = join(dir, `${file}.pem`)
      const ext = join(dir, `${file}.ext`)
      writeFileSync(ext, [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature",
        `extendedKeyUsage=${usage}`,
        `subjectAltName=${names.map((n) => (isIp(n) ? `IP:${n}` : `DNS:${n}`)).join(",")}`
      ].join("\n") + "\n")
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${names[0]}`])
      openssl(["x509", "-req", "-in", csr, "-CA", certFile, "-CAkey", keyFile, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext])
      return { certFile: cert, keyFile: key, cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") }
    }
  }
}
