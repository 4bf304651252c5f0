// The coordinator's dashboard: plain ES modules, no build step. Its user signs in with a browser wallet; everything
// it shows comes from the coordinator's HTTP API, called by endpoint name (wallet.js) and shown as far as the
// API's rules let this account see; `/api/events` (Server-Sent Events) says what changed and the page re-reads it.
import { lineChart } from "./chart.js"
import { h, short } from "./dom.js"
import { renderPredictions, renderResult } from "./results.js"
import { ApiError, call, session, signIn, signInWithToken, signOut, stream } from "./wallet.js"

const state = {
  view: "tasks",
  selected: /** @type {string | null} */ (null),
  tasks: [],
  detail: null,
  /** Why the selected task cannot be shown to this account (the API's refusal), if it cannot. */
  refused: null,
  verify: null,
  /** Requests refused by the coordinator's abuse limits since it started. */
  rejected: 0,
  verifyKey: "",
  members: [],
  pending: [],
  chain: null,
  catalogue: null,
  /** Per pending consent: the last error a decision got, shown in its card. */
  consentErrors: new Map(),
  /** Per grant token: the last refusal an owner's decision got (the contract's error), shown in its row. */
  grantErrors: new Map(),
  /** Per model request: the last refusal a decision on it got (the contract's error), shown in its row. */
  modelErrors: new Map(),
  /** The selected task's stored model (models.get), when its result names one this account may see. */
  model: null,
  /** The task form (taskform.js), built the first time its view opens. */
  form: null,
  /** The online-prediction panel: the rows typed, and the API's answer or refusal for them. */
  predict: { modelId: "", input: "", answer: null, error: null, busy: false }
}

// ------------------------------------------------------------------ helpers

const when = (iso) => new Date(iso).toLocaleTimeString()
const finalStatuses = new Set(["Succeeded", "Failed", "Cancelled", "TimedOut", "Rejected"])

/** Org name of an address, from the members view (the chain's registry), else the short address. */
const nameOf = (address) => {
  const a = String(address).toLowerCase()
  for (const m of state.members) if (m.accounts.some((x) => x.address.toLowerCase() === a)) return m.name
  return short(address, 4)
}

const badge = (status) => h("span", { class: `badge status-${status}`, "data-testid": "status" }, status)

// ------------------------------------------------------------------ data

const loadTasks = async () => {
  state.tasks = (await call("tasks.list", { query: { limit: 200 } })).tasks
}
const loadMembers = async () => {
  state.members = (await call("governance.members")).members
}
const loadPending = async () => {
  state.pending = (await call("governance.pendingConsents")).pending
}
const loadRejections = async () => {
  state.rejected = Object.values((await call("governance.rejections")).counts).reduce((a, b) => a + b, 0)
}
const loadDetail = async () => {
  if (!state.selected) return void ((state.detail = null), (state.refused = null))
  try {
    const detail = await call("tasks.get", { params: { id: state.selected } })
    // The result only for its recipients: anyone else sees the task without it.
    const result = detail.status === "Succeeded" ? await call("tasks.result", { params: { id: detail.id } }).catch((e) => (e instanceof ApiError && e.status === 403 ? { withheld: e.message } : null)) : null
    state.detail = { ...detail, result: result?.result ?? null, resultWithheld: result?.withheld ?? null }
    state.refused = null
    // A result naming a stored model (federated learning's): its metadata, for the prediction panel.
    const modelId = state.detail.result?.modelId
    if (typeof modelId !== "string") state.model = null
    else if (state.model?.id !== modelId) state.model = await call("models.get", { params: { modelId } }).catch(() => null)
  } catch (e) {
    state.detail = null
    state.refused = e instanceof ApiError ? { status: e.status, tag: e.tag, message: e.message } : { status: 0, tag: "Error", message: String(e) }
    return
  }
  const d = state.detail
  // Verification needs a final task whose every chain record is confirmed; re-run when that picture changes.
  const confirmed = d ? d.chain.filter((c) => c.status === "confirmed").length : 0
  const key = d ? `${d.id}:${d.status}:${confirmed}/${d.chain.length}` : ""
  if (d && finalStatuses.has(d.status) && confirmed === d.chain.length && key !== state.verifyKey) {
    state.verifyKey = key
    state.verify = await call("tasks.verify", { params: { id: d.id } }).catch((e) => ({ ok: false, error: e.message, checks: [] }))
  } else if (!d || key !== state.verifyKey) {
    state.verify = null
  }
}
const loadCatalogue = async () => {
  try {
    const [catalog, grants, models] = await Promise.all([call("governance.catalog", { query: { all: "1" } }), call("governance.grants"), call("governance.modelRequests")])
    state.catalogue = { datasets: catalog.datasets, grants: grants.grants, modelRequests: models.requests }
  } catch (error) {
    state.catalogue = { unavailable: error.message }
  }
}

// ------------------------------------------------------------------ views

const renderPending = () => {
  if (state.pending.length === 0) return null
  return h("section", { class: "card pending", "data-testid": "pending-consents" },
    h("h2", {}, "Consents waiting for a human"),
    h("p", { class: "muted" }, "These participants' policies ask a person. Your decision is authenticated with the participant's dashboard token (printed by ",
      h("code", {}, "jointly participant"), " at start) and signed by the participant itself."),
    state.pending.map(consentCard))
}

const tokenKey = (participant) => `jointly.dashboard-token.${participant.toLowerCase()}`

const consentCard = (p) => {
  const task = state.tasks.find((t) => t.id === p.taskId)
  const id = `${p.taskId}/${p.participant}`
  const token = h("input", { type: "password", placeholder: "dashboard token", autocomplete: "off", "data-testid": "consent-token", value: sessionStorage.getItem(tokenKey(p.participant)) ?? "" })
  const reason = h("input", { type: "text", placeholder: "reason (recorded, hashed on chain)", "data-testid": "consent-reason" })
  const error = state.consentErrors.get(id)
  const decide = (approve) => async (event) => {
    const buttons = event.target.closest(".consent").querySelectorAll("button")
    buttons.forEach((b) => (b.disabled = true))
    try {
      const text = reason.value.trim() || (approve ? "approved in the dashboard" : "rejected in the dashboard")
      const mac = await humanMac(token.value.trim(), { taskId: p.taskId, participant: p.participant, approve, reason: text })
      await call("governance.decideConsent", { params: { id: p.taskId, participant: p.participant }, body: { approve, reason: text, mac } })
      sessionStorage.setItem(tokenKey(p.participant), token.value.trim())
      state.consentErrors.delete(id)
      await refresh({ pending: true, tasks: true })
    } catch (e) {
      state.consentErrors.set(id, e.message)
      buttons.forEach((b) => (b.disabled = false))
      render()
    }
  }
  return h("div", { class: "consent", "data-testid": "consent", "data-task-id": p.taskId, "data-participant": p.participant },
    h("div", { class: "consent-head" },
      h("strong", {}, nameOf(p.participant)), " is asked to join ",
      h("a", { href: `#/tasks/${p.taskId}` }, task ? `${task.kind}${task.spec?.name ? ` “${task.spec.name}”` : ""}` : short(p.taskId)),
      task ? h("span", { class: "muted" }, ` from ${nameOf(task.initiator)}`) : null),
    h("div", { class: "muted small" }, p.summary, " · waiting since ", when(p.since)),
    h("div", { class: "consent-form" }, token, reason,
      h("button", { class: "approve", onclick: decide(true), "data-testid": "approve" }, "Approve"),
      h("button", { class: "reject", onclick: decide(false), "data-testid": "reject" }, "Reject")),
    error ? h("div", { class: "error", "data-testid": "consent-error" }, error) : null)
}

/** HMAC-SHA256 over the decision, under the participant's token (participant/src/policy/HumanToken.ts). */
const humanMac = async (token, a) => {
  if (!token) throw new Error("enter the participant's dashboard token")
  if (!crypto.subtle) throw new Error("deciding needs a secure page (https, or the coordinator on localhost)")
  const enc = new TextEncoder()
  const message = ["jointly.consent.human.v1", a.taskId.toLowerCase(), a.participant.toLowerCase(), a.approve ? "approve" : "reject", a.reason].join("\n")
  const key = await crypto.subtle.importKey("raw", enc.encode(token), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(message)))
  return "0x" + [...mac].map((b) => b.toString(16).padStart(2, "0")).join("")
}

const renderTaskList = () =>
  h("section", { class: "card tasks" },
    h("h2", {}, "Tasks ", h("span", { class: "muted" }, `(${state.tasks.length})`)),
    state.tasks.length === 0
      ? h("p", { class: "muted" }, "No task yet.")
      : h("table", { class: "list" },
        h("thead", {}, h("tr", {}, h("th", {}, "task"), h("th", {}, "kind"), h("th", {}, "parties"), h("th", {}, "status"), h("th", {}, "created"))),
        h("tbody", {}, state.tasks.map((t) =>
          h("tr", {
            class: t.id === state.selected ? "selected" : "",
            "data-testid": "task-row",
            "data-task-id": t.id,
            "data-status": t.status,
            onclick: () => (location.hash = `#/tasks/${t.id}`)
          },
          h("td", {}, h("code", {}, short(t.id, 4)), t.spec?.name ? h("div", { class: "muted small" }, t.spec.name) : null),
          h("td", {}, t.kind),
          h("td", {}, t.spec.parties.map((p) => nameOf(p.participant)).join(", ")),
          h("td", {}, badge(t.status)),
          h("td", { class: "muted" }, when(t.createdAt)))))))

/** Per-round metrics from the federated-learning protocol's Progress events (stage "fl.round"). */
const roundsOf = (events) =>
  events.flatMap((e) => {
    if (e.type !== "Progress" || typeof e.data?.detail !== "string") return []
    try {
      const m = JSON.parse(e.data.detail)
      return typeof m.round === "number" ? [m] : []
    } catch {
      return []
    }
  })

const eventLine = (e, t0) => {
  const d = e.data ?? {}
  const at = h("span", { class: "at" }, `+${((Date.parse(e.at) - t0) / 1000).toFixed(1)}s`)
  let icon = "•"
  let text
  switch (e.type) {
    case "Submitted":
      icon = "✎"
      text = [`submitted by ${nameOf(d.initiator)}`]
      break
    case "ConsentApproved":
    case "ConsentRejected":
      icon = e.type === "ConsentApproved" ? "✓" : "✗"
      text = [h("strong", {}, nameOf(d.participant)), e.type === "ConsentApproved" ? " approved" : " rejected", d.reason ? h("span", { class: "muted" }, ` — ${d.reason}`) : ""]
      break
    case "Progress": {
      icon = "↻"
      let m
      try {
        m = d.detail ? JSON.parse(d.detail) : undefined
      } catch {
        m = undefined
      }
      text = m && typeof m.round === "number"
        ? [`round ${d.done}/${d.total}`, typeof m.loss === "number" ? ` · loss ${m.loss.toFixed(4)}` : "", typeof m.accuracy === "number" ? ` · accuracy ${(m.accuracy * 100).toFixed(1)}%` : "",
          Array.isArray(m.contributors) ? h("span", { class: "muted" }, ` · ${m.contributors.length} contributors`) : ""]
        : [`${d.stage}: ${d.done}/${d.total}`]
      break
    }
    case "PhaseCommitted":
      icon = "#"
      text = [`phase ${d.phase} committed `, h("code", {}, short(d.root))]
      break
    case "ArtifactStored":
      icon = "▣"
      text = [`${d.role} stored, content-addressed `, h("code", { title: d.cid }, short(d.cid, 8))]
      break
    case "Succeeded":
      icon = "★"
      text = ["succeeded · result digest ", h("code", {}, short(d.resultDigest))]
      break
    default:
      if (d.from !== undefined) {
        icon = "→"
        text = [`${d.from} → `, h("strong", {}, e.type), d.reason ? h("span", { class: "muted" }, ` — ${d.reason}`) : ""]
      } else text = [e.type, h("span", { class: "muted" }, ` ${JSON.stringify(d).slice(0, 120)}`)]
  }
  return h("li", { class: `ev ev-${e.type}`, "data-testid": "timeline-event", "data-type": e.type }, h("span", { class: "icon" }, icon), h("span", { class: "what" }, ...text), at)
}

const renderCurves = (rounds) => {
  const loss = rounds.filter((r) => typeof r.loss === "number").map((r) => ({ x: r.round, y: r.loss }))
  const accuracy = rounds.filter((r) => typeof r.accuracy === "number").map((r) => ({ x: r.round, y: r.accuracy }))
  if (loss.length === 0 && accuracy.length === 0) return null
  return h("section", { class: "card", "data-testid": "training-curves" },
    h("h3", {}, "Training curves ", h("span", { class: "muted" }, `(${rounds.length} rounds, validation metrics weighted by rows)`)),
    h("div", { class: "charts" },
      loss.length ? lineChart({ title: "validation loss", series: [{ name: "loss", color: "#d9480f", points: loss }], format: (y) => y.toFixed(3) }) : null,
      accuracy.length ? lineChart({ title: "validation accuracy", series: [{ name: "accuracy", color: "#2b8a3e", points: accuracy }], yMin: 0, yMax: 1, format: (y) => `${Math.round(y * 100)}%` }) : null))
}

const renderVerify = (d) => {
  const pending = d.chain.filter((c) => c.status === "pending").length
  const v = state.verify
  if (!finalStatuses.has(d.status) || pending > 0) {
    return h("span", { class: "verify pending", "data-testid": "verify-badge", "data-ok": "pending" }, `notarizing… ${pending} record(s) pending`)
  }
  if (!v) return h("span", { class: "verify pending", "data-testid": "verify-badge", "data-ok": "pending" }, "verifying…")
  const failed = (v.checks ?? []).filter((c) => !c.ok)
  return h("div", {},
    v.ok
      ? h("span", { class: "verify ok", "data-testid": "verify-badge", "data-ok": "true", title: "every check of jointly verify passed" }, `✓ verified on chain (${v.checks.length} checks)`)
      : h("span", { class: "verify bad", "data-testid": "verify-badge", "data-ok": "false" }, `✗ does not match the chain${v.error ? `: ${v.error}` : ` (${failed.length} failed)`}`),
    h("details", { class: "checks" }, h("summary", {}, "checks"),
      h("ul", {}, (v.checks ?? []).map((c) => h("li", { class: c.ok ? "ok" : "bad" }, c.ok ? "✓ " : "✗ ", h("strong", {}, c.name), h("span", { class: "muted" }, ` ${c.detail}`))))))
}

const renderDetail = () => {
  const d = state.detail
  if (!state.selected) return h("section", { class: "card detail muted" }, "Select a task to see its lifecycle, training curves and chain trail.")
  if (state.refused) {
    return h("section", { class: "card detail refused", "data-testid": "refused", "data-status": state.refused.status, "data-tag": state.refused.tag },
      h("h2", {}, state.refused.status === 404 ? "No such task" : "Not yours to see"),
      h("p", { class: "error" }, state.refused.message),
      h("p", { class: "muted" }, "A task is shown to its initiator, its parties and its result recipients; the supervisor and operators see its metadata."))
  }
  if (!d) return h("section", { class: "card detail" }, "Loading task…")
  const t0 = d.events.length ? Date.parse(d.events[0].at) : 0
  const rounds = roundsOf(d.events)
  return h("div", { class: "detail", "data-testid": "task-detail", "data-task-id": d.id, "data-status": d.status },
    h("section", { class: "card" },
      h("div", { class: "detail-head" }, h("h2", {}, d.kind, d.spec?.name ? h("span", { class: "muted" }, ` “${d.spec.name}”`) : ""), badge(d.status)),
      h("div", { class: "kv" },
        h("span", {}, "task"), h("code", { class: "wrap" }, d.id),
        h("span", {}, "initiator"), h("span", {}, nameOf(d.initiator), " ", h("code", { class: "muted" }, short(d.initiator, 4))),
        h("span", {}, "parties"), h("span", {}, d.spec.parties.map((p) => `${nameOf(p.participant)} (${p.dataset})`).join(", ")),
        h("span", {}, "attempt"), h("span", {}, d.attempt),
        d.reason ? [h("span", {}, "reason"), h("span", { class: d.status === "Succeeded" ? "" : "error" }, d.reason)] : null)),
    h("section", { class: "card" },
      h("h3", {}, "Lifecycle"),
      h("ol", { class: "timeline", "data-testid": "timeline" }, d.events.map((e) => eventLine(e, t0)))),
    renderCurves(rounds),
    h("section", { class: "card" },
      h("div", { class: "detail-head" }, h("h3", {}, "Chain trail"), renderVerify(d)),
      h("table", { class: "list chain-trail", "data-testid": "chain-trail" },
        h("thead", {}, h("tr", {}, h("th", {}, "operation"), h("th", {}, "status"), h("th", {}, "transaction"), h("th", {}, "block"))),
        h("tbody", {}, d.chain.map((c) => h("tr", { "data-testid": "chain-op", "data-op": c.op, "data-status": c.status },
          h("td", {}, c.op), h("td", {}, h("span", { class: `badge chain-${c.status}` }, c.status)),
          h("td", {}, c.txHash ? h("code", { title: c.txHash }, short(c.txHash, 8)) : h("span", { class: "muted" }, c.lastError ?? "—")),
          h("td", {}, c.blockNumber ?? "—")))))),
    d.result !== null && d.result !== undefined
      ? [renderResult(d.kind, d.result, { name: nameOf }), state.model ? renderPredictPanel(state.model) : null]
      : d.resultWithheld
        ? h("section", { class: "card muted", "data-testid": "result-withheld" }, h("h3", {}, "Result"), d.resultWithheld)
        : null)
}

/**
 * Rows (CSV, one per line, optionally under a header naming the model's columns) scored by the coordinator with
 * the task's stored model (`models.predict`): the answer is this account's, drawn by renderPredictions. The API
 * decides who may predict (the trainers, holders of a grant for the model); a refusal is shown as it comes.
 */
const renderPredictPanel = (model) => {
  const p = state.predict
  if (p.modelId !== model.id) Object.assign(p, { modelId: model.id, input: "", answer: null, error: null, busy: false })
  const input = h("textarea", { rows: 5, spellcheck: "false", placeholder: `${model.featureColumns.join(",")}\n…`, "data-testid": "predict-rows", oninput: (e) => (p.input = e.target.value) })
  input.value = p.input
  const submit = async () => {
    p.busy = true
    render()
    try {
      const rows = parseRows(p.input, model.featureColumns)
      const answer = await call("models.predict", { params: { modelId: model.id }, body: { rows } })
      Object.assign(p, { answer: answer.predictions, error: null })
    } catch (e) {
      Object.assign(p, { answer: null, error: { status: e.status ?? 0, tag: e.tag ?? "Error", message: e.message } })
    }
    p.busy = false
    render()
  }
  return h("section", { class: "card", "data-testid": "predict-panel", "data-model-id": model.id },
    h("h3", {}, "Predict with this model ", h("span", { class: "muted" }, `(${model.format}, trained by ${model.trainers.map(nameOf).join(", ")})`)),
    h("p", { class: "muted" }, "One row per line, the model's columns in order (", h("code", {}, model.featureColumns.join(", ")),
      ") or under a header naming them. The coordinator scores them with the stored model and answers you alone; its trainers and holders of a grant for it may predict."),
    input,
    h("div", {}, h("button", { class: "approve", onclick: submit, disabled: p.busy, "data-testid": "predict" }, p.busy ? "Predicting…" : "Predict")),
    p.error ? h("p", { class: "error", "data-testid": "predict-error", "data-status": p.error.status, "data-tag": p.error.tag }, p.error.message) : null,
    p.answer ? renderPredictions(p.answer) : null)
}

/** CSV rows to the API's rows: objects by column under a header line, else arrays in the model's column order. */
const parseRows = (text, columns) => {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "")
  if (lines.length === 0) throw new Error("enter at least one row")
  const cells = lines.map((l) => l.split(",").map((c) => c.trim()))
  const header = cells[0].some((c) => c !== "" && Number.isNaN(Number(c))) ? cells.shift() : null
  const unknown = header?.filter((c) => !columns.includes(c)) ?? []
  if (unknown.length) throw new Error(`the model has no column ${unknown.join(", ")} (its columns: ${columns.join(", ")})`)
  return cells.map((row, i) => {
    const values = row.map(Number)
    if (values.some((v) => !Number.isFinite(v))) throw new Error(`row ${i + 1}: every value must be a number`)
    return header ? Object.fromEntries(header.map((c, j) => [c, values[j]])) : values
  })
}

const renderMembers = () =>
  h("section", { class: "card", "data-testid": "members" },
    h("h2", {}, "Consortium members"),
    h("p", { class: "muted" }, "Every organisation this coordinator has met, with its state read from the registry on chain."),
    h("table", { class: "list" },
      h("thead", {}, h("tr", {}, h("th", {}, "organisation"), h("th", {}, "chain state"), h("th", {}, "accounts"), h("th", {}, "tasks"))),
      h("tbody", {}, state.members.map((m) => h("tr", { "data-testid": "member", "data-name": m.name, "data-state": m.state },
        h("td", {}, h("strong", {}, m.name), m.companyId ? h("div", { class: "muted small" }, h("code", {}, short(m.companyId))) : null),
        h("td", {}, h("span", { class: `badge org-${m.state}` }, m.state)),
        h("td", {}, m.accounts.map((a) => h("div", {}, h("span", { class: a.online ? "dot on" : "dot", title: a.online ? "connected" : "not connected" }), h("code", {}, short(a.address, 4))))),
        h("td", {}, m.accounts.reduce((n, a) => n + a.tasks, 0)))))))

const renderCatalogue = () => {
  const c = state.catalogue
  if (!c) return h("section", { class: "card" }, "Loading catalogue…")
  if (c.unavailable) return h("section", { class: "card muted", "data-testid": "catalogue" }, `No catalogue: ${c.unavailable}`)
  return h("div", {},
    h("section", { class: "card", "data-testid": "catalogue" },
      h("h2", {}, "Data catalogue"),
      c.datasets.length === 0 ? h("p", { class: "muted" }, "No dataset published yet.") : h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["dataset", "domain", "owner", "access", "state", "rows", "content hash"].map((x) => h("th", {}, x)))),
        h("tbody", {}, c.datasets.map((d) => h("tr", {},
          h("td", {}, h("strong", {}, d.name)), h("td", {}, d.domain), h("td", {}, nameOf(d.owner)), h("td", {}, d.policy),
          h("td", {}, h("span", { class: `badge org-${d.state}` }, d.state)), h("td", {}, d.size), h("td", {}, h("code", {}, short(d.contentHash)))))))),
    h("section", { class: "card" },
      h("h2", {}, "Access grants"),
      c.grants.length === 0 ? h("p", { class: "muted" }, "No grant.") : h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["token", "dataset", "requester", "owner", "purpose", "uses", "status", ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, c.grants.map((g) => h("tr", { "data-testid": "grant", "data-token-id": g.tokenId, "data-status": g.status },
          h("td", {}, h("code", { title: g.tokenId }, short(g.tokenId))), h("td", {}, h("code", {}, short(g.datasetId))), h("td", {}, nameOf(g.requester)), h("td", {}, nameOf(g.owner)),
          h("td", {}, g.purpose), h("td", {}, `${g.uses}/${g.maxUses}`), h("td", {}, h("span", { class: "badge" }, g.status)),
          h("td", {}, grantDecision(g))))))),
    h("section", { class: "card", "data-testid": "model-requests" },
      h("h2", {}, "Model requests"),
      h("p", { class: "muted" }, "Analyses sent to the data, encrypted to its owner. A policy that asks a human serves one only once someone of the owner's organisation approved it on chain."),
      (c.modelRequests ?? []).length === 0 ? h("p", { class: "muted" }, "No model request.") : h("table", { class: "list" },
        h("thead", {}, h("tr", {}, ["request", "dataset", "from", "to", "state", ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, c.modelRequests.map((r) => h("tr", { "data-testid": "model-request", "data-req-id": r.reqId, "data-state": r.state },
          h("td", {}, h("code", { title: r.reqId }, short(r.reqId))), h("td", {}, datasetName(r.datasetId)), h("td", {}, nameOf(r.from)), h("td", {}, nameOf(r.to)),
          h("td", {}, h("span", { class: "badge" }, r.state)), h("td", {}, modelDecision(r))))))))
}

/** A catalogue entry's name by id, else the id itself, shortened. */
const datasetName = (datasetId) => {
  const d = state.catalogue?.datasets?.find((x) => x.datasetId?.toLowerCase() === String(datasetId).toLowerCase())
  return d ? h("span", {}, d.name) : h("code", { title: datasetId }, short(datasetId))
}

/**
 * An owner's decision row: approve / reject buttons sending `decide(id, approve, reason)` through the signed-in
 * wallet (onchain.js), shown when `may(signed-in address)`; the contract refuses by name whoever may not decide, and
 * the last refusal stays shown. `pending` tells when the coordinator's chain index has not read the decision yet.
 */
const decisionButtons = ({ may, errors, key, testid, send, pending }) => {
  const s = session()
  const error = errors.get(key)
  const shown = error ? h("div", { class: "error", "data-testid": `${testid}-error`, "data-tag": error.tag }, error.message) : null
  if (!s || !may(s.address.toLowerCase())) return shown
  const decide = (approve) => async (event) => {
    const buttons = event.target.closest("td").querySelectorAll("button")
    buttons.forEach((b) => (b.disabled = true))
    try {
      // ethers' browser build loads only when an owner decides.
      await send(await import("./onchain.js"), s.address, approve)
      errors.delete(key)
      // The coordinator's index reads the decision from the chain; the row changes once it has.
      for (let i = 0; i < 40; i++) {
        await loadCatalogue()
        if (!pending()) break
        await new Promise((r) => setTimeout(r, 250))
      }
    } catch (e) {
      errors.set(key, { tag: e.tag ?? "Error", message: e.message })
    }
    render()
  }
  return h("div", { class: "grant-decision" },
    h("button", { class: "approve", onclick: decide(true), "data-testid": `${testid}-approve` }, "Approve"), " ",
    h("button", { class: "reject", onclick: decide(false), "data-testid": `${testid}-reject` }, "Reject"),
    shown)
}

/**
 * The owner organisation's approve / reject of a waiting model request. Shown on requests this account did not send
 * (the coordinator lists to a member only its own and its organisation's); the contract checks the organisation.
 */
const modelDecision = (r) =>
  decisionButtons({
    may: (me) => r.state === "Requested" && r.from.toLowerCase() !== me,
    errors: state.modelErrors,
    key: r.reqId,
    testid: "model",
    send: (chain, account, approve) => chain.decideModelRequest({ contract: state.chain.suite?.modelRequests, account, reqId: r.reqId, approve, reason: approve ? "approved in the dashboard" : "rejected in the dashboard" }),
    pending: () => state.catalogue.modelRequests?.find((x) => x.reqId === r.reqId)?.state === "Requested"
  })

/**
 * The owner's approve / reject of a requested grant: a transaction its wallet signs (onchain.js), checked by the
 * contract; a refusal shows the contract's error by name. Only on the owner's own requested grants.
 */
const grantDecision = (g) =>
  decisionButtons({
    may: (me) => g.status === "Requested" && g.owner.toLowerCase() === me,
    errors: state.grantErrors,
    key: g.tokenId,
    testid: "grant",
    send: (chain, account, approve) => chain.decideGrant({ contract: state.chain.suite?.grants, account, tokenId: g.tokenId, approve, reason: approve ? "approved in the dashboard" : "rejected in the dashboard" }),
    pending: () => state.catalogue.grants?.find((x) => x.tokenId === g.tokenId)?.status === "Requested"
  })

/** The confirmations setting and what it buys: the catch-up risk at that depth (Nakamoto's q = 10 %, 30 %). */
const finality = (chain) => {
  if (chain.confirmations === undefined) return []
  const risks = (chain.catchUpRisk ?? []).map((r) => `q = ${Math.round(r.q * 100)} %: ${r.probability < 1e-4 ? r.probability.toExponential(1) : r.probability.toFixed(4)}`)
  return [
    " · ",
    h("span", {
      "data-testid": "finality",
      "data-confirmations": chain.confirmations,
      title: "probability that an attacker with hash-power share q ever rewrites a record at this depth (proof-of-work chains; under BFT finality a committed block is final)"
    }, `${chain.confirmations} confirmation${chain.confirmations === 1 ? "" : "s"}${risks.length ? ` (catch-up ${risks.join(", ")})` : ""}`)
  ]
}

const render = () => {
  const app = document.getElementById("app")
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === state.view)
  const info = document.getElementById("chain-info")
  if (state.chain) info.replaceChildren(`chain ${state.chain.chainId} · ledger `, h("code", { title: state.chain.ledger }, short(state.chain.ledger, 4)), ...finality(state.chain))
  const s = session()
  document.getElementById("account").replaceChildren(
    ...(s
      ? [h("span", { "data-testid": "account", "data-address": s.address, title: s.address }, roleOf(s.roles), " ", h("code", {}, short(s.address, 4))), " ",
        h("span", { class: state.rejected ? "rejections warn" : "rejections", "data-testid": "rejections", "data-count": state.rejected, title: "requests refused by the abuse limits" }, `${state.rejected} refused`), " ",
        h("button", { class: "link", onclick: () => (signOut(), location.reload()) }, "sign out")]
      : []))
  // Keep what the human is typing in a consent card across live re-renders.
  const typing = [...app.querySelectorAll(".consent")].map((c) => [`${c.dataset.taskId}/${c.dataset.participant}`, [...c.querySelectorAll("input")].map((i) => i.value)])
  const focused = document.activeElement?.closest?.(".consent") ? [document.activeElement.closest(".consent").dataset.taskId, document.activeElement.dataset.testid] : null
  let body
  if (state.view === "submit") body = state.form ?? h("section", { class: "card" }, "Loading the task form…")
  else if (state.view === "members") body = renderMembers()
  else if (state.view === "catalogue") body = renderCatalogue()
  else body = h("div", { class: "tasks-view" }, renderPending(), h("div", { class: "split" }, renderTaskList(), renderDetail()))
  app.replaceChildren(body)
  for (const [key, values] of typing) {
    const card = [...app.querySelectorAll(".consent")].find((c) => `${c.dataset.taskId}/${c.dataset.participant}` === key)
    card?.querySelectorAll("input").forEach((input, i) => values[i] && (input.value = values[i]))
  }
  if (focused) app.querySelector(`.consent[data-task-id="${focused[0]}"] [data-testid="${focused[1]}"]`)?.focus()
}

const roleOf = (roles) => (roles.supervisor ? "supervisor" : roles.operator ? "operator" : roles.member ? roles.org ?? "member" : `not a member (${roles.orgState})`)

/**
 * The sign-in card: the wallet signs a Sign-In with Ethereum message for this coordinator; or, without a wallet,
 * a participant's dashboard token proves the user to that participant, which signs for its organisation.
 */
const renderSignIn = (error) => {
  const attempt = (button, how) => async () => {
    button.disabled = true
    try {
      await how()
      await start()
    } catch (e) {
      document.getElementById("app").replaceChildren(renderSignIn(e.message))
    }
  }
  const button = h("button", { class: "approve", "data-testid": "sign-in" }, "Sign in with your wallet")
  button.addEventListener("click", attempt(button, signIn))
  const address = h("input", { type: "text", placeholder: "participant address 0x…", autocomplete: "off", spellcheck: "false", "data-testid": "token-address" })
  const token = h("input", { type: "password", placeholder: "dashboard token", autocomplete: "off", "data-testid": "token-secret" })
  const tokenButton = h("button", { "data-testid": "token-sign-in" }, "Sign in with the token")
  tokenButton.addEventListener("click", attempt(tokenButton, () => signInWithToken(address.value.trim(), token.value.trim())))
  return h("section", { class: "card signin", "data-testid": "sign-in-card" },
    h("h2", {}, "Sign in"),
    h("p", {}, "This coordinator shows members what their organisation may see. Sign in with your organisation's chain account: your wallet signs a message naming this coordinator; no transaction, no gas."),
    button,
    h("p", { class: "muted" }, "No wallet? A participant's data steward signs in as its organisation with the participant's dashboard token (printed by ",
      h("code", {}, "jointly participant"), " and kept in its data directory). The token never leaves this page: the participant checks it and signs for itself."),
    h("div", { class: "consent-form" }, address, token, tokenButton),
    error ? h("p", { class: "error", "data-testid": "sign-in-error" }, error) : null)
}

// ------------------------------------------------------------------ routing and live updates

const route = async () => {
  const [, view, id] = location.hash.match(/^#\/(\w+)(?:\/(0x[0-9a-fA-F]{64}))?/) ?? []
  state.view = view === "members" || view === "catalogue" || view === "submit" ? view : "tasks"
  state.selected = state.view === "tasks" ? (id ?? state.selected) : state.selected
  if (state.view === "catalogue") await loadCatalogue()
  if (state.view === "submit" && !state.form) {
    // Built once (its kinds' Schemas load with it), then kept with what was typed in it.
    const { taskForm } = await import("./taskform.js")
    state.form = taskForm({
      session,
      accounts: () => state.members.flatMap((m) => m.accounts.map((a) => ({ address: a.address, name: m.name }))),
      onSubmitted: () => void refresh({ tasks: true })
    })
  }
  if (state.view === "members") await loadMembers()
  await loadDetail()
  render()
}

let pending = { tasks: false, detail: false, pending: false, members: false }
let timer = 0
let waiters = []
/** Coalesces bursts of live events into one re-read per ~100 ms. */
const refresh = (what) => {
  pending = { tasks: pending.tasks || !!what.tasks, detail: pending.detail || !!what.detail, pending: pending.pending || !!what.pending, members: pending.members || !!what.members }
  clearTimeout(timer)
  return new Promise((resolve) => {
    waiters.push(resolve)
    timer = setTimeout(async () => {
      const now = pending
      const done = waiters
      pending = { tasks: false, detail: false, pending: false, members: false }
      waiters = []
      await Promise.all([
        now.tasks ? loadTasks() : null,
        now.detail ? loadDetail() : null,
        now.pending ? loadPending() : null,
        now.members ? loadMembers() : null
      ]).catch(() => {})
      render()
      for (const w of done) w()
    }, 100)
  })
}

const connect = async () => {
  const live = document.getElementById("live")
  for (;;) {
    if (!session()) {
      live.dataset.state = "signed-out"
      live.textContent = "signed out"
      return void document.getElementById("app").replaceChildren(renderSignIn("your session ended: sign in again"))
    }
    try {
      await stream("tasks.events", {
        onOpen: () => {
          live.dataset.state = "live"
          live.textContent = "● live"
          // Whatever happened while disconnected: read everything again.
          void refresh({ tasks: true, detail: true, pending: true, members: true })
        },
        onEvent: (event) => {
          if (event.type === "limits") {
            state.rejected = event.rejected
            return render()
          }
          const mine = event.taskId && event.taskId === state.selected
          void refresh({
            tasks: event.type === "status" || event.type === "human",
            detail: mine || (event.type === "chain" && !event.taskId && state.selected),
            pending: event.type === "human" || event.type === "status",
            members: event.type === "status" && state.view === "members"
          })
        }
      })
    } catch {
      /* refused or cut: retried below */
    }
    live.dataset.state = "reconnecting"
    live.textContent = "reconnecting…"
    await new Promise((r) => setTimeout(r, 1000))
  }
}

let started = false
const start = async () => {
  state.chain = (await call("meta.health")).chain
  render()
  if (!session()) return void document.getElementById("app").replaceChildren(renderSignIn())
  try {
    await Promise.all([loadTasks(), loadMembers(), loadPending(), loadRejections()])
  } catch (e) {
    // Signed in, but not a member (or no longer one): say so, offer another account.
    return void document.getElementById("app").replaceChildren(renderSignIn(e.message))
  }
  if (started) return
  started = true
  window.addEventListener("hashchange", () => void route())
  await route()
  void connect()
}

void start()
