// #/entities: the Durable Entities of the hub, their state, and signals.
//
// Refresh (every 5 s, as the instances): one list query for the page on screen, plus one
// state read for the entity selected.

import { api } from "./api.js";
import { clear, errorBox, field, h, jsonBlock, openDialog, readJson, shortJson,
  timeEl } from "./ui.js";

const PAGE = 50;
const state = { name: "", tokens: [null], page: 0, selected: null };

export function mountEntities(root, params, ctx) {
  let entityNames = [];
  const tbody = h("tbody");
  const message = h("div", { class: "list-message" });
  const pager = h("div", { class: "pager" });
  const detail = h("div", { class: "card entity-detail" });
  const nameSelect = h("select", { name: "entity", "aria-label": "Entity name" },
    h("option", { value: "", text: "All entities" }));

  nameSelect.addEventListener("change", () => {
    state.name = nameSelect.value;
    state.tokens = [null];
    state.page = 0;
    load(true).catch(ctx.fail);
  });

  function select(name, key) {
    state.selected = { name, key };
    loadDetail().catch(ctx.fail);
    for (const tr of tbody.children) {
      tr.classList.toggle("on", tr.dataset.name === name && tr.dataset.key === key);
    }
  }

  function signalDialog(preset = {}) {
    const name = h("input", { name: "name", required: true, list: "entity-names",
      autocomplete: "off", value: preset.name || entityNames[0] || "" });
    const key = h("input", { name: "key", autocomplete: "off", value: preset.key ?? "" });
    const op = h("input", { name: "op", required: true, autocomplete: "off",
      placeholder: "add" });
    const input = h("textarea", { name: "input", rows: 4, spellcheck: "false",
      placeholder: "5" });
    openDialog({ title: "Signal an entity", submitLabel: "Signal",
      note: "A signal is one-way: the operation runs soon after, and its state shows here "
        + "once it has.",
      fields: [field("Entity name", name), field("Key", key), field("Operation", op),
        field("Input (JSON)", input, "Empty for no input.")],
      check: () => {
        if (!name.value.trim()) return "The entity needs a name.";
        if (!op.value.trim()) return "Name the operation to signal.";
        const parsed = readJson(input.value);
        return parsed.ok ? null : `Input is ${parsed.error}`;
      },
      submit: async () => {
        await api.signal(name.value.trim(), key.value, op.value.trim(),
          readJson(input.value).value);
        state.selected = { name: name.value.trim().toLowerCase(), key: key.value };
        load(false).catch(ctx.fail);
        return `Signalled '${op.value.trim()}' to ${name.value.trim()}@${key.value}.`;
      } });
  }

  async function loadDetail() {
    const sel = state.selected;
    if (!sel) {
      clear(detail, h("p", { class: "muted", text: "Select an entity to see its state." }));
      return;
    }
    try {
      const found = await api.entity(sel.name, sel.key);
      if (state.selected !== sel) return;
      clear(detail,
        h("div", { class: "detail-head" },
          h("h2", {}, h("span", { class: "mono", text: `${sel.name}@${sel.key}` })),
          h("button", { type: "button", class: "primary", text: "Signal…",
            dataset: { action: "signal" },
            onclick: () => signalDialog(sel) })),
        found.exists ? jsonBlock(found.state)
          : h("p", { class: "empty-state", text: "This entity does not exist (deleted, or "
            + "not signalled yet)." }));
    } catch (err) {
      if (err.kind === "auth") throw err;
      if (err.kind === "http") clear(detail, errorBox(err.message));
    }
  }

  async function load(showErrors) {
    try {
      const page = await api.entities(state.name, state.tokens[state.page], PAGE);
      state.tokens[state.page + 1] = page.token || null;
      state.tokens.length = state.page + 2;
      clear(tbody, page.rows.map((e) => {
        const { name, key } = e.entityId;
        const on = state.selected && state.selected.name === name && state.selected.key === key;
        return h("tr", { class: `clickable${on ? " on" : ""}`, dataset: { name, key },
          tabindex: 0, onclick: () => select(name, key),
          onkeydown: (ev) => { if (ev.key === "Enter") select(name, key); } },
        h("td", { text: name }), h("td", { class: "mono", text: key }),
        h("td", {}, timeEl(e.lastOperationTime)),
        h("td", { class: "details", text: shortJson(e.state, 100) }));
      }));
      message.replaceChildren(page.rows.length ? "" : h("p", { class: "empty-state",
        text: "No entities yet: signal one to create it." }));
      clear(pager,
        h("button", { type: "button", text: "‹ Previous", disabled: state.page === 0,
          onclick: () => { state.page -= 1; load(true).catch(ctx.fail); } }),
        h("span", { class: "muted", text: `Page ${state.page + 1}` }),
        h("button", { type: "button", text: "Next ›", disabled: !state.tokens[state.page + 1],
          onclick: () => { state.page += 1; load(true).catch(ctx.fail); } }));
    } catch (err) {
      if (err.kind === "auth") throw err;
      if (showErrors && err.kind === "http") message.replaceChildren(errorBox(err.message));
    }
    await loadDetail();
  }

  const datalist = h("datalist", { id: "entity-names" });
  clear(root, h("section", { class: "view" },
    h("div", { class: "page-head" }, h("h1", { text: "Entities" }),
      h("div", { class: "head-actions" },
        h("span", { class: "live", text: "Live · every 5 s" }),
        h("button", { type: "button", class: "primary", text: "Signal entity",
          onclick: () => signalDialog() }))),
    h("div", { class: "filters" }, field("Entity", nameSelect), datalist),
    h("div", { class: "split" },
      h("div", {}, h("div", { class: "card table-card" },
        h("table", { class: "grid entities" }, h("thead", {}, h("tr", {},
          ["Entity", "Key", "Last operation", "State"].map((t) => h("th", { text: t })))),
        tbody), message), pager),
      detail)));

  api.functions().then((fns) => {
    entityNames = fns.filter((f) => f.trigger === "entityTrigger").map((f) => {
      const trigger = (f.config.bindings || []).find((b) => b.type === "entityTrigger") || {};
      return trigger.entityName || f.name;
    });
    for (const n of entityNames) nameSelect.append(h("option", { value: n, text: n }));
    nameSelect.value = state.name;
    clear(datalist, entityNames.map((n) => h("option", { value: n })));
  }).catch(() => {});
  load(true).catch(ctx.fail);
  return { refresh: () => load(false) };
}
