// #/instances: counts by status, the filtered, sorted, paged list, and "Start instance".
//
// What a refresh costs (every 5 s while the tab is visible and no dialog is open): one list
// query for the page on screen (with a name filter, up to MAX_SCANS queries: the API has no
// name filter, so the page filters rows itself and reads on until its page is full), and
// every COUNT_EVERY-th refresh the counts: one aggregate query (GET /admin/taskhub/counts,
// a few milliseconds on 20,000 instances; bench/dashboard.py measures it).

import { api } from "./api.js";
import { STATUSES, badge, clear, duration, errorBox, field, h, instanceLink, openDialog,
  parseTime, readJson, shortJson, timeEl } from "./ui.js";

const MAX_SCANS = 10;
const COUNT_EVERY = 6;

// Kept across visits, so coming back from an instance finds the list where it was.
const state = {
  filters: { status: "", name: "", prefix: "", from: "", to: "" },
  size: 50,
  tokens: [null], // tokens[i]: the continuation token that leads to page i
  page: 0,
  sort: { key: "", dir: 1 },
  rows: [],
};

function apiQuery(extra = {}) {
  const f = state.filters;
  const iso = (local) => (local ? new Date(local).toISOString() : undefined);
  return { runtimeStatus: f.status || undefined, instanceIdPrefix: f.prefix || undefined,
    createdTimeFrom: iso(f.from), createdTimeTo: iso(f.to), ...extra };
}

function nameMatches(row) {
  const want = state.filters.name.trim().toLowerCase();
  return !want || String(row.name || "").toLowerCase().includes(want);
}

// One page of `size` rows from `token` on, filling it across API pages when filtering by name.
async function readPage(token, size) {
  if (!state.filters.name.trim()) {
    return api.instances(apiQuery({ top: size }), token);
  }
  const rows = [];
  let next = token;
  for (let scan = 0; scan < MAX_SCANS; scan += 1) {
    // Never more rows than still wanted: the token must not skip rows the user was not shown.
    const page = await api.instances(apiQuery({ top: size - rows.length }), next);
    rows.push(...page.rows.filter(nameMatches));
    next = page.token;
    if (!next || rows.length >= size) break;
  }
  return { rows, token: next };
}

async function countAll() {
  // One aggregate query on the host (GET /admin/taskhub/counts), whatever the hub holds.
  const f = state.filters;
  const query = { ...apiQuery(), runtimeStatus: undefined, name: f.name.trim() || undefined };
  const r = await api.counts(query);
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  Object.assign(counts, r.counts || {});
  return { counts, total: r.total || 0 };
}

const COLUMNS = [
  ["instanceId", "Instance ID"], ["name", "Name"], ["runtimeStatus", "Status"],
  ["createdTime", "Created"], ["lastUpdatedTime", "Last updated"], ["duration", "Duration"],
  ["details", "Output / custom status"],
];

function durationOf(row) {
  const a = parseTime(row.createdTime);
  const b = ["Running", "Pending", "Suspended"].includes(row.runtimeStatus) ? Date.now()
    : parseTime(row.lastUpdatedTime);
  return a === null || b === null ? null : b - a;
}

// The list's times have whole seconds: so do its durations.
function coarse(ms) {
  if (ms === null) return "—";
  return ms < 1000 ? "<1 s" : duration(Math.round(ms / 1000) * 1000);
}

function detailsOf(row) {
  if (row.runtimeStatus === "Failed") return shortJson(row.output).split("\n")[0];
  if (row.output !== null && row.output !== undefined) return shortJson(row.output);
  return shortJson(row.customStatus);
}

function sortKey(row, key) {
  if (key === "duration") return durationOf(row) ?? -1;
  if (key === "details") return detailsOf(row);
  return String(row[key] ?? "");
}

export function mountInstances(root, params, ctx) {
  let orchestrators = [];
  let refreshes = 0;
  const countsBox = h("div", { class: "counts" });
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  const message = h("div", { class: "list-message" });
  const head = h("tr", {}, COLUMNS.map(([key, label]) => h("th", {},
    h("button", { type: "button", class: "sort", dataset: { key }, text: label,
      onclick: () => sortBy(key) }))));
  const names = h("datalist", { id: "orchestrator-names" });

  const control = (name, attrs) => {
    const el = h("input", { name, ...attrs });
    el.value = state.filters[name];
    return el;
  };
  const statusSelect = h("select", { name: "status", "aria-label": "Status" },
    h("option", { value: "", text: "Any status" }),
    STATUSES.map((s) => h("option", { value: s, text: s })));
  statusSelect.value = state.filters.status;
  const sizeSelect = h("select", { name: "size", "aria-label": "Page size" },
    [25, 50, 100, 200].map((n) => h("option", { value: n, text: `${n} per page` })));
  sizeSelect.value = String(state.size);
  const filters = h("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
    field("Status", statusSelect),
    field("Name", control("name", { type: "search", placeholder: "orchestrator name",
      list: "orchestrator-names", autocomplete: "off" })),
    field("Instance ID prefix", control("prefix", { type: "search", placeholder: "prefix",
      autocomplete: "off" })),
    field("Created from", control("from", { type: "datetime-local", step: 1 })),
    field("Created to", control("to", { type: "datetime-local", step: 1 })),
    field("Page size", sizeSelect),
    h("button", { type: "button", class: "ghost", text: "Clear filters", onclick: clearFilters }),
    names);

  let debounce = null;
  filters.addEventListener("input", (event) => {
    const el = event.target;
    if (el.name === "size") state.size = Number(el.value);
    else if (el.name in state.filters) state.filters[el.name] = el.value;
    clearTimeout(debounce);
    // Typing in a text box waits for a pause; a select or date applies at once.
    debounce = setTimeout(restart, el.type === "search" ? 300 : 0);
  });

  function clearFilters() {
    state.filters = { status: "", name: "", prefix: "", from: "", to: "" };
    for (const el of filters.elements) if (el.name in state.filters) el.value = "";
    restart();
  }

  function restart() {
    state.tokens = [null];
    state.page = 0;
    refreshes = 0;
    load(true).catch(ctx.fail);
  }

  function sortBy(key) {
    state.sort = state.sort.key === key ? { key, dir: -state.sort.dir } : { key, dir: 1 };
    renderRows();
  }

  function renderRows() {
    const rows = [...state.rows];
    const { key, dir } = state.sort;
    if (key) {
      rows.sort((a, b) => {
        const x = sortKey(a, key);
        const y = sortKey(b, key);
        return (x < y ? -1 : x > y ? 1 : 0) * dir;
      });
    }
    for (const th of head.querySelectorAll("button.sort")) {
      const on = th.dataset.key === key;
      th.classList.toggle("on", on);
      th.parentElement.setAttribute("aria-sort", on ? (dir > 0 ? "ascending" : "descending")
        : "none");
    }
    clear(tbody, rows.map((row) => h("tr", { dataset: { id: row.instanceId },
      class: `st-row-${String(row.runtimeStatus).toLowerCase()}` },
    h("td", {}, instanceLink(row.instanceId)),
    h("td", { text: row.name }),
    h("td", {}, badge(row.runtimeStatus)),
    h("td", {}, timeEl(row.createdTime)),
    h("td", {}, timeEl(row.lastUpdatedTime)),
    h("td", { class: "num", text: coarse(durationOf(row)) }),
    h("td", { class: "details", title: detailsOf(row), text: detailsOf(row) }))));
    message.replaceChildren(rows.length ? "" : h("p", { class: "empty-state",
      text: "No instances match these filters." }));
    const first = state.page * state.size;
    const more = state.tokens[state.page + 1] !== undefined && state.tokens[state.page + 1];
    clear(pager,
      h("button", { type: "button", text: "‹ Previous", disabled: state.page === 0,
        dataset: { page: "previous" },
        onclick: () => { state.page -= 1; load(true).catch(ctx.fail); } }),
      h("span", { class: "muted", text: rows.length
        ? `Page ${state.page + 1} · rows ${first + 1}–${first + rows.length}`
        : `Page ${state.page + 1}` }),
      h("button", { type: "button", text: "Next ›", disabled: !more,
        dataset: { page: "next" },
        onclick: () => { state.page += 1; load(true).catch(ctx.fail); } }),
      state.sort.key ? h("span", { class: "muted small", text: "Sorting orders this page; "
        + "pages follow the API's order (oldest first)." }) : null);
  }

  function renderCounts(result) {
    const { counts, total } = result;
    const card = (status, label, value) => h("button", {
      type: "button", class: `count ${status ? `st-${status.toLowerCase()}` : "all"}`
        + `${state.filters.status === status ? " on" : ""}`,
      dataset: { status }, onclick: () => {
        state.filters.status = status;
        statusSelect.value = status;
        restart();
      } }, h("strong", { text: value.toLocaleString() }),
    h("span", { text: label }));
    const shown = STATUSES.filter((s) => counts[s] || !["ContinuedAsNew", "Canceled"].includes(s));
    clear(countsBox, card("", "All", total), shown.map((s) => card(s, s, counts[s] || 0)));
  }

  let latest = 0;
  async function load(showErrors) {
    // A slow answer must not overwrite a newer one (a filter changed while it was out).
    const seq = ++latest;
    const token = state.tokens[state.page];
    try {
      const page = await readPage(token, state.size);
      if (seq !== latest) return;
      state.rows = page.rows;
      state.tokens[state.page + 1] = page.token || null;
      state.tokens.length = state.page + 2;
      renderRows();
      if (refreshes % COUNT_EVERY === 0) {
        const counts = await countAll();
        if (seq === latest) renderCounts(counts);
      }
      refreshes += 1;
    } catch (err) {
      if (err.kind === "auth") throw err;
      if (showErrors && err.kind === "http") message.replaceChildren(errorBox(err.message));
    }
  }

  function startDialog() {
    const select = h("select", { name: "name", required: true },
      orchestrators.map((n) => h("option", { value: n, text: n })));
    const id = h("input", { name: "id", placeholder: "leave empty for a new GUID",
      autocomplete: "off" });
    const input = h("textarea", { name: "input", rows: 6, placeholder: '{"city": "Oslo"}',
      spellcheck: "false" });
    openDialog({
      title: "Start a new instance", submitLabel: "Start",
      fields: [field("Orchestrator", select), field("Instance ID", id),
        field("Input (JSON)", input, "Empty for no input.")],
      check: () => (!orchestrators.length ? "No orchestrator functions are loaded."
        : readJson(input.value).ok ? null : `Input is ${readJson(input.value).error}`),
      submit: async () => {
        const body = await api.start(select.value, id.value.trim(), readJson(input.value).value);
        restart();
        return ["Started ", instanceLink(body.id), "."];
      },
    });
  }

  const view = h("section", { class: "view" },
    h("div", { class: "page-head" }, h("h1", { text: "Instances" }),
      h("div", { class: "head-actions" },
        h("span", { class: "live", title: "One list query every 5 s while this tab is "
          + "visible; the counts every 30 s", text: "Live · every 5 s" }),
        h("button", { type: "button", text: "Refresh", onclick: () => {
          refreshes = 0;
          load(true).catch(ctx.fail);
        } }),
        h("button", { type: "button", class: "primary", id: "start-instance",
          text: "Start instance", onclick: startDialog }))),
    countsBox, filters,
    h("div", { class: "card table-card" },
      h("table", { class: "grid instances" }, h("thead", {}, head), tbody), message),
    pager);
  clear(root, view);

  api.functions().then((fns) => {
    orchestrators = fns.filter((f) => f.trigger === "orchestrationTrigger").map((f) => f.name);
    clear(names, orchestrators.map((n) => h("option", { value: n })));
  }).catch(() => {});
  load(true).catch(ctx.fail);
  return { refresh: () => load(false) };
}
