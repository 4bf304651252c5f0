// The dashboard's one way to build DOM: text children become text nodes (never HTML), so data cannot inject markup.

export const h = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v)
    else if (k === "class") node.className = v
    else node.setAttribute(k, v === true ? "" : String(v))
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : String(c))
  return node
}

export const short = (hex, n = 6) => (typeof hex === "string" && hex.length > 2 * n + 2 ? `${hex.slice(0, n + 2)}…${hex.slice(-n)}` : String(hex ?? ""))
