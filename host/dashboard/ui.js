// DOM helpers shared by the views. Text from the task hub (ids, inputs, reasons) only ever
// becomes text nodes or attribute values, never markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// -- times ---------------------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, "0");

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

// Local time for reading, UTC on hover (the API's times are UTC).
export function localText(ms, withMs = false) {
  const d = new Date(ms);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${text}.${pad(d.getMilliseconds(), 3)}` : text;
}

export function utcText(ms) {
  return `${new Date(ms).toISOString().replace("T", " ").replace("Z", "")} UTC`;
}

export function timeEl(iso, withMs = false) {
  const ms = parseTime(iso);
  if (ms === null) return h("span", { class: "muted", text: "—" });
  return h("time", { datetime: iso, title: utcText(ms), text: localText(ms, withMs) });
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

// -- values --------------------------------------------------------------------------------

export function jsonText(value) {
  if (value === undefined) return "";
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

export function shortJson(value, max = 80) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function jsonBlock(value, empty = "null") {
  if (value === null || value === undefined) return h("pre", { class: "json empty", text: empty });
  return h("pre", { class: "json", text: jsonText(value) });
}

// A JSON field of a form: { ok, value } or { ok: false, error } with the parser's reason.
// An empty field is "no value" (undefined) when `optional`.
export function readJson(text, optional = true) {
  if (!text.trim()) {
    return optional ? { ok: true, value: undefined } : { ok: false, error: "a value is required" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${err.message}` };
  }
}

export const STATUSES = ["Running", "Pending", "Completed", "Failed", "Terminated", "Suspended",
  "ContinuedAsNew", "Canceled"];
export const ACTIVE = new Set(["Running", "Pending", "Suspended", "ContinuedAsNew"]);

export function badge(status) {
  return h("span", { class: `badge st-${(status || "unknown").toLowerCase()}`,
    text: status || "Unknown" });
}

export function instanceLink(id, text) {
  return h("a", { href: `#/instance/${encodeURIComponent(id)}`, class: "mono",
    text: text || id });
}

// -- dialogs and notices ---------------------------------------------------------------------

// A modal form. `fields` are elements; `submit(form)` returns a message on success (the
// dialog closes and the message is shown) or throws (the error stays in the dialog). A
// `check(form)` that returns a reason refuses the form before anything is sent.
export function openDialog({ title, fields = [], submitLabel = "OK", danger = false, submit,
                             check, note }) {
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const ok = h("button", { type: "submit", class: danger ? "danger" : "primary",
    text: submitLabel });
  const cancel = h("button", { type: "button", text: "Cancel" });
  const form = h("form", { method: "dialog", novalidate: true },
    h("h2", { text: title }), note ? h("p", { class: "muted", text: note }) : null,
    ...fields, error, h("div", { class: "dialog-buttons" }, cancel, ok));
  const dialog = h("dialog", { class: "modal" }, form);
  const close = () => { dialog.close(); dialog.remove(); };
  cancel.addEventListener("click", close);
  dialog.addEventListener("cancel", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const refused = check ? check(form) : null;
    if (refused) {
      error.textContent = refused;
      error.hidden = false;
      return;
    }
    ok.disabled = true;
    error.hidden = true;
    try {
      const message = await submit(form);
      close();
      if (message) toast(message, "ok");
    } catch (err) {
      error.textContent = err.message || String(err);
      error.hidden = false;
    } finally {
      ok.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = form.querySelector("input:not([type=hidden]), select, textarea");
  if (first) first.focus();
  return dialog;
}

export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { text: label }), control,
    hint ? h("small", { class: "muted", text: hint }) : null);
}

export function dialogOpen() {
  return document.querySelector("dialog[open]") !== null;
}

export function toast(message, kind = "ok") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`, role: "status" },
    ...(Array.isArray(message) ? message : [message]));
  box.append(item);
  // Long enough to read and click a link in it; the click target stays until it fades.
  setTimeout(() => item.classList.add("fade"), 6000);
  setTimeout(() => item.remove(), 6600);
}

export function errorBox(message) {
  return h("div", { class: "notice error", role: "alert", text: message });
}
