// Small SVG charts — a line chart (per-round training metrics, a ROC curve) and a bar chart (histograms, Shapley
// shares): no library, a few dozen points or bars at most.

const NS = "http://www.w3.org/2000/svg"

const el = (tag, attrs = {}, text) => {
  const node = document.createElementNS(NS, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text !== undefined) node.textContent = text
  return node
}

/** "Nice" tick values covering [min, max]: steps of 1, 2 or 5 × 10^k. */
const ticks = (min, max, count = 4) => {
  if (min === max) return [min]
  const raw = (max - min) / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw
  const out = []
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

/**
 * @param {{ title: string, series: Array<{ name: string, color: string, points: Array<{ x: number, y: number }> }>,
 *           yMin?: number, yMax?: number, xMin?: number, xMax?: number, xLabel?: string, xFormat?: (x: number) => string,
 *           format?: (y: number) => string, width?: number, height?: number, diagonal?: boolean }} o
 * @returns {SVGSVGElement}
 */
export const lineChart = (o) => {
  const width = o.width ?? 440
  const height = o.height ?? 220
  const pad = { left: 52, right: 16, top: 28, bottom: 34 }
  const all = o.series.flatMap((s) => s.points)
  const xs = all.map((p) => p.x)
  const ys = all.map((p) => p.y)
  const xMin = o.xMin ?? Math.min(...xs, 1)
  const xMax = o.xMax ?? Math.max(...xs, xMin + 1)
  let yMin = o.yMin ?? Math.min(...ys)
  let yMax = o.yMax ?? Math.max(...ys)
  if (yMin === yMax) {
    yMin -= 0.5
    yMax += 0.5
  }
  const fmt = o.format ?? ((y) => y.toFixed(2))
  const X = (x) => pad.left + ((x - xMin) / (xMax - xMin)) * (width - pad.left - pad.right)
  const Y = (y) => height - pad.bottom - ((y - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom)

  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "aria-label": o.title })
  svg.append(el("text", { x: pad.left, y: 16, class: "chart-title" }, o.title))
  for (const t of ticks(yMin, yMax)) {
    svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: Y(t), y2: Y(t), class: "grid" }))
    svg.append(el("text", { x: pad.left - 6, y: Y(t) + 4, class: "tick", "text-anchor": "end" }, fmt(t)))
  }
  // Rounds are whole numbers; a continuous axis (a ROC curve's false-positive rate) says so with its own format.
  const xTicks = o.xFormat ? ticks(xMin, xMax) : ticks(xMin, xMax, Math.min(6, xMax - xMin)).filter((t) => Number.isInteger(t))
  for (const t of xTicks) svg.append(el("text", { x: X(t), y: height - pad.bottom + 16, class: "tick", "text-anchor": "middle" }, (o.xFormat ?? String)(t)))
  svg.append(el("text", { x: (pad.left + width - pad.right) / 2, y: height - 4, class: "axis-label", "text-anchor": "middle" }, o.xLabel ?? "round"))
  if (o.diagonal) svg.append(el("line", { x1: X(xMin), y1: Y(yMin), x2: X(xMax), y2: Y(yMax), class: "grid diagonal" }))
  svg.append(el("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom, class: "axis" }))
  svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, class: "axis" }))

  for (const s of o.series) {
    if (s.points.length === 0) continue
    const d = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(" ")
    svg.append(el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series", "data-series": s.name }))
    for (const p of s.points) {
      const dot = el("circle", { cx: X(p.x), cy: Y(p.y), r: 3, fill: s.color, class: "point" })
      dot.append(el("title", {}, `${s.name} · ${o.xLabel ?? "round"} ${(o.xFormat ?? String)(p.x)}: ${fmt(p.y)}`))
      svg.append(dot)
    }
  }
  return svg
}

/**
 * Vertical bars, one per value, each labelled under its bar and titled with its exact value; `error` draws a ±
 * whisker (a Monte-Carlo Shapley value's standard error).
 * @param {{ title: string, bars: Array<{ label: string, value: number, error?: number, title?: string }>, color?: string,
 *           format?: (y: number) => string, yMin?: number, width?: number, height?: number }} o
 * @returns {SVGSVGElement}
 */
export const barChart = (o) => {
  // Room for a label of a dozen characters under each bar (an org's name, a short address).
  const width = o.width ?? Math.max(320, Math.min(720, 68 + o.bars.length * (o.bars.some((b) => b.label.length > 6) ? 96 : 48)))
  const height = o.height ?? 220
  const pad = { left: 52, right: 16, top: 28, bottom: 40 }
  const highs = o.bars.map((b) => b.value + (b.error ?? 0))
  const lows = o.bars.map((b) => b.value - (b.error ?? 0))
  const yMin = Math.min(o.yMin ?? 0, ...lows)
  let yMax = Math.max(...highs, yMin)
  if (yMax === yMin) yMax = yMin + 1
  const fmt = o.format ?? ((y) => String(Number(y.toPrecision(4))))
  const Y = (y) => height - pad.bottom - ((y - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom)
  const slot = (width - pad.left - pad.right) / Math.max(1, o.bars.length)
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart bars", role: "img", "aria-label": o.title })
  svg.append(el("text", { x: pad.left, y: 16, class: "chart-title" }, o.title))
  for (const t of ticks(yMin, yMax)) {
    svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: Y(t), y2: Y(t), class: "grid" }))
    svg.append(el("text", { x: pad.left - 6, y: Y(t) + 4, class: "tick", "text-anchor": "end" }, fmt(t)))
  }
  o.bars.forEach((b, i) => {
    const x = pad.left + i * slot + slot * 0.15
    // Bars grow from zero (down for a negative Shapley value).
    const zero = Y(Math.max(yMin, 0))
    const y = Math.min(Y(b.value), zero)
    const bar = el("rect", { x, y, width: slot * 0.7, height: Math.max(0.5, Math.abs(Y(b.value) - zero)), fill: o.color ?? "#1971c2", class: "bar", "data-label": b.label, "data-value": b.value })
    bar.append(el("title", {}, b.title ?? `${b.label}: ${fmt(b.value)}${b.error ? ` ± ${fmt(b.error)}` : ""}`))
    svg.append(bar)
    if (b.error) {
      const cx = x + slot * 0.35
      svg.append(el("line", { x1: cx, x2: cx, y1: Y(b.value - b.error), y2: Y(b.value + b.error), class: "whisker" }))
    }
    svg.append(el("text", { x: x + slot * 0.35, y: height - pad.bottom + 14, class: "tick", "text-anchor": "middle" }, b.label.length > 14 ? `${b.label.slice(0, 13)}…` : b.label))
  })
  svg.append(el("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom, class: "axis" }))
  svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: Y(Math.max(yMin, 0)), y2: Y(Math.max(yMin, 0)), class: "axis" }))
  return svg
}
