// Canonical JSON: the one serialisation every digest in Jointly is taken over (task ids, result digests,
// commitments). Plain JavaScript without imports (typed by canonicalJson.d.ts) so that the coordinator's dashboard
// serves this very file to the browser, which rebuilds a task's id byte for byte before its wallet signs it, with no
// second copy of the rule to drift from this one.

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

const normalize = (value) => {
  if (typeof value === "bigint") return value.toString()
  if (value instanceof Uint8Array) return hex(value)
  if (Array.isArray(value)) return value.map(normalize)
  if (value !== null && typeof value === "object") {
    const out = {}
    for (const key of Object.keys(value).sort()) {
      const field = value[key]
      if (field !== undefined) out[key] = normalize(field)
    }
    return out
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`cannot hash non-finite number ${value}`)
  return value
}

/** JSON with object keys sorted recursively; bigint as decimal strings; bytes as lowercase hex; undefined fields dropped. */
export const canonicalJson = (value) => JSON.stringify(normalize(value))
