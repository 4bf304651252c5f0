/**
 * Storage-layout compatibility of an upgrade, over solc's `storageLayout` output (what the OpenZeppelin upgrades
 * plugin checks inside Hardhat or Foundry; we compile with solc-js, so this small checker reads the same output).
 *
 * A new implementation behind a proxy reads the old one's storage, so every variable of the old layout must stay
 * where it was (same slot and offset), under the same name, with a compatible type; new variables may only come
 * after them. Types are compared by structure, never by solc's type ids (they embed AST ids that change with
 * every compilation):
 *
 * - value types: same label and size (`address` and a contract or interface type are the same 20 bytes; an enum
 *   may gain members while it stays one byte);
 * - structs: the old members in place, in order; new members at the end only where the struct is a mapping's
 *   value (each value has its own slots, so a longer struct overlaps nothing);
 * - mappings: same key type, compatible value; dynamic arrays: the same element layout (elements are packed one
 *   after another, so an element may not grow); `bytes` and `string` stay what they were.
 *
 * OpenZeppelin 5's upgradeable bases keep their state in ERC-7201 namespaces, outside this linear layout, so only
 * our own variables appear here. Pure: no I/O.
 */

export interface SolcStorageItem {
  readonly label: string
  readonly offset: number
  readonly slot: string
  readonly type: string
}

export interface SolcType {
  readonly encoding: "inplace" | "mapping" | "dynamic_array" | "bytes"
  readonly label: string
  readonly numberOfBytes: string
  readonly key?: string
  readonly value?: string
  readonly base?: string
  readonly members?: ReadonlyArray<SolcStorageItem>
}

export interface SolcStorageLayout {
  readonly storage: ReadonlyArray<SolcStorageItem>
  readonly types: Readonly<Record<string, SolcType>> | null
}

/** Where a type sits decides whether it may grow: only a mapping's value has room after it. */
type Place = "fixed" | "mappingValue"

const isAddressLike = (label: string) => label === "address" || label.startsWith("contract ") || label === "address payable"

/** Why `next` cannot stand where `prev` stood, or undefined when it can. */
const typeProblem = (
  prev: SolcStorageLayout,
  next: SolcStorageLayout,
  prevId: string,
  nextId: string,
  place: Place,
  path: string
): string | undefined => {
  const a = prev.types?.[prevId]
  const b = next.types?.[nextId]
  if (a === undefined || b === undefined) return `${path}: type ${a === undefined ? prevId : nextId} missing from solc's output`
  if (a.encoding !== b.encoding) return `${path}: ${a.label} became ${b.label} (${a.encoding} to ${b.encoding})`
  switch (a.encoding) {
    case "mapping": {
      const keyProblem = typeProblem(prev, next, a.key!, b.key!, "fixed", `${path} key`)
      if (keyProblem !== undefined) return keyProblem
      return typeProblem(prev, next, a.value!, b.value!, "mappingValue", `${path} value`)
    }
    case "dynamic_array":
      return typeProblem(prev, next, a.base!, b.base!, "fixed", `${path}[]`)
    case "bytes":
      return a.label === b.label ? undefined : `${path}: ${a.label} became ${b.label}`
    case "inplace": {
      if (a.members !== undefined || b.members !== undefined) {
        if (a.members === undefined || b.members === undefined) return `${path}: ${a.label} became ${b.label}`
        const grew = BigInt(b.numberOfBytes) !== BigInt(a.numberOfBytes)
        if (grew && place !== "mappingValue") return `${path}: struct ${a.label} changed size (${a.numberOfBytes} to ${b.numberOfBytes} bytes) where nothing may grow`
        return itemsProblems(prev, next, a.members, b.members, (label) => `${path}.${label}`)[0]
      }
      if (a.numberOfBytes !== b.numberOfBytes) return `${path}: ${a.label} (${a.numberOfBytes} bytes) became ${b.label} (${b.numberOfBytes} bytes)`
      if (a.label === b.label) return undefined
      if (isAddressLike(a.label) && isAddressLike(b.label)) return undefined
      // Fixed-size arrays: same length and element (their labels carry both).
      const enumOf = (label: string) => label.startsWith("enum ")
      if (enumOf(a.label) && enumOf(b.label)) return undefined
      return `${path}: ${a.label} became ${b.label}`
    }
  }
}

/**
 * Why the variables (or struct members) `prevItems` do not stand where they stood in `nextItems`: each is found
 * by name; one missing by name is reported renamed when a new name took its place, else removed.
 */
const itemsProblems = (
  prev: SolcStorageLayout,
  next: SolcStorageLayout,
  prevItems: ReadonlyArray<SolcStorageItem>,
  nextItems: ReadonlyArray<SolcStorageItem>,
  path: (label: string) => string
): Array<string> => {
  const oldLabels = new Set(prevItems.map((a) => a.label))
  return prevItems.flatMap((a) => {
    const b = nextItems.find((x) => x.label === a.label)
    if (b === undefined) {
      const taker = nextItems.find((x) => x.slot === a.slot && x.offset === a.offset && !oldLabels.has(x.label))
      return [taker === undefined ? `${path(a.label)}: removed` : `${path(a.label)}: renamed to ${taker.label} (a renamed variable usually means a changed meaning)`]
    }
    if (a.slot !== b.slot || a.offset !== b.offset) return [`${path(a.label)}: moved from slot ${a.slot} offset ${a.offset} to slot ${b.slot} offset ${b.offset}`]
    const problem = typeProblem(prev, next, a.type, b.type, "fixed", path(a.label))
    return problem === undefined ? [] : [problem]
  })
}

/**
 * Every reason `next` (the new implementation's layout) cannot replace `prev` behind the same proxy; empty when
 * the upgrade is safe for storage.
 */
export const check = (prev: SolcStorageLayout, next: SolcStorageLayout): ReadonlyArray<string> =>
  itemsProblems(prev, next, prev.storage, next.storage, (label) => label)
