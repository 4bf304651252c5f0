/**
 * The storage-layout checker over real solc output: safe upgrades pass, and each way an upgrade corrupts a
 * proxy's state (an inserted, removed, renamed or retyped variable, a struct growing where it cannot) is named.
 */
import { describe, expect, it } from "vitest"
import solc from "solc"
import { check, type SolcStorageLayout } from "./StorageLayout.ts"

const layoutOf = (body: string): SolcStorageLayout => {
  const source = `// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.24;\ninterface IThing {}\ncontract C {\n${body}\n}\n`
  const output = JSON.parse(solc.compile(JSON.stringify({
    language: "Solidity",
    sources: { "C.sol": { content: source } },
    settings: { outputSelection: { "*": { "*": ["storageLayout"] } } }
  })))
  const errors = (output.errors ?? []).filter((e: { severity: string }) => e.severity === "error")
  if (errors.length > 0) throw new Error(JSON.stringify(errors))
  return output.contracts["C.sol"].C.storageLayout
}

const v1 = `
  struct Entry { address owner; uint64 at; }
  struct Pair { uint128 a; uint128 b; }
  enum State { None, Open }
  address public registry;
  uint64 public count;
  State public state;
  mapping(bytes32 => Entry) entries;
  Pair pair;
  bytes32[] roots;
  string name;
`

describe("storage layout check", () => {
  const prev = layoutOf(v1)

  it("accepts the same layout, appended variables, a grown mapping value, an address as an interface, a grown enum", () => {
    expect(check(prev, layoutOf(v1))).toEqual([])
    const next = v1
      .replace("struct Entry { address owner; uint64 at; }", "struct Entry { address owner; uint64 at; bytes32 note; }")
      .replace("address public registry;", "IThing public registry;")
      .replace("enum State { None, Open }", "enum State { None, Open, Closed }")
      .concat("\n  uint256 public fee;\n  mapping(address => bool) flags;")
    expect(check(prev, layoutOf(next))).toEqual([])
  })

  it("names an inserted variable, where the old ones moved", () => {
    const problems = check(prev, layoutOf(v1.replace("address public registry;", "uint256 public fee;\n  address public registry;")))
    expect(problems[0]).toMatch(/^registry: moved from slot 0 offset 0 to slot 1/)
    // All seven old variables moved one slot down.
    expect(problems).toHaveLength(7)
  })

  it("names a removed, a renamed and a retyped variable", () => {
    expect(check(prev, layoutOf(v1.replace("  string name;", "")))).toEqual(["name: removed"])
    expect(check(prev, layoutOf(v1.replace("string name;", "string title;")))[0]).toMatch(/^name: renamed to title/)
    expect(check(prev, layoutOf(v1.replace("bytes32[] roots;", "uint256[] roots;")))[0]).toMatch(/^roots\[\]: bytes32 became uint256/)
    expect(check(prev, layoutOf(v1.replace("uint64 public count;", "uint128 public count;"))).join("\n")).toMatch(/count: moved from slot 0 offset 20 to slot 1 offset 0/)
  })

  it("refuses a struct that grows where the next variable sits behind it", () => {
    const problems = check(prev, layoutOf(v1.replace("struct Pair { uint128 a; uint128 b; }", "struct Pair { uint128 a; uint128 b; uint256 c; }")))
    expect(problems.join("\n")).toMatch(/pair: struct struct C.Pair changed size \(32 to 64 bytes\)/)
    expect(problems.join("\n")).toMatch(/roots: moved/)
  })

  it("refuses a mapping whose key type changed, and a reordered struct member", () => {
    expect(check(prev, layoutOf(v1.replace("mapping(bytes32 => Entry) entries;", "mapping(address => Entry) entries;")))[0]).toMatch(/entries key: bytes32 \(32 bytes\) became address \(20 bytes\)/)
    expect(check(prev, layoutOf(v1.replace("struct Entry { address owner; uint64 at; }", "struct Entry { uint64 at; address owner; }")))[0]).toMatch(/entries value\.owner: moved/)
  })
})
