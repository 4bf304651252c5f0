// `prepack` of every published package (run by npm in the package's folder before `npm pack`/`npm publish`):
// the repository's LICENSE goes into the tarball, and a package whose build is missing refuses to pack.
import { copyFileSync, existsSync, readFileSync } from "node:fs"

const pkg = JSON.parse(readFileSync("package.json", "utf8"))
copyFileSync(new URL("../LICENSE", import.meta.url), "LICENSE")
const missing = Object.values(pkg.exports ?? {})
  .flatMap((target) => (typeof target === "string" ? [] : [target.default]))
  .filter((file) => !file.includes("*") && !existsSync(file))
if (!existsSync("dist") || missing.length > 0) {
  console.error(`${pkg.name}: not built (${missing.join(", ") || "no dist/"}); run \`npm run build\` first`)
  process.exit(1)
}
