// The example participant page: pick a CSV, see each offered task and its consent question, approve or reject,
// watch progress, see the size of what left the browser. Copy it and the bundle (npm run bundle:browser) beside
// it; serve it from the coordinator's origin (or one the coordinator allows).
import { BrowserAgent, InjectedWallet, KeyVault } from "./dist/jointly-participant.js"

const $ = (id) => document.querySelector(`[data-testid="${id}"]`)
const el = (tag, attrs = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), attrs)
  for (const [k, v] of Object.entries(attrs)) if (k.startsWith("data-")) node.setAttribute(k, v)
  node.append(...children)
  return node
}
const vault = KeyVault.make()
const datasets = []
// Tests and embedders may listen to every agent event (e.g. to close the tab mid-task).
const notify = (event) => globalThis.__jointlyEvent?.(event)

const showAddress = async () => ($("address").textContent = (await vault.address()) ?? "none yet")
$("coordinator").value = location.origin
showAddress()

$("import").onclick = async () => {
  await vault.store($("import-key").value.trim())
  $("import-key").value = ""
  await showAddress()
}
$("create").onclick = async () => {
  await vault.create()
  await showAddress()
}
// The account in the person's wallet (window.ethereum): the key never enters this page, and the wallet shows each
// consent (EIP-712: task id, approve or reject, the reason's hash) before signing it.
let injected
$("use-wallet").onclick = async () => {
  if (!globalThis.ethereum) return alert("no browser wallet found on this page")
  injected = await InjectedWallet.connect(globalThis.ethereum)
  $("address").textContent = `${injected.address} (browser wallet)`
}

const parseColumns = (text) =>
  text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const [name, type = "number"] = s.split(":").map((p) => p.trim())
    if (!["number", "integer", "string"].includes(type)) throw new Error(`column ${name}: type ${type} is not number, integer or string`)
    return { name, type }
  })

$("add-dataset").onclick = () => {
  const file = $("dataset-file").files[0]
  if (!file) return alert("pick a CSV or Parquet file first")
  const id = $("dataset-id").value.trim()
  // A .parquet file is read as Parquet (only the declared columns), anything else as CSV.
  const source = file.name.toLowerCase().endsWith(".parquet") ? { parquet: file } : { csv: file }
  const dataset = { name: $("dataset-name").value.trim(), columns: parseColumns($("dataset-columns").value), ...source, ...(id ? { id } : {}) }
  datasets.push(dataset)
  $("datasets").append(el("li", { "data-testid": "dataset", "data-name": dataset.name }, `${dataset.name}: ${file.name} (${file.size} bytes), columns ${dataset.columns.map((c) => c.name).join(", ")}`))
}

// A model is kept by the running participant (connect first): checked, then sealed in this browser's IndexedDB.
$("keep-model").onclick = async () => {
  const file = $("model-file").files[0]
  if (!file) return alert("pick a model file first")
  if (!globalThis.__jointlyAgent) return alert("connect first")
  try {
    const kept = await globalThis.__jointlyAgent.keepModel(JSON.parse(await file.text()))
    $("model-status").textContent = kept.modelId
    $("model-status").dataset.modelId = kept.modelId
  } catch (error) {
    $("model-status").textContent = `refused: ${error.message}`
  }
}

/** The consent question as the person deciding reads it, with Approve / Reject. */
const ask = (question) =>
  new Promise((resolve) => {
    $("offers").querySelector("p.muted")?.remove()
    const reason = el("input", { type: "text", value: "approved in the participant page", "data-testid": "offer-reason" })
    const card = el("div", { className: "offer", "data-testid": "offer", "data-task-id": question.taskId, "data-kind": question.kind },
      el("strong", {}, `${question.kind}`), ` from ${question.initiator}`,
      el("p", {}, `Share computations over your dataset `, el("b", {}, question.dataset), ` (columns ${question.columns.join(", ")}) with ${question.parties - 1} other parties?`),
      el("p", { className: "muted" }, question.recipients?.length ? `The result goes to ${question.recipients.join(", ")}.` : "The result goes to the task's initiator."),
      el("label", {}, "Reason ", reason))
    const decide = (decision) => () => {
      card.remove()
      resolve({ decision, reason: reason.value || decision })
    }
    card.append(el("button", { onclick: decide("approve"), "data-testid": "approve" }, "Approve"), el("button", { onclick: decide("reject"), "data-testid": "reject" }, "Reject"))
    $("offers").append(card)
  })

const tasks = new Map()
const taskRow = (taskId, kind = "") => {
  let row = tasks.get(taskId)
  if (!row) {
    row = { node: el("div", { className: "task", "data-testid": "task", "data-task-id": taskId, "data-status": "Running" }), stages: el("span", { className: "mono" }), bar: el("progress", { max: 1, value: 0 }) }
    row.node.append(el("div", {}, el("strong", {}, kind), " ", el("span", { className: "mono muted" }, taskId.slice(0, 18) + "…")), row.bar, " ", row.stages)
    $("tasks").prepend(row.node)
    tasks.set(taskId, row)
  }
  return row
}

$("start").onclick = async () => {
  $("start").disabled = true
  $("status").textContent = "starting…"
  try {
    const agent = await BrowserAgent.start({
      coordinatorUrl: $("coordinator").value.trim(),
      wallet: injected ?? (await vault.open()),
      datasets,
      policy: ask,
      // What tasks leave this participant (a PSI's intersection, predictions) stays in the tab, for the page to show.
      onOutput: (output) => {
        ;(globalThis.__jointlyOutputs ??= []).push(output)
        $("outputs").textContent = String(globalThis.__jointlyOutputs.length)
      },
      // A page served by the test cluster's coordinator (loopback) may use the small keys of its test tasks.
      unsafeTestKeySizes: new URLSearchParams(location.search).has("test-keys")
    })
    globalThis.__jointlyAgent = agent
    agent.on((event) => {
      notify(event)
      if (event.type === "offer") taskRow(event.taskId, event.kind)
      if (event.type === "consent") taskRow(event.taskId).node.dataset.consent = event.approve ? "approved" : "rejected"
      if (event.type === "stage") {
        const row = taskRow(event.taskId)
        row.stages.textContent = `${event.stage} ${event.ok ? "✓" : "✗ " + event.detail}`
        row.bar.value = Math.min(1, row.bar.value + 0.2)
      }
      if (event.type === "ended") {
        const row = taskRow(event.taskId)
        row.node.dataset.status = event.status
        row.bar.value = 1
        row.stages.textContent = `${event.status}${event.reason ? ": " + event.reason : ""}`
      }
      const traffic = agent.traffic()
      $("sent-bytes").textContent = String(traffic.sentBytes)
      $("sent-packets").textContent = String(traffic.sentPackets)
      if (event.type === "connected" || event.type === "disconnected" || event.type === "refused") {
        $("status").textContent = event.type === "refused" ? `refused: ${event.message}` : event.type === "disconnected" ? `disconnected: ${event.reason}` : event.type
        $("status").dataset.state = event.type
      }
    })
    await agent.connected
    $("status").textContent = `connected as ${agent.address}`
    $("status").dataset.state = "connected"
  } catch (error) {
    $("status").textContent = `failed: ${error.message}`
    $("status").dataset.state = "failed"
    $("start").disabled = false
  }
}
