#!/usr/bin/env node
// The public API report: for every published package, each public entry of its `exports` (never the internal
// subpath `./internal/*`) with every name it exports and that name's declaration as the shipped `.d.ts` states
// it; namespaces (`export * as Agent`) are listed member by member. Written to api/<package>.api.md and checked
// in, so a change of the public surface shows in review; scripts/api-report.test.ts fails when the reports
// differ from the built declarations. Reads the built packages (`npm run build` first).
//   node scripts/api-report.mjs           check (exit 1 and name the packages whose API changed)
//   node scripts/api-report.mjs --update  rewrite api/*.api.md
import { readFileSync, writeFileSync, existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = fileURLToPath(new URL("..", import.meta.url))
export const packages = ["core", "wasm", "backends", "participant", "coordinator", "cli"]
export const updateCommand = "npm run api:update"

/**
 * The public entries of a package: `exports` keys (and their `browser` conditions) and their declaration files,
 * the internal subpath excluded.
 */
const entriesOf = (pkg) => {
  const json = JSON.parse(readFileSync(join(root, pkg, "package.json"), "utf8"))
  return Object.entries(json.exports ?? {})
    .filter(([key, target]) => !key.includes("*") && typeof target === "object" && target.types)
    .flatMap(([key, target]) => {
      const specifier = key === "." ? json.name : `${json.name}${key.slice(1)}`
      // A `browser` condition is a public entry of its own (what a bundler targeting browsers resolves).
      const browser = typeof target.browser === "object" && target.browser.types ? [{ specifier: `${specifier} (browser)`, file: join(root, pkg, target.browser.types) }] : []
      return [...browser, { specifier, file: join(root, pkg, target.types) }]
    })
}

const oneLine = (text) => text.replace(/\s+/g, " ").trim()

/**
 * An object type's members in name order. tsc prints an inferred type literal (a Schema's `Type`, a stage's request)
 * with its members in the order it happened to check them, which changes from build to build with no change of API;
 * the members of a type literal have no order that matters, so the report sorts them (interfaces keep theirs).
 */
const memberName = (member) => (member.name && (ts.isIdentifier(member.name) || ts.isStringLiteral(member.name)) ? member.name.text : undefined)
const sortTypeLiterals = (context) => {
  const visit = (node) => {
    const visited = ts.visitEachChild(node, visit, context)
    if (!ts.isTypeLiteralNode(visited)) return visited
    const members = [...visited.members]
    if (!members.every((m) => (ts.isPropertySignature(m) || ts.isMethodSignature(m)) && memberName(m) !== undefined)) return visited
    const sorted = members.map((m, i) => [m, i]).sort(([a, i], [b, j]) => memberName(a).localeCompare(memberName(b)) || i - j).map(([m]) => m)
    return context.factory.updateTypeLiteralNode(visited, context.factory.createNodeArray(sorted))
  }
  return visit
}
const normalised = (node) => {
  const result = ts.transform(node, [sortTypeLiterals])
  const [out] = result.transformed
  result.dispose()
  return out
}
// Comments are documentation, not API: a reworded comment leaves the report as it was.
const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed })

/** Renders every report; `{ [package]: text }`. */
export const render = () => {
  const entries = packages.flatMap((pkg) => entriesOf(pkg).map((e) => ({ ...e, pkg })))
  const missing = entries.filter((e) => !existsSync(e.file))
  if (missing.length > 0) throw new Error(`not built: ${missing.map((e) => e.file).join(", ")} (run \`npm run build\`)`)
  const program = ts.createProgram(entries.map((e) => e.file), {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.Preserve,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
    noEmit: true,
    types: ["node"]
  })
  const checker = program.getTypeChecker()
  const describe = (symbol, name, lines, seen) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
    const declarations = target.declarations ?? []
    const moduleDeclaration = declarations.find((d) => ts.isSourceFile(d) || ts.isModuleDeclaration(d))
    if (moduleDeclaration && ts.isSourceFile(moduleDeclaration)) {
      if (seen.has(target)) return void lines.push(`- ${name}: (namespace, above)`)
      seen.add(target)
      lines.push(`- ${name}: namespace`)
      for (const member of [...checker.getExportsOfModule(target)].sort((a, b) => a.name.localeCompare(b.name))) describe(member, `${name}.${member.name}`, lines, seen)
      return
    }
    const texts = declarations.map((d) => {
      const node = ts.isVariableDeclaration(d) ? d.parent.parent : d
      return oneLine(printer.printNode(ts.EmitHint.Unspecified, normalised(node), node.getSourceFile()))
    })
    lines.push(`- ${name}`, ...[...new Set(texts)].map((t) => `  \`${t.replaceAll("`", "'")}\``))
  }
  const reports = {}
  for (const pkg of packages) {
    const lines = [`# API report: @jointly/${pkg}`, "", `Generated by \`${updateCommand}\` from the built declarations; do not edit. The internal subpath`, "(`./internal/*`, for sibling packages) is not public API and is not listed.", ""]
    for (const entry of entries.filter((e) => e.pkg === pkg)) {
      const source = program.getSourceFile(entry.file)
      const moduleSymbol = source && checker.getSymbolAtLocation(source)
      lines.push(`## ${entry.specifier}`, "")
      if (!moduleSymbol) {
        lines.push("(no exports)", "")
        continue
      }
      const seen = new Set()
      for (const symbol of [...checker.getExportsOfModule(moduleSymbol)].sort((a, b) => a.name.localeCompare(b.name))) describe(symbol, symbol.name, lines, seen)
      lines.push("")
    }
    if (entries.every((e) => e.pkg !== pkg)) lines.push("No public entry point (a command-line tool: the `jointly` bin).", "")
    reports[pkg] = lines.join("\n")
  }
  return reports
}

export const reportFile = (pkg) => join(root, "api", `${pkg}.api.md`)

/** The packages whose checked-in report differs from the built declarations. */
export const changed = (reports = render()) =>
  packages.filter((pkg) => !existsSync(reportFile(pkg)) || readFileSync(reportFile(pkg), "utf8") !== reports[pkg])

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reports = render()
  if (process.argv.includes("--update")) {
    for (const pkg of packages) writeFileSync(reportFile(pkg), reports[pkg])
    console.log(`wrote ${packages.map((p) => `api/${p}.api.md`).join(", ")}`)
  } else {
    const differ = changed(reports)
    if (differ.length > 0) {
      console.error(`the public API of ${differ.map((p) => `@jointly/${p}`).join(", ")} changed: review, then run \`${updateCommand}\` and commit api/*.api.md`)
      process.exitCode = 1
    } else console.log("public API matches api/*.api.md")
  }
}
