// From the management API's historyEvents to what the instance page draws: the table's rows
// and the timeline's bars.
//
// The API folds scheduling events into their completions, as the extension does: a finished
// activity or sub-orchestration is one row with ScheduledTime (when it was scheduled) and
// Timestamp (when it ended); func-py adds ScheduledTime to a fired timer, the child's
// InstanceId to a sub-orchestration's row and ParentInstanceId to a child's start. Work that
// has not finished has no row there: for a running instance the page also reads what it has
// scheduled and not seen finish (GET /admin/taskhub/instances/{id}/pending), drawn as open
// bars up to now (a timer's tooltip says when it fires).
//
// Waits for external events have no scheduling event at all (the orchestrator waits in its
// own code): a wait is drawn from the latest history event before the event was raised (the
// message whose episode went on to wait) to the EventRaised.

import { parseTime } from "./ui.js";

const COMPLETIONS = {
  TaskCompleted: ["activity", false],
  TaskFailed: ["activity", true],
  SubOrchestrationInstanceCompleted: ["suborchestration", false],
  SubOrchestrationInstanceFailed: ["suborchestration", true],
};

function requestId(input) {
  // An entity call's EventSent carries the request (JSON text) whose id the answer names.
  try {
    const request = typeof input === "string" ? JSON.parse(input) : input;
    return request && !request.signal ? request.id : null;
  } catch {
    return null;
  }
}

export function analyse(status, pending = []) {
  const events = status.historyEvents || [];
  const rows = [];
  const bars = [];
  const markers = [];
  const children = [];
  let parentId = null;
  let start = parseTime(status.createdTime);
  let end = null;
  let latest = start; // the latest event time seen so far, in history order
  const calls = new Map(); // entity request id -> its EventSent
  events.forEach((e, index) => {
    const at = parseTime(e.Timestamp);
    const scheduled = parseTime(e.ScheduledTime);
    const row = { index, type: e.EventType, name: e.FunctionName || e.Name || "",
      scheduled, at, failed: false, result: undefined, event: e };
    const completion = COMPLETIONS[e.EventType];
    if (e.EventType === "ExecutionStarted") {
      start = at ?? start;
      parentId = e.ParentInstanceId || null;
      row.result = e.Input;
    } else if (completion) {
      const [kind, failed] = completion;
      row.failed = failed;
      row.result = failed ? e.Reason : e.Result;
      bars.push({ kind, name: e.FunctionName || "?", start: scheduled ?? at, end: at, failed,
        row, link: e.InstanceId || null });
      if (kind === "suborchestration" && e.InstanceId) {
        children.push({ id: e.InstanceId, name: e.FunctionName, failed });
      }
    } else if (e.EventType === "TimerFired") {
      row.name = "timer";
      row.result = e.FireAt ? `fire at ${e.FireAt}` : undefined;
      bars.push({ kind: "timer", name: "timer", start: scheduled ?? latest, end: at,
        failed: false, row });
    } else if (e.EventType === "EventSent") {
      const id = requestId(e.Input);
      if (id) calls.set(id, { e, at });
      row.result = e.Input;
    } else if (e.EventType === "EventRaised") {
      row.result = e.Input;
      const call = calls.get(e.Name);
      if (call) {
        row.name = `entity ${call.e.Name || "call"}`;
        bars.push({ kind: "entity", name: call.e.Name || "entity call", start: call.at, end: at,
          failed: Boolean(e.Input && typeof e.Input === "object" && e.Input.exceptionType),
          row });
      } else {
        bars.push({ kind: "event", name: e.Name || "event", start: lastBefore(rows, at, start),
          end: at, failed: false, row });
      }
    } else if (e.EventType === "ExecutionCompleted") {
      end = at;
      row.name = e.OrchestrationStatus || "";
      row.failed = e.OrchestrationStatus === "Failed";
      row.result = e.Result;
    } else if (["ExecutionTerminated", "ExecutionSuspended", "ExecutionResumed",
      "ContinueAsNew", "ExecutionRewound"].includes(e.EventType)) {
      row.result = e.Input ?? e.Reason;
      markers.push({ type: e.EventType, at, text: row.result });
      if (e.EventType === "ExecutionTerminated") end = at;
    } else {
      row.result = e.Input ?? e.Reason;
    }
    rows.push(row);
    if (at !== null && (latest === null || at > latest)) latest = at;
  });
  const now = Date.now();
  for (const p of pending) {
    const begun = parseTime(p.scheduledTime);
    if (begun === null) continue;
    // Drawn up to now, not to a timer's (perhaps distant) fire time: the axis ends at now.
    bars.push({ kind: p.kind, name: p.name || p.kind, start: begun, end: Math.max(begun, now),
      fires: p.kind === "timer" ? parseTime(p.fireAt) : null, failed: false, running: true,
      row: null, link: p.instanceId || null });
  }
  return { rows, bars, markers, children, parentId, start, end, latest };
}

// The time of the latest earlier row at or before `at` (rows are in history order, and an
// event can be raised while an episode runs, so the rows just before it may be later).
function lastBefore(rows, at, fallback) {
  if (at === null) return fallback;
  for (let i = rows.length - 1; i >= 0; i -= 1) {
    if (rows[i].at !== null && rows[i].at <= at) return rows[i].at;
  }
  return fallback ?? at;
}

// The failure of a failed instance: the output reads "<reason> \n <JSON details>", the
// details holding the exception's type, message and stack trace.
export function failureOf(status) {
  const output = status.output;
  if (status.runtimeStatus !== "Failed" || output === null || output === undefined) return null;
  const text = typeof output === "string" ? output : JSON.stringify(output);
  const cut = text.indexOf("\n");
  let reason = text;
  let stack = null;
  let details = null;
  if (cut >= 0) {
    reason = text.slice(0, cut).trim();
    try {
      details = JSON.parse(text.slice(cut + 1));
      stack = details.stackTrace || null;
    } catch {
      stack = text.slice(cut + 1).trim();
    }
  }
  return { reason, stack, type: details ? details.type : null };
}
