/**
 * Runtime support for the generated bindings: ethers decodes into `Result` proxies (arrays with named getters);
 * events and errors are handed out as plain objects keyed by ABI parameter name, matching the generated types.
 */
import type { ParamType, Result } from "ethers"

const plainValue = (value: unknown, type: ParamType): unknown => {
  if (type.isArray()) {
    const items = value as ReadonlyArray<unknown>
    return Array.from(items, (item) => plainValue(item, type.arrayChildren))
  }
  if (type.isTuple()) return toPlain(value as Result, type.components)
  return value
}

/** `{ [param.name]: value }` for every parameter, recursively through tuples and arrays. */
export const toPlain = (values: Result, params: ReadonlyArray<ParamType>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  params.forEach((param, i) => {
    out[param.name === "" ? `arg${i}` : param.name] = plainValue(values[i], param)
  })
  return out
}
