// #/instance/{id}: one instance — its values, failure, parent and children, the history as a
// timeline and as a table, and the actions (each behind a confirmation dialog).
//
// Refresh: while the instance can still change by itself (running, pending, suspended) one
// status query with its history every 5 s; a finished instance is read again only after an
// action or the Refresh button (its history can be long, and it does not change).

import { api } from "./api.js";
import { analyse, failureOf } from "./history.js";
import { renderTimeline } from "./timeline.js";
import { ACTIVE, badge, clear, duration, errorBox, field, h, instanceLink, jsonBlock, openDialog,
  readJson, shortJson, timeEl } from "./ui.js";

const TABLE_ROWS = 500; // rows drawn before "Show all"
const SETTLE_TRIES = 10;
const ui = { tab: "timeline", zoom: 1 }; // kept across instances and refreshes

function section(title, ...body) {
  return h("section", { class: "card" }, h("h2", { text: title }), ...body);
}

function historyTable(analysis, all) {
  const rows = all ? analysis.rows : analysis.rows.slice(0, TABLE_ROWS);
  const body = h("tbody", {}, rows.map((r) => {
    const ended = r.type === "ExecutionStarted" ? null : r.at;
    const took = r.scheduled !== null && ended !== null ? ended - r.scheduled : null;
    const result = r.result === undefined ? "" : shortJson(r.result, 120);
    return h("tr", { class: r.failed ? "failed" : "" },
      h("td", {}, h("span", { class: `ev ev-${r.type}`, text: r.type })),
      h("td", {}, r.event.InstanceId ? instanceLink(r.event.InstanceId, r.name) : r.name),
      h("td", {}, r.scheduled !== null ? timeEl(r.event.ScheduledTime, true) : ""),
      h("td", {}, timeEl(r.event.Timestamp, true)),
      h("td", { class: "num", text: took === null ? "" : duration(took) }),
      h("td", { class: "details", title: result, text: result }));
  }));
  return h("table", { class: "grid history" },
    h("thead", {}, h("tr", {}, ["Event", "Name", "Scheduled", "Completed", "Duration",
      "Result"].map((t) => h("th", { text: t })))), body);
}

export function mountInstance(root, params, ctx) {
  const id = params.id;
  let status = null;
  let pending = []; // what it has scheduled and not seen finish (timeline only)
  let showAll = false;
  const view = h("section", { class: "view instance" });
  clear(root, view);

  function actions() {
    const s = status.runtimeStatus;
    const active = ACTIVE.has(s);
    const reasonField = () => h("input", { name: "reason", placeholder: "optional",
      autocomplete: "off" });
    const simple = (op, label, note, danger = false) => h("button", {
      type: "button", class: danger ? "danger" : "", text: label, dataset: { action: op },
      onclick: () => {
        const reason = reasonField();
        openDialog({ title: `${label} ${id}?`, note, submitLabel: label, danger,
          fields: [field("Reason", reason)],
          submit: async () => {
            await api.operation(id, op, { reason: reason.value.trim() || undefined });
            settle();
            return `${label}: requested for ${id}.`;
          } });
      } });
    const buttons = [];
    if (active) buttons.push(simple("terminate", "Terminate", "The instance stops for good.", true));
    if (s === "Running" || s === "Pending") buttons.push(simple("suspend", "Suspend"));
    if (s === "Suspended") buttons.push(simple("resume", "Resume"));
    if (s === "Failed") {
      buttons.push(simple("rewind", "Rewind", "Failed activities run again; the rest of the "
        + "history is kept."));
    }
    if (active) buttons.push(h("button", { type: "button", text: "Raise event",
      dataset: { action: "raise" }, onclick: raiseDialog }));
    buttons.push(h("button", { type: "button", text: "Restart", dataset: { action: "restart" },
      onclick: restartDialog }));
    buttons.push(h("button", { type: "button", class: "danger", text: "Purge",
      dataset: { action: "purge" }, onclick: purgeDialog }));
    return h("div", { class: "head-actions" },
      h("button", { type: "button", class: "ghost", text: "Refresh", onclick: () => load() }),
      buttons);
  }

  function raiseDialog() {
    const name = h("input", { name: "event", required: true, autocomplete: "off",
      placeholder: "Approval" });
    const payload = h("textarea", { name: "payload", rows: 5, spellcheck: "false",
      placeholder: '{"approved": true}' });
    openDialog({ title: "Raise an event", submitLabel: "Raise event",
      fields: [field("Event name", name), field("Payload (JSON)", payload, "Empty for null.")],
      check: () => {
        if (!name.value.trim()) return "The event needs a name.";
        const parsed = readJson(payload.value);
        return parsed.ok ? null : `Payload is ${parsed.error}`;
      },
      submit: async () => {
        await api.raiseEvent(id, name.value.trim(), readJson(payload.value).value);
        settle();
        return `Event '${name.value.trim()}' raised.`;
      } });
  }

  function restartDialog() {
    const fresh = h("input", { type: "checkbox", name: "fresh", checked: true });
    openDialog({ title: `Restart ${id}?`, submitLabel: "Restart",
      note: "A new instance runs the same orchestrator with the same input.",
      fields: [h("label", { class: "check" }, fresh, " with a new instance ID")],
      submit: async () => {
        const r = await api.operation(id, "restart",
          { restartWithNewInstanceId: fresh.checked ? "true" : "false" });
        const started = r.data && r.data.id;
        if (started && started !== id) location.hash = `#/instance/${encodeURIComponent(started)}`;
        else settle();
        return ["Restarted as ", instanceLink(started || id), "."];
      } });
  }

  function purgeDialog() {
    openDialog({ title: `Purge ${id}?`, submitLabel: "Purge", danger: true,
      note: "Its state and history are deleted. This cannot be undone.",
      submit: async () => {
        const r = await api.purge(id);
        settle();
        return `Purged (${(r && r.instancesDeleted) || 1} instance deleted).`;
      } });
  }

  function notFound() {
    clear(view, h("div", { class: "page-head" }, h("h1", { text: "Instance not found" })),
      h("div", { class: "card empty-state" },
        h("p", {}, "No instance with ID ", h("code", { text: id }),
          " exists in this task hub: it was purged, or never started."),
        h("p", {}, h("a", { href: "#/instances", text: "Back to the instances" }))));
  }

  function render() {
    const analysis = analyse(status, pending);
    const failure = failureOf(status);
    const created = analysis.start;
    const ended = analysis.end;
    const facts = h("dl", { class: "facts" },
      h("dt", { text: "Name" }), h("dd", { text: status.name }),
      h("dt", { text: "Created" }), h("dd", {}, timeEl(status.createdTime)),
      h("dt", { text: "Last updated" }), h("dd", {}, timeEl(status.lastUpdatedTime)),
      h("dt", { text: "Duration" }), h("dd", { text: created === null ? "—"
        : `${duration((ended ?? (ACTIVE.has(status.runtimeStatus) ? Date.now()
          : analysis.latest)) - created)}${ended === null && ACTIVE.has(status.runtimeStatus)
          ? " so far" : ""}` }),
      h("dt", { text: "Parent" }), h("dd", {}, analysis.parentId
        ? instanceLink(analysis.parentId) : h("span", { class: "muted", text: "none" })),
      h("dt", { text: "Children" }), h("dd", { class: "children" }, analysis.children.length
        ? analysis.children.map((c) => h("span", { class: c.failed ? "child failed" : "child" },
          instanceLink(c.id), h("small", { class: "muted", text: ` ${c.name || ""}` })))
        : h("span", { class: "muted", text: "none finished" })));
    const values = h("div", { class: "values" },
      section("Input", jsonBlock(status.input)),
      failure ? section("Failure", h("p", { class: "failure-reason", text: failure.reason }),
        failure.stack ? h("pre", { class: "stack", text: failure.stack }) : null)
        : section("Output", jsonBlock(status.output)),
      section("Custom status", jsonBlock(status.customStatus)));

    const tabs = h("div", { class: "tabs", role: "tablist" },
      [["timeline", `Timeline (${analysis.bars.length})`],
        ["history", `History (${analysis.rows.length} event${analysis.rows.length === 1 ? "" : "s"})`]].map(([key, label]) =>
        h("button", { type: "button", role: "tab", class: ui.tab === key ? "on" : "",
          "aria-selected": String(ui.tab === key), dataset: { tab: key }, text: label,
          onclick: () => { ui.tab = key; render(); } })));
    const panel = h("div", { class: "tab-panel" });
    const scrollY = window.scrollY;
    const old = view.querySelector(".tl-scroll");
    const scrollX = old ? old.scrollLeft : 0;
    clear(view,
      h("div", { class: "page-head" },
        h("div", {}, h("a", { href: "#/instances", class: "crumb", text: "‹ Instances" }),
          h("h1", {}, h("span", { class: "mono", text: id }), " ", badge(status.runtimeStatus))),
        actions()),
      h("div", { class: "card" }, facts), values, h("div", { class: "card" }, tabs, panel));
    if (ui.tab === "timeline") {
      const zoom = h("div", { class: "zoom" },
        h("span", { class: "legend" }, [["activity", "Activity"], ["suborchestration",
          "Sub-orchestration"], ["timer", "Timer"], ["event", "Event wait"],
        ["entity", "Entity call"], ["failed", "Failed"], ["running", "Running"]].map(([k, label]) =>
          h("span", { class: `key k-${k}` }, h("i"), label))),
        h("span", { class: "spacer" }),
        h("button", { type: "button", class: "ghost", text: "−", title: "Zoom out",
          disabled: ui.zoom <= 1, onclick: () => { ui.zoom = Math.max(1, ui.zoom / 2); render(); } }),
        h("span", { class: "muted", text: `${ui.zoom}×` }),
        h("button", { type: "button", class: "ghost", text: "+", title: "Zoom in",
          disabled: ui.zoom >= 64, onclick: () => { ui.zoom = Math.min(64, ui.zoom * 2); render(); } }));
      const box = h("div", { class: "tl-box" });
      panel.append(zoom, box);
      renderTimeline(box, analysis, status, ui.zoom);
      box.querySelector(".tl-scroll").scrollLeft = scrollX;
    } else {
      panel.append(historyTable(analysis, showAll));
      if (!showAll && analysis.rows.length > TABLE_ROWS) {
        panel.append(h("button", { type: "button", class: "ghost",
          text: `Show all ${analysis.rows.length} events`,
          onclick: () => { showAll = true; render(); } }));
      }
    }
    window.scrollTo(0, scrollY); // a refresh must not move the reader
  }

  // After an action the instance changes within moments (the worker takes the message): read
  // it again every 500 ms until its status moves, at most SETTLE_TRIES times, rather than
  // leaving the old status up until the next 5 s refresh.
  async function settle() {
    const before = status && status.runtimeStatus;
    for (let i = 0; i < SETTLE_TRIES; i += 1) {
      await load();
      if (!status || status.runtimeStatus !== before) return;
      await new Promise((resolve) => { setTimeout(resolve, 500); });
    }
  }

  async function load() {
    const next = await api.instance(id).catch((err) => {
      if (err.kind === "auth") ctx.fail(err);
      else if (err.kind === "http") clear(view, errorBox(err.message));
      return undefined; // the banner tells of a host or store that does not answer
    });
    if (next === undefined) return;
    // Work scheduled and not finished, for the timeline's open bars: only while it can run.
    pending = next && ACTIVE.has(next.runtimeStatus)
      ? await api.pending(id).catch(() => []) : [];
    status = next;
    if (status === null) notFound();
    else render();
  }

  load();
  return {
    refresh: () => (status && ACTIVE.has(status.runtimeStatus) ? load() : Promise.resolve()),
  };
}
