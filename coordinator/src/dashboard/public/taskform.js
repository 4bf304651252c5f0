// The analyst's task form: a kind, its parties, and its params as fields built from the kind's params Schema (the
// JSON Schema the coordinator derives from it, /dashboard/kinds.js). The page builds the spec, rebuilds its id
// exactly as the coordinator will (taskid.js), the user's wallet signs the id (EIP-191, as the typed client's
// `submit` signs it) and the coordinator decodes, checks and files it — or refuses with a typed error shown as is.
// Nothing is checked here that the coordinator does not check again: the form only shapes the input.
import { h, short } from "./dom.js"
import { kinds, options } from "./kinds.js"
import { call } from "./wallet.js"

/** `anyOf: [X, null]` is how an optional field's Schema reads in JSON Schema: X, optional. */
const unwrap = (schema) => {
  const options = Array.isArray(schema?.anyOf) ? schema.anyOf.filter((s) => s.type !== "null") : null
  return options && options.length === 1 ? { schema: options[0], nullable: true } : { schema: schema ?? {}, nullable: false }
}

const scalarOf = (type, text, name) => {
  if (type === "integer" || type === "number") {
    const n = Number(text)
    if (text === "" || !Number.isFinite(n)) throw new Error(`${name}: "${text}" is not a number`)
    return n
  }
  return text
}

/**
 * One field for a params property: its input and a `read()` that returns the value (undefined when left empty, so an
 * optional field is left out of the spec, never sent as null).
 */
const fieldFor = (name, raw, required) => {
  const { schema } = unwrap(raw)
  const label = (input, hint) => h("label", { class: "field", "data-field": name },
    h("span", { class: "field-name" }, name, required ? h("span", { class: "required", title: "required" }, " *") : null), input,
    hint ? h("span", { class: "muted small" }, hint) : null)
  const items = unwrap(schema.items).schema
  if (schema.type === "string" && Array.isArray(schema.enum)) {
    const select = h("select", { "data-param": name }, h("option", { value: "" }, required ? "choose…" : "(default)"), schema.enum.map((v) => h("option", { value: v }, v)))
    return { node: label(select), read: () => (select.value === "" ? undefined : select.value) }
  }
  if (schema.type === "boolean") {
    const select = h("select", { "data-param": name }, h("option", { value: "" }, "(default)"), h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no"))
    return { node: label(select), read: () => (select.value === "" ? undefined : select.value === "true") }
  }
  if (schema.type === "string" || schema.type === "integer" || schema.type === "number") {
    const input = h("input", { type: schema.type === "string" ? "text" : "number", "data-param": name, spellcheck: "false", placeholder: schema.pattern?.includes("0-9a-fA-F]{40}") ? "0x… account" : "" })
    const bounds = typeof schema.minimum === "number" && typeof schema.maximum === "number" && schema.maximum < 2 ** 53 - 1 ? `${schema.minimum} to ${schema.maximum}` : undefined
    return { node: label(input, bounds), read: () => (input.value.trim() === "" ? undefined : scalarOf(schema.type, input.value.trim(), name)) }
  }
  if (schema.type === "array" && items.type === "string" && Array.isArray(items.enum)) {
    const boxes = items.enum.map((v) => h("label", { class: "choice" }, h("input", { type: "checkbox", value: v, "data-param": `${name}:${v}` }), ` ${v}`))
    return { node: label(h("span", { class: "choices" }, boxes)), read: () => {
      const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value)
      return chosen.length ? chosen : undefined
    } }
  }
  if (schema.type === "array" && ["string", "integer", "number"].includes(items.type)) {
    const input = h("input", { type: "text", "data-param": name, spellcheck: "false" })
    return { node: label(input, "comma-separated"), read: () => {
      const parts = input.value.split(",").map((x) => x.trim()).filter((x) => x !== "")
      return parts.length ? parts.map((x) => scalarOf(items.type, x, name)) : undefined
    } }
  }
  // Anything else (nested objects, unions, records): typed as JSON.
  const area = h("textarea", { rows: 2, "data-param": name, spellcheck: "false", placeholder: "JSON" })
  return { node: label(area, "JSON"), read: () => {
    if (area.value.trim() === "") return undefined
    try {
      return JSON.parse(area.value)
    } catch (e) {
      throw new Error(`${name}: not JSON (${e.message})`)
    }
  } }
}

/** The params block of one kind: a field per property, or one JSON box when the kind has no JSON Schema form. */
const paramsFor = (kind) => {
  const schema = kinds[kind]
  if (!schema || schema.type !== "object" || !schema.properties) {
    const whole = fieldFor("params", {}, true)
    return { node: whole.node, read: () => whole.read() ?? {} }
  }
  const required = new Set(schema.required ?? [])
  const fields = Object.entries(schema.properties).map(([name, s]) => [name, fieldFor(name, s, required.has(name))])
  return {
    node: h("div", { class: "params" }, fields.map(([, f]) => f.node)),
    read: () => Object.fromEntries(fields.map(([name, f]) => [name, f.read()]).filter(([, v]) => v !== undefined))
  }
}

/** The envelope's optional settings (recipients, consent and round timeouts), from TaskSpec's Schema like the params. */
const optionsBlock = () => {
  const fields = Object.entries(options.properties ?? {}).map(([name, s]) => [name, fieldFor(name, s, false)])
  return {
    node: h("div", { class: "params", "data-testid": "form-options" }, fields.map(([, f]) => f.node)),
    read: () => Object.fromEntries(fields.map(([name, f]) => [name, f.read()]).filter(([, v]) => v !== undefined))
  }
}

const randomNonce = () => Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("")

/**
 * The form, built once per page and kept across the dashboard's re-renders (the same nodes, so what the user typed
 * stays). `accounts` lists the members' accounts to pick parties from; `onSubmitted(id)` opens the new task.
 * @param {{ session: () => ({ address: string } | null), accounts: () => Array<{ address: string, name: string }>, onSubmitted: (id: string) => void }} o
 */
export const taskForm = (o) => {
  const kindSelect = h("select", { "data-testid": "form-kind" }, Object.keys(kinds).map((k) => h("option", { value: k }, k)))
  const name = h("input", { type: "text", placeholder: "a name for people (optional)", "data-testid": "form-name" })
  const partyRows = h("div", { class: "party-rows" })
  const paramsSlot = h("div", {})
  const outcome = h("div", { "data-testid": "form-outcome" })
  const settings = optionsBlock()
  let params = paramsFor(kindSelect.value)
  paramsSlot.replaceChildren(params.node)
  kindSelect.addEventListener("change", () => {
    params = paramsFor(kindSelect.value)
    paramsSlot.replaceChildren(params.node)
  })

  const addParty = () => {
    const account = h("select", { "data-testid": "form-party" }, h("option", { value: "" }, "participant…"), o.accounts().map((a) => h("option", { value: a.address }, `${a.name} ${short(a.address, 4)}`)))
    const dataset = h("input", { type: "text", placeholder: "dataset", "data-testid": "form-dataset" })
    const row = h("div", { class: "party-row" }, account, dataset, h("button", { class: "link", onclick: () => row.remove() }, "remove"))
    partyRows.append(row)
  }
  addParty()
  addParty()

  const show = (node) => outcome.replaceChildren(node)
  const submit = async (event) => {
    const button = event.target
    button.disabled = true
    try {
      const s = o.session()
      if (!s) throw new Error("sign in first")
      if (!window.ethereum) throw new Error("signing a task needs your wallet: a data steward signed in with a participant's token cannot initiate tasks")
      const parties = [...partyRows.querySelectorAll(".party-row")].map((r) => ({ participant: r.querySelector("select").value, dataset: r.querySelector("input").value.trim() }))
        .filter((p) => p.participant !== "" || p.dataset !== "")
      const spec = { kind: kindSelect.value, ...(name.value.trim() ? { name: name.value.trim() } : {}), initiator: s.address, nonce: randomNonce(), parties, params: params.read(), ...settings.read() }
      // The id the coordinator will compute, signed by the wallet as the typed client signs it (EIP-191 over its 32 bytes).
      const { taskIdOf } = await import("./taskid.js")
      const id = taskIdOf(spec)
      const signature = await window.ethereum.request({ method: "personal_sign", params: [id, s.address] })
      const submitted = await call("tasks.submit", { body: { spec, signature } })
      if (submitted.taskId !== id) throw new Error(`the coordinator filed the task as ${submitted.taskId}, not as the id signed here (${id})`)
      show(h("p", { class: "ok", "data-testid": "form-submitted", "data-task-id": submitted.taskId, "data-computed-id": id },
        "Submitted: ", h("a", { href: `#/tasks/${submitted.taskId}` }, h("code", {}, short(submitted.taskId, 8))), submitted.status ? ` · ${submitted.status}` : ""))
      o.onSubmitted(submitted.taskId)
    } catch (e) {
      show(h("p", { class: "error", "data-testid": "form-error", "data-tag": e.tag ?? "Error", "data-reason": e.reason ?? "", "data-status": e.status ?? 0 }, e.message))
    }
    button.disabled = false
  }

  return h("section", { class: "card task-form", "data-testid": "task-form" },
    h("h2", {}, "New task"),
    h("p", { class: "muted" }, "Your wallet signs the task's id (the digest of exactly what you submit, rebuilt here as the coordinator computes it); each party's policy then decides whether to take part."),
    h("div", { class: "form-grid" },
      h("label", { class: "field" }, h("span", { class: "field-name" }, "kind"), kindSelect),
      h("label", { class: "field" }, h("span", { class: "field-name" }, "name"), name)),
    h("h4", {}, "Parties"), partyRows, h("button", { class: "link", onclick: addParty, "data-testid": "form-add-party" }, "+ party"),
    h("h4", {}, "Parameters"), paramsSlot,
    h("h4", {}, "Result and timeouts"),
    h("p", { class: "muted small" }, "Recipients read the result (left empty: you alone); timeouts in milliseconds (left empty: the coordinator's defaults)."),
    settings.node,
    h("div", {}, h("button", { class: "approve", onclick: submit, "data-testid": "form-submit" }, "Sign and submit")),
    outcome)
}
