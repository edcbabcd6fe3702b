// The dashboard's shell: hash routes (#/instances, #/instance/{id}, #/entities,
// #/functions), the key prompt, the banner, and the live refresh.
//
// Live refresh: every REFRESH_MS while the tab is visible (document.visibilityState) and no
// dialog is open, the view on screen refreshes itself, and only that view; a refresh never
// overlaps the one before. What one refresh costs is said at the top of each view's module:
// on the instance list, one list query per 5 s per open tab (the counts every 30 s).

import { api, key, onHealth } from "./api.js";
import { mountEntities } from "./entities.js";
import { mountFunctions } from "./functions.js";
import { mountInstance } from "./instance.js";
import { mountInstances } from "./instances.js";
import { clear, dialogOpen, h } from "./ui.js";

const REFRESH_MS = 5000;
const view = document.getElementById("view");
const banner = document.getElementById("banner");
const hubInfo = document.getElementById("hub");
const forget = document.getElementById("forget-key");
let current = null;
let refreshing = false;
let locked = false;

const ctx = {
  fail(err) {
    if (err && err.kind === "auth") showKeyForm(err.message);
    else if (err) console.error(err);
  },
};

onHealth((problem) => {
  banner.hidden = !problem;
  banner.textContent = problem || "";
});

// A hand-edited hash may not decode ("%E0%A4"): it is then taken as written.
function decoded(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

function route() {
  if (locked) return;
  const hash = location.hash || "#/instances";
  const path = hash.slice(1).split("?")[0];
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "instances";
  for (const a of document.querySelectorAll("[data-nav]")) {
    const on = a.dataset.nav === page || (page === "instance" && a.dataset.nav === "instances");
    a.classList.toggle("on", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const d of document.querySelectorAll("dialog")) d.remove();
  window.scrollTo(0, 0);
  if (page === "instance" && parts[1]) {
    const id = decoded(parts.slice(1).join("/"));
    current = mountInstance(view, { id }, ctx);
    document.title = `${id} · func-py dashboard`;
  } else if (page === "entities") {
    current = mountEntities(view, {}, ctx);
    document.title = "Entities · func-py dashboard";
  } else if (page === "functions") {
    current = mountFunctions(view, {}, ctx);
    document.title = "Functions · func-py dashboard";
  } else {
    current = mountInstances(view, {}, ctx);
    document.title = "Instances · func-py dashboard";
  }
}

function showHub(status) {
  const hub = status.taskHub;
  clear(hubInfo, hub ? h("span", { title: `provider ${hub.provider}` },
    h("span", { class: "muted", text: "Task hub " }), hub.name) : "",
  h("span", { class: "muted", text: ` · func-py ${status.version}` }));
}

function showKeyForm(reason) {
  locked = true;
  current = null;
  for (const d of document.querySelectorAll("dialog")) d.remove();
  const refused = Boolean(key.get());
  const input = h("input", { type: "password", name: "key", autocomplete: "off",
    required: true, "aria-label": "Master key", placeholder: "master key" });
  const form = h("form", { class: "key-form", id: "key-form" }, input,
    h("button", { type: "submit", class: "primary", text: "Unlock" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault(); // never a navigation: the key must not reach a URL
    if (!input.value) return;
    key.set(input.value);
    boot();
  });
  forget.hidden = true;
  clear(view, h("section", { class: "view" }, h("div", { class: "card locked" },
    h("h1", { text: "This host requires a key" }),
    h("p", { class: "form-error", id: "key-reason", text: refused
      ? `The key was refused: ${reason}` : `The host refused the request: ${reason}` }),
    h("p", { text: "Enter the master key (FUNCPY_MASTER_KEY). The page keeps it in this tab's "
      + "session storage only and sends it in the x-functions-key header, never in a URL." }),
    form)));
  if (refused) key.clear();
  input.focus();
}

async function boot() {
  locked = false;
  try {
    showHub(await api.hostStatus());
  } catch (err) {
    if (err.kind === "auth") {
      showKeyForm(err.message);
      return;
    }
  }
  forget.hidden = !key.get();
  route();
}

async function tick() {
  if (document.visibilityState !== "visible" || dialogOpen() || refreshing || !current
      || !current.refresh) return;
  refreshing = true;
  try {
    await current.refresh();
  } catch (err) {
    ctx.fail(err);
  } finally {
    refreshing = false;
  }
}

forget.addEventListener("click", () => {
  key.clear();
  boot();
});
window.addEventListener("hashchange", route);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") tick();
});
setInterval(tick, REFRESH_MS);
boot();
