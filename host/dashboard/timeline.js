// The instance's timeline: one SVG of Gantt bars (activities, sub-orchestrations, timers,
// event waits, entity calls), grouped by what they ran, on a shared time axis.
//
// A fan-out puts hundreds of overlapping bars in one group. Bars are packed into lanes (a
// chain of calls to one activity shares a lane); a group with many lanes gets thin rows, and
// past MAX_ROWS lanes several lanes share a row, so a fan-out of 2,000 stays about 400 px tall
// and reads as its shape: when the calls started, how their durations spread, which failed
// (failed bars are drawn last, on top, in red). Every bar keeps its own tooltip.

import { duration, localText, utcText } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";
const GUTTER = 220; // the labels' column
const AXIS = 28;
const MAX_ROWS = 200;
const KIND_LABEL = { activity: "activity", suborchestration: "sub-orchestration",
  timer: "timer", event: "event wait", entity: "entity call" };

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function groupsOf(bars) {
  const groups = new Map();
  for (const bar of bars) {
    const id = `${bar.kind}\u0000${bar.name}`;
    if (!groups.has(id)) groups.set(id, { kind: bar.kind, name: bar.name, bars: [] });
    groups.get(id).bars.push(bar);
  }
  const list = [...groups.values()];
  for (const g of list) {
    g.bars.sort((a, b) => a.start - b.start || a.end - b.end);
    g.first = g.bars[0].start;
    pack(g);
  }
  return list.sort((a, b) => a.first - b.first);
}

// First-fit lanes: a bar goes to the first lane that is free when it starts.
function pack(group) {
  const laneEnds = [];
  for (const bar of group.bars) {
    let lane = laneEnds.findIndex((end) => end <= bar.start);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(bar.end);
    } else {
      laneEnds[lane] = bar.end;
    }
    bar.lane = lane;
  }
  const lanes = laneEnds.length;
  group.rows = Math.min(lanes, MAX_ROWS);
  if (lanes <= 6) [group.rowH, group.barH] = [22, 14];
  else if (lanes <= 40) [group.rowH, group.barH] = [9, 7];
  else [group.rowH, group.barH] = [2, 2];
  group.height = Math.max(group.rows * group.rowH, lanes > 6 ? 34 : 0) + 8;
  for (const bar of group.bars) bar.rowIndex = Math.floor((bar.lane * group.rows) / lanes);
  // Durations of the finished bars only: a running one has no duration yet.
  const spans = group.bars.filter((b) => !b.running).map((b) => b.end - b.start)
    .sort((a, b) => a - b);
  group.median = spans.length ? spans[Math.floor(spans.length / 2)] : null;
  group.max = spans.length ? spans[spans.length - 1] : null;
  group.failed = group.bars.filter((b) => b.failed).length;
  group.running = group.bars.filter((b) => b.running).length;
}

function niceStep(span, target) {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

// The axis unit follows the whole span; the decimals follow the step.
function offsetText(ms, step, span) {
  const [unit, label] = span < 1000 ? [1, "ms"] : span < 120000 ? [1000, "s"]
    : span < 7200000 ? [60000, "min"] : [3600000, "h"];
  const decimals = Math.max(0, Math.min(3, Math.ceil(-Math.log10(step / unit) - 1e-9)));
  return `+${(ms / unit).toFixed(decimals)} ${label}`;
}

function barTitle(bar, t0) {
  if (bar.running) {
    const until = bar.fires ? `fires ${localText(bar.fires, true)}` : "not finished yet";
    return `${KIND_LABEL[bar.kind]} ${bar.name} · running\nstart ${localText(bar.start, true)}`
      + ` (+${duration(bar.start - t0)})\n${until}\n${utcText(bar.start)}`;
  }
  const state = bar.failed ? "failed" : "completed";
  const what = `${KIND_LABEL[bar.kind]} ${bar.name}`;
  return `${what} · ${state}\nstart ${localText(bar.start, true)} (+${duration(bar.start - t0)})`
    + `\nend   ${localText(bar.end, true)}\nduration ${duration(bar.end - bar.start)}`
    + `\n${utcText(bar.start)}`;
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// Renders into `box` (emptied); returns the number of bars drawn.
export function renderTimeline(box, analysis, status, zoom = 1) {
  const { bars, markers } = analysis;
  const t0 = analysis.start ?? (bars.length ? Math.min(...bars.map((b) => b.start)) : Date.now());
  const active = ["Running", "Pending", "Suspended"].includes(status.runtimeStatus);
  let t1 = analysis.end ?? (active ? Date.now() : analysis.latest);
  for (const b of bars) if (b.end > t1) t1 = b.end;
  if (!(t1 > t0)) t1 = t0 + 1;
  const span = t1 - t0;
  const groups = groupsOf(bars.filter((b) => b.start !== null && b.end !== null));

  const width = Math.max(480, (box.clientWidth || 900) - GUTTER - 4) * zoom;
  const x = (t) => 8 + ((t - t0) / span) * (width - 16);
  const ORCH = 30;
  let height = AXIS + ORCH;
  for (const g of groups) height += g.height;
  height += groups.length ? 8 : 36;

  const labels = s("svg", { class: "tl-labels", width: GUTTER, height,
    viewBox: `0 0 ${GUTTER} ${height}` });
  const chart = s("svg", { class: "timeline", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": `Timeline of ${bars.length} tasks` });

  // The axis and its grid.
  const step = niceStep(span, Math.max(3, Math.round(width / 130)));
  const grid = s("g", { class: "tl-grid" });
  for (let t = 0; t <= span + 1e-9; t += step) {
    const gx = x(t0 + t);
    grid.append(s("line", { x1: gx, x2: gx, y1: AXIS - 6, y2: height }));
    const label = s("text", { x: gx + 3, y: AXIS - 10 }, offsetText(t, step, span));
    label.append(s("title", {}, `${localText(t0 + t, true)} — ${utcText(t0 + t)}`));
    grid.append(label);
  }
  chart.append(grid);

  // The orchestration itself.
  let y = AXIS;
  const orch = s("rect", { class: `bar orch st-${String(status.runtimeStatus).toLowerCase()}`,
    x: x(t0), y: y + 6, width: Math.max(2, x(t1) - x(t0)), height: 16, rx: 3 });
  orch.append(s("title", {}, `orchestration ${status.name} · ${status.runtimeStatus}\n`
    + `${localText(t0, true)} → ${active ? "now" : localText(t1, true)}  (${duration(span)})`));
  chart.append(orch);
  labels.append(s("text", { x: 10, y: y + 19, class: "tl-name strong" },
    truncate(status.name || "orchestration", 26)));
  y += ORCH;

  groups.forEach((g, i) => {
    const band = s("rect", { class: i % 2 ? "tl-band odd" : "tl-band", x: 0, y, width,
      height: g.height });
    chart.append(band);
    labels.append(s("rect", { class: i % 2 ? "tl-band odd" : "tl-band", x: 0, y,
      width: GUTTER, height: g.height }));
    const name = s("text", { x: 10, y: y + 15, class: `tl-name k-${g.kind}` },
      truncate(g.name, 26));
    name.append(s("title", {}, `${KIND_LABEL[g.kind]} ${g.name}`));
    labels.append(s("circle", { cx: GUTTER - 12, cy: y + 11, r: 4, class: `dot k-${g.kind}` }));
    labels.append(name);
    if (g.bars.length > 1 || g.height > 30) {
      const failed = g.failed ? ` · ${g.failed} failed` : "";
      const running = g.running ? ` · ${g.running} running` : "";
      labels.append(s("text", { x: 10, y: y + 29, class: "tl-sub" },
        `${KIND_LABEL[g.kind]} ×${g.bars.length}${failed}${running}`));
      if (g.height > 44 && g.median !== null) {
        labels.append(s("text", { x: 10, y: y + 42, class: "tl-sub" },
          `median ${duration(g.median)} · max ${duration(g.max)}`));
      }
    }
    const layer = s("g", { class: `k-${g.kind}` });
    const failedLayer = s("g", {});
    const top = y + 4 + (g.rowH - g.barH) / 2;
    for (const bar of g.bars) {
      const bx = x(bar.start);
      // Thin rows alternate in shade, so the bars of a fan-out stay apart.
      const alt = g.rowH < 4 && bar.rowIndex % 2 ? " alt" : "";
      const rect = s("rect", { class: `bar k-${bar.kind}${bar.failed ? " failed" : ""}`
        + `${bar.running ? " running" : ""}${bar.link ? " link" : ""}${alt}`, x: bx, y: top + bar.rowIndex * g.rowH,
      width: Math.max(1.5, x(bar.end) - bx), height: g.barH, rx: g.barH > 4 ? 2 : 0 });
      if (bar.link) rect.dataset.link = bar.link;
      rect.append(s("title", {}, barTitle(bar, t0)));
      (bar.failed ? failedLayer : layer).append(rect);
    }
    chart.append(layer, failedLayer);
    y += g.height;
  });

  for (const m of markers) {
    if (m.at === null) continue;
    const mx = x(m.at);
    const line = s("line", { class: `tl-marker m-${m.type}`, x1: mx, x2: mx, y1: AXIS,
      y2: height });
    line.append(s("title", {}, `${m.type} at ${localText(m.at, true)}`
      + (m.text ? `: ${m.text}` : "")));
    chart.append(line);
  }
  if (active) {
    const nx = x(t1);
    chart.append(s("line", { class: "tl-now", x1: nx, x2: nx, y1: AXIS - 6, y2: height }));
  }
  if (!groups.length) {
    chart.append(s("text", { x: 12, y: y + 20, class: "tl-sub" },
      "Nothing scheduled yet: bars appear as the orchestration schedules work."));
  }

  chart.addEventListener("click", (event) => {
    const link = event.target.dataset && event.target.dataset.link;
    if (link) location.hash = `#/instance/${encodeURIComponent(link)}`;
  });
  const scroller = document.createElement("div");
  scroller.className = "tl-scroll";
  scroller.append(chart);
  box.replaceChildren(labels, scroller);
  return bars.length;
}
