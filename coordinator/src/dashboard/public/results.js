// A task's result shown for what it is: statistics as a table with a histogram per column, set operations as the
// sizes they revealed, models with their metrics, confusion matrix and ROC curve, Shapley shares as bars — and any
// other kind as the tables the CLI prints (tables.js, one shape-reading rule for both). Every view keeps the raw
// JSON one click away. Only what the API returned to this account is drawn: the page computes nothing new.
import { barChart, lineChart } from "./chart.js"
import { h, short } from "./dom.js"
import { cell, tablesOf } from "./tables.js"

const isRecord = (v) => typeof v === "object" && v !== null && !Array.isArray(v)
const pct = (x) => `${(x * 100).toFixed(1)} %`

/** Big numbers with their labels (accuracy, a set's size). */
const figures = (items) =>
  h("div", { class: "figures" }, items.filter(Boolean).map(([label, value, key]) =>
    h("div", { class: "figure", "data-testid": "figure", "data-figure": key ?? label }, h("div", { class: "figure-value" }, value), h("div", { class: "figure-label muted" }, label))))

/** One of tablesOf's tables as HTML; every cell is the CLI's cell, so the two agree to the character. */
const htmlTable = (t) =>
  h("div", { class: "result-table" },
    t.title === "summary" ? null : h("h4", {}, t.title),
    h("table", { class: "list", "data-testid": "result-table", "data-title": t.title },
      h("thead", {}, h("tr", {}, t.columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, t.rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))))

const raw = (result) => h("details", { class: "raw" }, h("summary", {}, "raw JSON"), h("pre", { class: "result" }, JSON.stringify(result, null, 2).slice(0, 20000)))

// ------------------------------------------------------------------ statistics

const statisticNames = ["sum", "mean", "variance", "populationVariance", "std"]

const statistics = (result) => {
  const columns = Object.entries(result.columns ?? {})
  const shown = statisticNames.filter((s) => columns.some(([, c]) => typeof c[s] === "number"))
  const histograms = columns.filter(([, c]) => isRecord(c.histogram) && Array.isArray(c.histogram.counts))
  return [
    figures([["rows", cell(result.count), "count"], ["contributing parties", String(result.contributors?.length ?? 0), "contributors"]]),
    h("table", { class: "list numbers", "data-testid": "stats-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "column"), shown.map((s) => h("th", {}, s)))),
      h("tbody", {}, columns.map(([name, c]) =>
        h("tr", { "data-column": name }, h("td", {}, h("strong", {}, name)), shown.map((s) => h("td", { "data-stat": s }, cell(c[s]))))))),
    histograms.length === 0 ? null : h("div", { class: "charts" }, histograms.map(([name, c]) => {
      const { edges, counts } = c.histogram
      const chart = barChart({
        title: `${name}: histogram`,
        bars: counts.map((n, i) => ({ label: cell(edges[i]), value: n, title: `[${cell(edges[i])}, ${cell(edges[i + 1])}): ${n} rows` }))
      })
      chart.dataset.testid = "histogram"
      chart.dataset.column = name
      return chart
    }))
  ]
}

// ------------------------------------------------------------------ set operations

/** What the size counts, by kind (psi/spec.ts: |∩|, |X\Y| for a difference, |X∪Y| for a union). */
const sizeLabel = (kind) =>
  kind.endsWith("set-difference") ? "rows in A \\ B" : kind.endsWith("set-union") ? "rows in A ∪ B" : kind.endsWith("psi-aligned") ? "aligned rows (A ∩ B)" : "rows in A ∩ B"

const sets = (result, o) => [
  figures([
    ["parties", String(result.parties), "parties"],
    result.cardinality === undefined ? ["size withheld from this view", "—", "cardinality"] : [sizeLabel(result.kind ?? o.kind), cell(result.cardinality), "cardinality"],
    ["receivers", String(result.receivers?.length ?? 0), "receivers"]
  ]),
  h("table", { class: "list", "data-testid": "receivers" },
    h("thead", {}, h("tr", {}, h("th", {}, "receiver"), h("th", {}, "output digest"), h("th", {}, "kept at"))),
    h("tbody", {}, (result.outputs ?? []).map((r) => h("tr", {}, h("td", {}, o.name(r.receiver)), h("td", {}, h("code", { title: r.digest }, short(r.digest, 8))), h("td", { class: "muted location" }, r.location))))),
  h("p", { class: "muted" }, "The ids themselves stay with the receivers; the coordinator holds only the sizes and the outputs' digests.")
]

// ------------------------------------------------------------------ models

/** A confusion matrix, actual classes by row, predicted by column; a binary one names its cells tp, fn, fp, tn. */
const confusionMatrix = (classes, matrix, names) =>
  h("table", { class: "confusion", "data-testid": "confusion" },
    h("thead", {}, h("tr", {}, h("th", {}, "actual ↓ predicted →"), classes.map((c) => h("th", {}, c)))),
    h("tbody", {}, matrix.map((row, i) => h("tr", {}, h("th", {}, classes[i]),
      row.map((n, j) => h("td", { class: i === j ? "hit" : "miss", "data-cell": names?.[i]?.[j] ?? `${i},${j}` }, cell(n)))))))

const binaryMatrix = (m) => confusionMatrix(["positive", "negative"], [[m.tp, m.fn], [m.fp, m.tn]], [["tp", "fn"], ["fp", "tn"]])

const roc = (points, auc) => {
  const chart = lineChart({
    title: auc === undefined ? "ROC curve (test rows)" : `ROC curve (test rows) · AUC ${auc.toFixed(3)}`,
    series: [{ name: "true-positive rate", color: "#1971c2", points: points.map((p) => ({ x: p.fpr, y: p.tpr })) }],
    xMin: 0, xMax: 1, yMin: 0, yMax: 1, xLabel: "false-positive rate", xFormat: (x) => x.toFixed(1), format: (y) => y.toFixed(1), diagonal: true
  })
  chart.dataset.testid = "roc"
  return chart
}

/** A model's evaluation: `test` holds the confusion counts (vertical models, SecureSVM), optionally a ROC curve. */
const model = (result) => {
  const m = result.test
  return [
    figures([["accuracy", pct(m.accuracy), "accuracy"], ["precision", pct(m.precision), "precision"], ["recall", pct(m.recall), "recall"],
      typeof m.auc === "number" ? ["AUC", m.auc.toFixed(3), "auc"] : null,
      typeof result.testRows === "number" ? ["test rows", cell(result.testRows), "testRows"] : null]),
    h("div", { class: "charts" },
      h("div", {}, h("h4", {}, "Confusion matrix (test split)"), binaryMatrix(m)),
      Array.isArray(m.roc) && m.roc.length > 1 ? roc(m.roc, m.auc) : h("p", { class: "muted" }, "This result carries no ROC points."))
  ]
}

const training = (result) => {
  const f = result.final ?? {}
  return [
    figures([typeof f.accuracy === "number" ? ["validation accuracy", pct(f.accuracy), "accuracy"] : null,
      typeof f.loss === "number" ? ["validation loss", f.loss.toFixed(4), "loss"] : null,
      ["rounds", String(result.rounds?.length ?? 0), "rounds"], ["aggregation", String(result.aggregation), "aggregation"],
      result.privacy ? ["ε (δ = " + result.privacy.delta + ")", result.privacy.epsilon.toFixed(2), "epsilon"] : null]),
    tablesOf({ rounds: result.rounds ?? [] }).map(htmlTable)
  ]
}

// ------------------------------------------------------------------ contribution

const shapley = (result, o) => {
  const owners = result.owners ?? []
  const se = result.standardError
  const chart = barChart({
    title: `Shapley shares of ${result.metric ?? "the worth"} (${result.method})`,
    color: "#2b8a3e",
    bars: owners.map((owner, i) => ({ label: o.name(owner), value: result.shares[i], title: `${o.name(owner)}: share ${pct(result.shares[i])}, φ = ${cell(result.phi[i])}${se ? ` ± ${cell(se[i])}` : ""}` })),
    format: (y) => `${Math.round(y * 100)}%`
  })
  chart.dataset.testid = "shapley-bars"
  const g = isRecord(result.grand) ? result.grand : {}
  // The valuer's scoring of the model all owners trained together: its confusion matrix and ROC (counts at thresholds).
  const grandRoc = isRecord(g.roc) && Array.isArray(g.roc.points) && g.roc.positives > 0 && g.roc.negatives > 0
    ? g.roc.points.map((p) => ({ fpr: p.fp / g.roc.negatives, tpr: p.tp / g.roc.positives }))
    : null
  return [
    figures([["owners", String(owners.length), "owners"], ["models scored", cell(result.models), "models"],
      typeof g.worth === "number" ? [`${result.metric} of all owners' model`, g.worth.toFixed(3), "grand"] : null,
      typeof g.accuracy === "number" ? ["its accuracy", pct(g.accuracy), "accuracy"] : null,
      typeof g.auc === "number" ? ["its AUC", g.auc.toFixed(3), "auc"] : null]),
    h("div", { class: "charts" }, chart,
      isRecord(g.confusion) && Array.isArray(g.confusion.matrix)
        ? h("div", {}, h("h4", {}, `All owners' model on the valuer's ${cell(result.testRows)} test rows`), confusionMatrix(g.confusion.classes.map(String), g.confusion.matrix))
        : null,
      grandRoc ? roc(grandRoc, g.auc) : null),
    h("table", { class: "list numbers", "data-testid": "shapley-table" },
      h("thead", {}, h("tr", {}, ["owner", "φ", se ? "± s.e." : null, "share"].filter(Boolean).map((c) => h("th", {}, c)))),
      h("tbody", {}, owners.map((owner, i) => h("tr", { "data-owner": owner },
        h("td", {}, o.name(owner)), h("td", {}, cell(result.phi[i])), se ? h("td", {}, cell(se[i])) : null, h("td", { "data-share": result.shares[i] }, pct(result.shares[i]))))))
  ]
}

// ------------------------------------------------------------------ dispatch

/** The view a result gets: by its kind, or by the shape its kind's Schema gives it. */
export const viewOf = (kind, result) => {
  if (!isRecord(result)) return "tables"
  const k = String(result.kind ?? kind)
  if (k === "statistics.horizontal" && isRecord(result.columns)) return "statistics"
  if (k === "incentives.shapley" && Array.isArray(result.owners) && Array.isArray(result.shares)) return "shapley"
  if (isRecord(result.test) && ["tp", "fp", "fn", "tn", "accuracy"].every((f) => typeof result.test[f] === "number")) return "model"
  if (k === "modeling.horizontal-fl" && Array.isArray(result.rounds)) return "training"
  if (k.startsWith("query.") && typeof result.parties === "number" && Array.isArray(result.outputs)) return "sets"
  return "tables"
}

const views = { statistics, sets, model, training, shapley, tables: (result) => tablesOf(result).map(htmlTable) }

/**
 * @param {string} kind the task's kind
 * @param {unknown} result the result as the API returned it
 * @param {{ name?: (address: string) => string }} [options] how an address is named (the org's name)
 */
export const renderResult = (kind, result, options = {}) => {
  const o = { kind, name: options.name ?? ((a) => short(a, 4)) }
  const view = viewOf(kind, result)
  const body = views[view](result, o)
  // A model view also lists what else the result says (parties, counters, commitments) as the generic tables do.
  const rest = view === "model" ? tablesOf(Object.fromEntries(Object.entries(result).filter(([k]) => k !== "test"))).map(htmlTable) : []
  return h("section", { class: "card result-view", "data-testid": "result", "data-view": view },
    h("h3", {}, "Result"), body, rest.length ? h("details", { class: "more" }, h("summary", {}, "everything else in the result"), rest) : null, raw(result))
}
