// #/functions: the loaded functions (trigger, route or schedule, next timer occurrences),
// the functions that failed to load with their errors, and when the app was last loaded.
//
// Refresh (every 5 s): /admin/functions and /admin/host/status, which read the host's memory,
// not the task hub store.

import { api } from "./api.js";
import { clear, duration, h, parseTime, timeEl } from "./ui.js";

const TRIGGER_LABEL = {
  httpTrigger: "HTTP", timerTrigger: "Timer", queueTrigger: "Queue",
  orchestrationTrigger: "Orchestrator", activityTrigger: "Activity", entityTrigger: "Entity",
};

function whatOf(fn, timer) {
  if (timer) {
    return h("div", {}, h("code", { text: timer.schedule }),
      timer.description ? h("span", { class: "muted", text: ` ${timer.description}` }) : null,
      timer.timeZone ? h("small", { class: "muted", text: ` (${timer.timeZone})` }) : null);
  }
  if (fn.trigger === "httpTrigger") return h("code", { text: fn.invoke });
  const trigger = (fn.config.bindings || []).find((b) => b.type === fn.trigger) || {};
  if (trigger.queueName) return h("span", {}, "queue ", h("code", { text: trigger.queueName }));
  if (trigger.entityName && trigger.entityName !== fn.name) {
    return h("span", {}, "entity ", h("code", { text: trigger.entityName }));
  }
  return h("span", { class: "muted", text: "—" });
}

export function mountFunctions(root, params, ctx) {
  const view = h("section", { class: "view" });
  clear(root, view);

  async function load() {
    let fns;
    let status;
    try {
      [fns, status] = await Promise.all([api.functions(), api.hostStatus()]);
    } catch (err) {
      if (err.kind === "auth") throw err;
      return;
    }
    const timers = status.timers || {};
    const errors = status.functionErrors || {};
    const loaded = status.lastLoaded;
    const hub = status.taskHub;
    const summary = h("dl", { class: "facts" },
      h("dt", { text: "Host state" }), h("dd", { text: status.state }),
      h("dt", { text: "Version" }), h("dd", { text: status.versionDetails || status.version }),
      h("dt", { text: "Up for" }), h("dd", { text: duration(status.processUptime) }),
      h("dt", { text: "Last (re)load" }), h("dd", { class: "last-load" }, loaded
        ? [timeEl(loaded), h("span", { class: "muted",
          text: ` · ${duration(Date.now() - parseTime(loaded))} ago · load #${status.generation}` })]
        : h("span", { class: "muted", text: "not loaded" })),
      h("dt", { text: "Task hub" }), h("dd", { text: hub
        ? `${hub.name} (${hub.provider}, partitions ${hub.partitions.join(", ") || "none owned"})`
        : "not opened yet" }));
    const problems = [];
    if (status.loadError) {
      problems.push(h("div", { class: "fn-error" }, h("strong", { text: "The app" }),
        h("pre", { class: "stack", text: status.loadError })));
    }
    for (const [name, reason] of Object.entries(errors)) {
      problems.push(h("div", { class: "fn-error", dataset: { fn: name } },
        h("strong", { text: name }), h("pre", { class: "stack", text: reason })));
    }
    for (const [name, why] of Object.entries(status.skipped || {})) {
      problems.push(h("div", { class: "fn-error skipped" }, h("strong", { text: name }),
        h("span", { class: "muted", text: ` skipped: ${why}` })));
    }
    const rows = fns.map((fn) => {
      const timer = timers[fn.name];
      return h("tr", { dataset: { fn: fn.name } },
        h("td", { class: "strong", text: fn.name }),
        h("td", {}, h("span", { class: `trigger t-${fn.trigger}`,
          text: TRIGGER_LABEL[fn.trigger] || fn.trigger })),
        h("td", {}, whatOf(fn, timer)),
        h("td", { class: "next" }, timer && timer.next
          ? h("ul", { class: "occurrences" }, timer.next.map((t) => h("li", {}, timeEl(t))))
          : timer && timer.error ? h("span", { class: "form-error", text: timer.error }) : ""),
        h("td", {}, fn.isDisabled ? h("span", { class: "badge st-terminated", text: "Disabled" })
          : h("span", { class: "badge st-completed", text: "Enabled" })));
    });
    const scrollY = window.scrollY;
    clear(view,
      h("div", { class: "page-head" }, h("h1", { text: "Functions" }),
        h("div", { class: "head-actions" }, h("span", { class: "live", text: "Live · every 5 s" }))),
      h("div", { class: "card" }, summary),
      problems.length ? h("section", { class: "card errors" },
        h("h2", { text: `Failed to load (${problems.length})` }), problems) : null,
      h("div", { class: "card table-card" }, h("table", { class: "grid functions" },
        h("thead", {}, h("tr", {}, ["Function", "Trigger", "Route / schedule",
          "Next occurrences", "State"].map((t) => h("th", { text: t })))),
        h("tbody", {}, rows))));
    window.scrollTo(0, scrollY);
  }

  load().catch(ctx.fail);
  return { refresh: load };
}
