// A task's result shown for what it is: statistics as a table with a histogram per column, set operations as the
// sizes they revealed, models with their metrics, confusion matrix and ROC curve (SecureSVM with its cost per round,
// SecureBoost with its loss per tree and each party's share of the split gain), predictions as the rows scored and
// where the scores are kept, a similarity search as the index it searched, Shapley shares as bars — and any other
// kind as the tables the CLI prints (tables.js, one shape-reading rule for both). Every view keeps the raw JSON one
// click away. Only what the API returned to this account is drawn: the page computes nothing new, except the
// histogram of an online prediction's scores, which are this account's own answer.
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
const testFigures = (result) => {
  const m = result.test
  return figures([["accuracy", pct(m.accuracy), "accuracy"], ["precision", pct(m.precision), "precision"], ["recall", pct(m.recall), "recall"],
    typeof m.auc === "number" ? ["AUC", m.auc.toFixed(3), "auc"] : null,
    typeof result.testRows === "number" ? ["test rows", cell(result.testRows), "testRows"] : null])
}
const confusionBlock = (m) => h("div", {}, h("h4", {}, "Confusion matrix (test split)"), binaryMatrix(m))

const model = (result) => {
  const m = result.test
  return [
    testFigures(result),
    h("div", { class: "charts" }, confusionBlock(m),
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

// ------------------------------------------------------------------ SecureSVM

/** SecureSVM: the model view (test confusion counts) with the hinge-loss cost of every round and who provided rows. */
const svm = (result, o) => {
  const costs = Array.isArray(result.costs) ? result.costs : []
  const curve = lineChart({
    title: `cost per round (${costs.length} rounds, mode ${result.mode})`,
    series: [{ name: "cost", color: "#d9480f", points: costs.map((y, i) => ({ x: i + 1, y })) }],
    format: (y) => cell(y)
  })
  curve.dataset.testid = "svm-costs"
  const dropped = new Set((result.dropped ?? []).map((a) => a.toLowerCase()))
  return [
    figures([["mode", result.mode === "A" ? "A · masked sums" : "B · Paillier", "mode"], ["providers", String(result.providers?.length ?? 0), "providers"],
      typeof result.trainRows === "number" ? ["training rows", cell(result.trainRows), "trainRows"] : null, ["rounds", cell(result.rounds), "rounds"]]),
    testFigures(result),
    h("div", { class: "charts" }, confusionBlock(result.test), costs.length > 0 ? curve : null,
      h("div", {}, h("h4", {}, "Providers"),
        h("table", { class: "list", "data-testid": "providers" },
          h("tbody", {}, (result.providers ?? []).map((p) => h("tr", { "data-provider": p }, h("td", {}, o.name(p)),
            h("td", { class: dropped.has(p.toLowerCase()) ? "error" : "muted" }, dropped.has(p.toLowerCase()) ? "dropped during training (earlier rounds kept)" : "to the end"))))),
        result.paillier ? h("p", { class: "muted small" }, `Paillier ${result.paillier.keyBits}-bit: ${result.paillier.encryptions} encryptions, ${result.paillier.decryptions} decryptions, ${result.paillier.comparisons} comparisons`) : null))
  ]
}

// ------------------------------------------------------------------ SecureBoost

/** SecureBoost: test metrics, the loss after each tree and each party's share of the split gain (no column named). */
const boost = (result, o) => {
  const curve = result.curve ?? []
  const series = [["training", "trainLoss", "#1971c2"], ["validation", "validationLoss", "#d9480f"]]
    .filter(([, key]) => curve.some((c) => typeof c[key] === "number"))
    .map(([name, key, color]) => ({ name, color, points: curve.filter((c) => typeof c[key] === "number").map((c) => ({ x: c.tree + 1, y: c[key] })) }))
  const loss = lineChart({ title: `${result.objective} loss after each tree (${result.kept} of ${result.grown} kept)`, series, xLabel: "trees", format: (y) => y.toFixed(3) })
  loss.dataset.testid = "boost-loss"
  const importance = barChart({
    title: "share of the split gain per party (kept trees)",
    color: "#2b8a3e",
    bars: (result.importance ?? []).map((x) => ({ label: o.name(x.party), value: x.gainShare, title: `${o.name(x.party)}: ${pct(x.gainShare)} of the gain, ${x.splits} splits` })),
    format: (y) => `${Math.round(y * 100)}%`
  })
  importance.dataset.testid = "boost-importance"
  const t = result.test ?? {}
  return [
    figures([typeof t.auc === "number" ? ["test AUC", t.auc.toFixed(3), "auc"] : null, typeof t.accuracy === "number" ? ["test accuracy", pct(t.accuracy), "accuracy"] : null,
      typeof t.rmse === "number" ? ["test RMSE", cell(t.rmse), "rmse"] : null,
      ["trees kept", `${result.kept} / ${result.grown}`, "trees"], ["aligned rows", cell(result.rows), "rows"],
      ["train · validation · test", `${result.trainRows} · ${result.validationRows} · ${result.testRows}`, "split"], ["Paillier key", `${result.keyBits} bits`, "keyBits"]]),
    h("div", { class: "charts" }, series.length ? loss : null, importance),
    h("table", { class: "list numbers", "data-testid": "boost-parties" },
      h("thead", {}, h("tr", {}, ["party", "role", "splits", "gain share", "sealed model part"].map((c) => h("th", {}, c)))),
      h("tbody", {}, (result.importance ?? []).map((x) => h("tr", { "data-party": x.party },
        h("td", {}, o.name(x.party)), h("td", {}, x.party.toLowerCase() === String(result.labelHolder).toLowerCase() ? "label holder" : "feature holder"),
        h("td", { "data-splits": x.splits }, cell(x.splits)), h("td", { "data-share": x.gainShare }, pct(x.gainShare)),
        h("td", {}, h("code", { title: result.parts?.[x.party] }, short(result.parts?.[x.party] ?? "", 6))))))),
    h("p", { class: "muted" }, "Each party keeps its own part of the model, sealed in its store: the coordinator holds only their digests, the loss per tree and these shares.")
  ]
}

// ------------------------------------------------------------------ predictions

/** Batch, SecureBoost and encrypted-linear predictions: how many rows were scored, with which model, kept where. */
const prediction = (result, o) => {
  const k = String(result.kind ?? o.kind)
  const rows = result.count ?? result.rows
  const holder = result.requester ?? result.participant
  return [
    figures([["rows scored", cell(rows), "rows"], typeof result.batches === "number" ? ["passes", cell(result.batches), "batches"] : null,
      ["scores kept by", o.name(holder), "holder"], result.counters ? ["prediction rounds", cell(result.counters.predictRounds), "predictRounds"] : null]),
    h("div", { class: "kv", "data-testid": "prediction" },
      h("span", {}, "model"), h("code", { class: "wrap", title: result.modelId }, result.modelId),
      result.owner ? [h("span", {}, "model owner"), h("span", {}, o.name(result.owner))] : null,
      h("span", {}, "scores digest"), h("code", { class: "wrap" }, result.digest),
      result.location ? [h("span", {}, "kept at"), h("span", { class: "muted location" }, result.location)] : null),
    h("p", { class: "muted" }, k === "prediction.encrypted-linear"
      ? "The rows reached the model's owner only as CKKS ciphertexts under the requester's key; the scores were decrypted by the requester alone."
      : "The scores stay with the party that holds them; the coordinator holds only their count and digest, notarized on chain.")
  ]
}

/**
 * The answer of an online prediction (`models.predict`) to this account: the rows per predicted class and the
 * scores' histogram (a two-class model's second-class probability, else the winning class's score), then the rows.
 * @param {ReadonlyArray<{ prediction: string | number, scores?: ReadonlyArray<number> }>} predictions
 */
export const renderPredictions = (predictions) => {
  const classes = new Map()
  for (const p of predictions) classes.set(String(p.prediction), (classes.get(String(p.prediction)) ?? 0) + 1)
  const two = predictions.length > 0 && predictions.every((p) => Array.isArray(p.scores) && p.scores.length === 2)
  const scoreOf = (p) => (Array.isArray(p.scores) && p.scores.length > 0 ? (two ? p.scores[1] : Math.max(...p.scores)) : typeof p.prediction === "number" ? p.prediction : undefined)
  const scores = predictions.map(scoreOf).filter((x) => typeof x === "number")
  const probabilities = scores.every((x) => x >= 0 && x <= 1)
  const lo = probabilities ? 0 : Math.min(...scores)
  const hi = probabilities ? 1 : Math.max(...scores)
  const bins = 10
  const counts = Array.from({ length: bins }, () => 0)
  for (const x of scores) counts[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo || 1)) * bins))]++
  const edge = (i) => lo + ((hi - lo || 1) * i) / bins
  // A two-class model's second class, named as the model names it (the prediction of a row that scores it higher).
  const second = two ? predictions.find((p) => p.scores[1] >= p.scores[0])?.prediction : undefined
  const histogram = barChart({
    title: two ? `P(${second === undefined ? "second class" : `class ${second}`}) per row` : "score per row",
    bars: counts.map((n, i) => ({ label: cell(Number(edge(i).toFixed(3))), value: n, title: `[${cell(edge(i))}, ${cell(edge(i + 1))}): ${n} rows` })),
    color: "#7048e8"
  })
  histogram.dataset.testid = "score-histogram"
  return h("div", { class: "predictions", "data-testid": "predictions" },
    figures([["rows", String(predictions.length), "rows"], ...[...classes].map(([c, n]) => [`predicted ${c}`, String(n), `class:${c}`])]),
    scores.length ? h("div", { class: "charts" }, histogram) : null,
    h("details", { class: "more" }, h("summary", {}, predictions.length > 100 ? `the first 100 of ${predictions.length} rows` : `the ${predictions.length} rows`),
      h("table", { class: "list numbers", "data-testid": "prediction-rows" },
        h("thead", {}, h("tr", {}, h("th", {}, "row"), h("th", {}, "prediction"), h("th", {}, "scores"))),
        h("tbody", {}, predictions.slice(0, 100).map((p, i) => h("tr", {}, h("td", {}, String(i + 1)), h("td", {}, cell(p.prediction)), h("td", {}, cell(p.scores ?? []))))))))
}

// ------------------------------------------------------------------ similarity search

/** query.similar: what was searched and how long the search took; the K records themselves are the querier's alone. */
const similar = (result, o) => [
  figures([["nearest asked (K)", cell(result.k), "k"], ["threshold rounds", cell(result.rounds), "rounds"],
    ["images in the index", cell(result.index?.size), "size"], ["features per image", cell(result.index?.dimension), "dimension"], ["index epoch", cell(result.index?.epoch), "epoch"]]),
  h("div", { class: "kv", "data-testid": "similar" },
    h("span", {}, "querier"), h("span", {}, o.name(result.querier)),
    h("span", {}, "collection owner"), h("span", {}, o.name(result.owner)),
    h("span", {}, "index root"), h("code", { class: "wrap", title: "committed on the task ledger as similar/index" }, result.index?.root),
    h("span", {}, "answer digest"), h("code", { class: "wrap" }, result.digest),
    h("span", {}, "kept at"), h("span", { class: "muted location" }, result.location)),
  h("p", { class: "muted" }, `The ${cell(result.k)} nearest records, checked against the signed index root, are with ${o.name(result.querier)} only. `,
    `${o.name(result.owner)} learned that a query was made and took ${cell(result.rounds)} rounds, not the query nor which records were opened; the coordinator relayed sealed bytes.`)
]

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
  if (k === "modeling.secure-svm" && Array.isArray(result.costs) && isRecord(result.test)) return "svm"
  if (Array.isArray(result.curve) && Array.isArray(result.importance) && typeof result.kept === "number") return "boost"
  if (k === "query.similar" && isRecord(result.index)) return "similar"
  if (k.startsWith("prediction.") && typeof result.digest === "string" && typeof (result.count ?? result.rows) === "number") return "prediction"
  if (isRecord(result.test) && ["tp", "fp", "fn", "tn", "accuracy"].every((f) => typeof result.test[f] === "number")) return "model"
  if (k === "modeling.horizontal-fl" && Array.isArray(result.rounds)) return "training"
  if (k.startsWith("query.") && typeof result.parties === "number" && Array.isArray(result.outputs)) return "sets"
  return "tables"
}

const views = { statistics, sets, model, svm, boost, prediction, similar, training, shapley, tables: (result) => tablesOf(result).map(htmlTable) }

/**
 * @param {string} kind the task's kind
 * @param {unknown} result the result as the API returned it
 * @param {{ name?: (address: string) => string }} [options] how an address is named (the org's name)
 */
export const renderResult = (kind, result, options = {}) => {
  const o = { kind, name: options.name ?? ((a) => short(a, 4)) }
  const view = viewOf(kind, result)
  const body = views[view](result, o)
  // A model's view also lists what else the result says (parties, counters, commitments) as the generic tables do.
  const shown = { model: ["test"], svm: ["test", "costs", "providers", "dropped"], boost: ["test", "curve", "importance", "parts"] }[view]
  const rest = shown ? tablesOf(Object.fromEntries(Object.entries(result).filter(([k]) => !shown.includes(k)))).map(htmlTable) : []
  return h("section", { class: "card result-view", "data-testid": "result", "data-view": view },
    h("h3", {}, "Result"), body, rest.length ? h("details", { class: "more" }, h("summary", {}, "everything else in the result"), rest) : null, raw(result))
}
