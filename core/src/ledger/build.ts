/**
 * Compiles the ledger contracts with the bundled solc-js (offline) and generates typed ethers 6 bindings.
 *
 * Imports of `@openzeppelin/...` resolve to the OpenZeppelin Contracts 5 packages in node_modules (audited ECDSA,
 * EIP-712, AccessControl, Pausable, UUPS proxies, TimelockController); their versions are part of the build stamp.
 *
 * Output (gitignored, DESIGN.md §5): `generated/artifacts/<Name>.json` (ABI, bytecode, compiler, storage
 * layout) and `generated/<Name>.ts` (the `as const` ABI, bytecode, enums from the AST, struct and event types, a
 * typed contract interface, `connect`, `deployData`, `decodeLog`, `decodeError`) for every contract of
 * `contracts/*.sol`, `contracts/testing/*.sol` (upgrade fixtures for tests) and the OpenZeppelin contracts the
 * deployment creates (`ERC1967Proxy`, `TimelockController`).
 *
 * Upgradeable contracts keep their storage layout: each has a released layout in `contracts/layouts/<Name>.json`,
 * and the build fails when the new layout is not an extension of it (`StorageLayout.ts`). After a release,
 * `npm run build -w core -- --accept-layouts` records the current layouts as the new baseline.
 *
 * Skips all work when the sources, settings and this generator are unchanged since the last run. Run by
 * `npm run build -w core`.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import solc from "solc"
import { check, type SolcStorageLayout } from "./StorageLayout.ts"

const here = dirname(fileURLToPath(import.meta.url))
const contractsDir = join(here, "contracts")
const layoutsDir = join(contractsDir, "layouts")
const outDir = join(here, "generated")
const artifactsDir = join(outDir, "artifacts")
const stampFile = join(outDir, ".build-hash")
const require = createRequire(import.meta.url)

// cancun: OpenZeppelin 5.7's EIP-712 reaches Strings/Bytes, which use MCOPY. A consortium network needs the
// Cancun rules (Besu 24.1.2+, geth 1.13.12+; anvil and Hardhat's EDR by default).
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"], "": ["ast"] } }
} as const

/** OpenZeppelin contracts the deployment creates itself: they get bindings like ours. */
const external = [
  "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol",
  "@openzeppelin/contracts/governance/TimelockController.sol"
] as const

/** The contracts behind an upgradeable proxy: their storage layout is checked against the released one. */
const upgradeable = ["ConsortiumRegistry", "TaskLedger", "Settlement"] as const

interface AbiParam {
  readonly name: string
  readonly type: string
  readonly internalType?: string
  readonly indexed?: boolean
  readonly components?: ReadonlyArray<AbiParam>
}
interface AbiItem {
  readonly type: string
  readonly name?: string
  readonly inputs?: ReadonlyArray<AbiParam>
  readonly outputs?: ReadonlyArray<AbiParam>
  readonly stateMutability?: string
}
interface AstNode {
  readonly nodeType: string
  readonly name?: string
  readonly nodes?: ReadonlyArray<AstNode>
  readonly members?: ReadonlyArray<{ readonly name: string }>
}

const solFiles = (dir: string, prefix = ""): Array<string> =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".sol")).sort().map((f) => `${prefix}${f}`) : []

/** Resolves `@openzeppelin/...` (and any other package import) from node_modules; solc asks for each file once. */
const findImport = (path: string): { contents: string } | { error: string } => {
  try {
    return { contents: readFileSync(require.resolve(path), "utf8") }
  } catch {
    return { error: `cannot resolve import ${path}` }
  }
}

const packageVersion = (name: string): string => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), "utf8")).version

const main = () => {
  const acceptLayouts = process.argv.includes("--accept-layouts")
  // lib/ holds the bases and libraries the contracts import: no binding of their own.
  const bound = [...solFiles(contractsDir), ...solFiles(join(contractsDir, "testing"), "testing/")]
  const libraryNames = solFiles(join(contractsDir, "lib"), "lib/")
  const sources: Record<string, { content: string }> = Object.fromEntries(
    [...bound, ...libraryNames].map((name) => [name, { content: readFileSync(join(contractsDir, name), "utf8") }])
  )
  for (const path of external) sources[path] = { content: readFileSync(require.resolve(path), "utf8") }
  const baselines = Object.fromEntries(
    upgradeable.map((name) => {
      const file = join(layoutsDir, `${name}.json`)
      return [name, existsSync(file) ? readFileSync(file, "utf8") : null]
    })
  )
  const stamp = createHash("sha256")
    .update(solc.version())
    .update(JSON.stringify(settings))
    .update(packageVersion("@openzeppelin/contracts"))
    .update(packageVersion("@openzeppelin/contracts-upgradeable"))
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .update(readFileSync(join(here, "StorageLayout.ts")))
    .update(JSON.stringify(sources))
    .update(JSON.stringify(baselines))
    .digest("hex")
  const units = [
    ...bound.map((sourceName) => ({ sourceName, contractName: sourceName.replace(/^testing\//, "").replace(/\.sol$/, "") })),
    ...external.map((sourceName) => ({ sourceName, contractName: sourceName.replace(/^.*\//, "").replace(/\.sol$/, "") }))
  ]
  const expected = units.map((u) => join(outDir, `${u.contractName}.ts`))
  if (!acceptLayouts && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && expected.every((f) => existsSync(f))) {
    console.error("ledger contracts up to date")
    return
  }

  const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings }), { import: findImport }))
  const diagnostics: ReadonlyArray<{ severity: string; formattedMessage: string }> = output.errors ?? []
  for (const d of diagnostics) console.error(d.formattedMessage)
  if (diagnostics.some((d) => d.severity === "error")) {
    process.exitCode = 1
    return
  }

  // Storage layouts first: an incompatible upgrade fails the build before any binding is written.
  const layouts = new Map<string, SolcStorageLayout>()
  for (const { sourceName, contractName } of units) {
    const compiled = output.contracts[sourceName]?.[contractName]
    if (compiled === undefined) throw new Error(`${sourceName} must define contract ${contractName}`)
    layouts.set(contractName, compiled.storageLayout)
  }
  mkdirSync(layoutsDir, { recursive: true })
  for (const name of upgradeable) {
    const current = layouts.get(name)!
    const baseline = baselines[name]
    if (acceptLayouts || baseline === null || baseline === undefined) {
      writeFileSync(join(layoutsDir, `${name}.json`), JSON.stringify(current, null, 2) + "\n")
      console.error(`${name}: storage layout recorded as the released baseline`)
      continue
    }
    const problems = check(JSON.parse(baseline) as SolcStorageLayout, current)
    if (problems.length > 0) {
      for (const p of problems) console.error(`${name}: ${p}`)
      console.error(`${name}: the storage layout is not an extension of contracts/layouts/${name}.json; an upgrade would corrupt state`)
      process.exitCode = 1
      return
    }
  }

  mkdirSync(artifactsDir, { recursive: true })
  for (const { sourceName, contractName } of units) {
    const compiled = output.contracts[sourceName][contractName]
    const abi: ReadonlyArray<AbiItem> = compiled.abi
    const bytecode = `0x${compiled.evm.bytecode.object}`
    const deployedBytecode = `0x${compiled.evm.deployedBytecode.object}`
    const enums = collectEnums(output.sources[sourceName].ast, contractName)
    writeFileSync(
      join(artifactsDir, `${contractName}.json`),
      JSON.stringify({ contractName, compiler: `solc ${solc.version()}`, settings, abi, bytecode, deployedBytecode, storageLayout: compiled.storageLayout }, null, 2) + "\n"
    )
    writeFileSync(join(outDir, `${contractName}.ts`), generateBinding(contractName, sourceName, abi, bytecode, enums))
  }
  writeFileSync(stampFile, stamp)
  console.error(`compiled ${units.map((u) => u.contractName).join(", ")} with solc ${solc.version()}`)
}

const collectEnums = (ast: AstNode, contractName: string): ReadonlyArray<{ name: string; members: string[] }> => {
  const contract = ast.nodes?.find((n) => n.nodeType === "ContractDefinition" && n.name === contractName)
  return (contract?.nodes ?? [])
    .filter((n) => n.nodeType === "EnumDefinition")
    .map((n) => ({ name: n.name!, members: (n.members ?? []).map((m) => m.name) }))
}

// ---------------------------------------------------------------- binding generator

/** Members of ethers' BaseContract that a generated method must not shadow. */
const reserved = new Set([
  "target", "interface", "runner", "filters", "fallback", "connect", "attach", "getAddress", "getDeployedCode",
  "waitForDeployment", "deploymentTransaction", "getFunction", "getEvent", "queryTransaction", "queryFilter",
  "on", "once", "emit", "listenerCount", "listeners", "off", "removeAllListeners", "addListener", "removeListener"
])

const generateBinding = (
  contractName: string,
  sourceName: string,
  abi: ReadonlyArray<AbiItem>,
  bytecode: string,
  enums: ReadonlyArray<{ name: string; members: string[] }>
): string => {
  const structs = new Map<string, string>()
  const structName = (p: AbiParam) => p.internalType?.match(/^struct (?:\w+\.)?(\w+)/)?.[1]

  const outType = (p: AbiParam): string => {
    const array = p.type.match(/^(.*)\[\d*\]$/)
    if (array) return `ReadonlyArray<${outType({ ...p, type: array[1]!, internalType: p.internalType?.replace(/\[\d*\]$/, "") })}>`
    if (p.type === "tuple") {
      const body = `{ ${(p.components ?? []).map((c) => `readonly ${c.name}: ${outType(c)}`).join("; ")} }`
      const name = structName(p)
      if (name === undefined) return body
      structs.set(name, body)
      return name
    }
    if (p.type === "address" || p.type === "string" || p.type.startsWith("bytes")) return "string"
    if (p.type === "bool") return "boolean"
    if (/^u?int\d*$/.test(p.type)) return "bigint"
    throw new Error(`unsupported ABI type ${p.type}`)
  }
  const inType = (p: AbiParam): string => {
    const array = p.type.match(/^(.*)\[\d*\]$/)
    if (array) return `ReadonlyArray<${inType({ ...p, type: array[1]!, internalType: undefined })}>`
    if (p.type === "tuple") return `{ ${(p.components ?? []).map((c) => `readonly ${c.name}: ${inType(c)}`).join("; ")} }`
    if (p.type === "address" || p.type === "string") return "string"
    if (p.type.startsWith("bytes")) return "BytesLike"
    if (p.type === "bool") return "boolean"
    if (/^u?int\d*$/.test(p.type)) return "BigNumberish"
    throw new Error(`unsupported ABI type ${p.type}`)
  }
  const argName = (p: AbiParam, i: number) => (p.name === "" ? `arg${i}` : p.name)
  const tupleOf = (ps: ReadonlyArray<AbiParam>, t: (p: AbiParam) => string) =>
    `[${ps.map((p, i) => `${argName(p, i)}: ${t(p)}`).join(", ")}]`
  const returnType = (outs: ReadonlyArray<AbiParam>): string => {
    if (outs.length === 0) return "void"
    if (outs.length === 1) return outType(outs[0]!)
    // ethers returns a Result: positional and, for named outputs, by name.
    const named = outs.filter((o) => o.name !== "").map((o) => `readonly ${o.name}: ${outType(o)}`)
    return `readonly [${outs.map(outType).join(", ")}]${named.length > 0 ? ` & { ${named.join("; ")} }` : ""}`
  }

  const functions = abi.filter((i) => i.type === "function")
  const events = abi.filter((i) => i.type === "event")
  const errors = abi.filter((i) => i.type === "error")
  const constructorInputs = abi.find((i) => i.type === "constructor")?.inputs ?? []
  const names = functions.map((f) => f.name!)
  const overloaded = names.filter((n, i) => names.indexOf(n) !== i)
  if (overloaded.length > 0) throw new Error(`${contractName}: overloaded functions are not supported: ${overloaded}`)
  const clash = names.filter((n) => reserved.has(n))
  if (clash.length > 0) throw new Error(`${contractName}: functions shadow ethers BaseContract members: ${clash}`)

  const methodLines = functions.map((f) => {
    const view = f.stateMutability === "view" || f.stateMutability === "pure"
    const r = returnType(f.outputs ?? [])
    const d = view ? r : "ContractTransactionResponse"
    return `  readonly ${f.name}: BaseContractMethod<${tupleOf(f.inputs ?? [], inType)}, ${r}, ${d}>`
  })
  const eventLines = events.map(
    (e) => `  readonly ${e.name}: { ${(e.inputs ?? []).map((p, i) => `readonly ${argName(p, i)}: ${outType(p)}`).join("; ")} }`
  )
  const errorLines = errors.map(
    (e) => `  readonly ${e.name}: { ${(e.inputs ?? []).map((p, i) => `readonly ${argName(p, i)}: ${outType(p)}`).join("; ")} }`
  )
  const enumLines = enums.flatMap((e) => [
    `export const ${e.name} = ${JSON.stringify(e.members)} as const`,
    `export type ${e.name} = (typeof ${e.name})[number]`,
    ""
  ])
  const structLines = [...structs].flatMap(([name, body]) => [`export interface ${name} ${body}`, ""])
  const ctorParams = (constructorInputs).map((p, i) => `${argName(p, i)}: ${inType(p)}`)

  return `// Generated by core/src/ledger/build.ts from ${sourceName}. Do not edit.
/* eslint-disable */
import {
  concat,
  Contract,
  Interface,
  type BaseContract,
  type BaseContractMethod,
  type BigNumberish,
  type BytesLike,
  type ContractRunner,
  type ContractTransactionResponse
} from "ethers"
import { toPlain } from "../Abi.ts"

export const contractName = ${JSON.stringify(contractName)}

export const abi = ${JSON.stringify(abi, null, 2)} as const

export const bytecode: \`0x\${string}\` = ${JSON.stringify(bytecode)}

export const contractInterface = new Interface(abi)

${enumLines.join("\n")}${structLines.join("\n")}
/** Typed view of the ethers Contract: view functions resolve to values, others to a transaction response. */
export interface ${contractName}Contract extends BaseContract {
${methodLines.join("\n")}
}

export interface ${contractName}Events {
${eventLines.join("\n")}
}

export type ${contractName}EventName = keyof ${contractName}Events
export type ${contractName}Event = { readonly [K in ${contractName}EventName]: { readonly name: K; readonly args: ${contractName}Events[K] } }[${contractName}EventName]

export interface ${contractName}Errors {
${errorLines.join("\n")}
}

export type ${contractName}ErrorName = keyof ${contractName}Errors
export type ${contractName}Error = { readonly [K in ${contractName}ErrorName]: { readonly name: K; readonly args: ${contractName}Errors[K] } }[${contractName}ErrorName]

export const eventNames: ReadonlyArray<${contractName}EventName> = ${JSON.stringify(events.map((e) => e.name))}
export const errorNames: ReadonlyArray<${contractName}ErrorName> = ${JSON.stringify(errors.map((e) => e.name))}

export const connect = (address: string, runner?: ContractRunner | null): ${contractName}Contract =>
  new Contract(address, abi, runner) as unknown as ${contractName}Contract

/** The creation transaction's data (bytecode, then the encoded constructor arguments), sent by the chain client. */
export const deployData = (args: { ${ctorParams.map((p) => `readonly ${p}`).join("; ")} }): string =>
  concat([bytecode, contractInterface.encodeDeploy([${constructorInputs.map((p, i) => `args.${argName(p, i)}`).join(", ")}])])

/** Decodes one of this contract's logs into a typed event, or null for a log it did not emit. */
export const decodeLog = (log: { readonly topics: ReadonlyArray<string>; readonly data: string }): ${contractName}Event | null => {
  const parsed = contractInterface.parseLog({ topics: [...log.topics], data: log.data })
  if (parsed === null) return null
  return { name: parsed.name, args: toPlain(parsed.args, parsed.fragment.inputs) } as ${contractName}Event
}

/** Decodes revert data into one of this contract's custom errors, or null when it is not one of them. */
export const decodeError = (data: BytesLike): ${contractName}Error | null => {
  try {
    const parsed = contractInterface.parseError(data)
    if (parsed === null) return null
    return { name: parsed.name, args: toPlain(parsed.args, parsed.fragment.inputs) } as ${contractName}Error
  } catch {
    return null
  }
}
`
}

main()
