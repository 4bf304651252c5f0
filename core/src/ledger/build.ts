/**
 * Compiles the ledger contracts with the bundled solc-js (offline) and generates typed ethers 6 bindings.
 *
 * Output (gitignored, DESIGN.md §5): `generated/artifacts/<Name>.json` (ABI, bytecode, compiler) and
 * `generated/<Name>.ts` (the `as const` ABI, bytecode, enums from the AST, struct and event types, a typed
 * contract interface, `connect`, `deploy`, `decodeLog`, `decodeError`). Skips all work when the sources,
 * settings and this generator are unchanged since the last run. Run by `npm run build -w core`.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import solc from "solc"

const here = dirname(fileURLToPath(import.meta.url))
const contractsDir = join(here, "contracts")
const outDir = join(here, "generated")
const artifactsDir = join(outDir, "artifacts")
const stampFile = join(outDir, ".build-hash")

// paris (no PUSH0) so the same bytecode deploys on older Besu/geth consortium networks, not only on anvil.
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "paris",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"], "": ["ast"] } }
} as const

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

const main = () => {
  const sourceNames = readdirSync(contractsDir).filter((f) => f.endsWith(".sol")).sort()
  // lib/ holds libraries the contracts import; they get no binding of their own (their functions are internal).
  const libraryNames = readdirSync(join(contractsDir, "lib")).filter((f) => f.endsWith(".sol")).sort().map((f) => `lib/${f}`)
  const sources = Object.fromEntries(
    [...sourceNames, ...libraryNames].map((name) => [name, { content: readFileSync(join(contractsDir, name), "utf8") }])
  )
  const stamp = createHash("sha256")
    .update(solc.version())
    .update(JSON.stringify(settings))
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .update(JSON.stringify(sources))
    .digest("hex")
  const expected = sourceNames.map((n) => join(outDir, n.replace(/\.sol$/, ".ts")))
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && expected.every((f) => existsSync(f))) {
    console.error("ledger contracts up to date")
    return
  }

  const output = JSON.parse(solc.compile(JSON.stringify({ language: "Solidity", sources, settings })))
  const diagnostics: ReadonlyArray<{ severity: string; formattedMessage: string }> = output.errors ?? []
  for (const d of diagnostics) console.error(d.formattedMessage)
  if (diagnostics.some((d) => d.severity === "error")) {
    process.exitCode = 1
    return
  }

  mkdirSync(artifactsDir, { recursive: true })
  for (const sourceName of sourceNames) {
    const contractName = sourceName.replace(/\.sol$/, "")
    const compiled = output.contracts[sourceName]?.[contractName]
    if (compiled === undefined) throw new Error(`${sourceName} must define contract ${contractName}`)
    const abi: ReadonlyArray<AbiItem> = compiled.abi
    const bytecode = `0x${compiled.evm.bytecode.object}`
    const deployedBytecode = `0x${compiled.evm.deployedBytecode.object}`
    const enums = collectEnums(output.sources[sourceName].ast, contractName)
    writeFileSync(
      join(artifactsDir, `${contractName}.json`),
      JSON.stringify({ contractName, compiler: `solc ${solc.version()}`, settings, abi, bytecode, deployedBytecode }, null, 2) + "\n"
    )
    writeFileSync(join(outDir, `${contractName}.ts`), generateBinding(contractName, sourceName, abi, bytecode, enums))
  }
  writeFileSync(stampFile, stamp)
  console.error(`compiled ${sourceNames.join(", ")} with solc ${solc.version()}`)
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

  return `// Generated by core/src/ledger/build.ts from contracts/${sourceName}. Do not edit.
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
