// The traffic of the last minutes to hours: tiles, charts per model version, requests per client API,
// and the system's facts.

import { api, paths, withQuery } from "./api.js";
import { lineChart } from "./charts.js";
import { append, card, clear, el, facts, field, row, select, showError, table } from "./dom.js";
import { dash, decimalsFor, fmtBytes, fmtClock, fmtDuration, fmtMs, fmtNum, fmtRate, fmtTime, fmtUSD } from "./format.js";
import { currentVisit, every, isCurrent } from "./shell.js";

export const title = "Overview";

const MAX_SERIES = 10;
const RANGES = {
  "15m": { seconds: 900, step: 60, label: "last 15 minutes" },
  "1h": { seconds: 3600, step: 60, label: "last hour" },
  "6h": { seconds: 21600, step: 300, label: "last 6 hours" },
  "24h": { seconds: 86400, step: 900, label: "last 24 hours" },
};

/** The range chosen last; kept while the page is open. */
let rangeName = "1h";

export async function render(root) {
  const visit = currentVisit();
  const rangeSelect = select("range", Object.entries(RANGES).map(([k, r]) => [k, r.label]),
    { id: "overview-range", testid: "overview-range", value: rangeName });
  const systemBox = el("div", { testid: "system-facts", id: "system-facts" }, el("p", { class: "muted" }, "Loading…"));
  const tiles = el("div", { class: "tiles", testid: "overview-tiles" });
  const charts = el("div", { class: "charts", id: "overview-charts", testid: "overview-charts" }, el("p", { class: "muted" }, "Loading…"));
  const endpoints = el("div", { testid: "overview-endpoints" }, el("p", { class: "muted" }, "Loading…"));
  const updated = el("span", { class: "muted", testid: "overview-updated" });
  rangeSelect.addEventListener("change", () => {
    rangeName = rangeSelect.value;
    refresh().catch(showError);
  });
  append(root,
    el("div", { class: "toolbar" }, field("Range", rangeSelect), el("span", { class: "muted" }, "Refreshes every 5 s while visible. "), updated),
    tiles, card("Traffic", charts), card("Requests by client API", endpoints), card("System", systemBox));

  async function refresh() {
    const to = Math.floor(Date.now() / 1000);
    const usage = withQuery(paths.usage, { group_by: "endpoint", from: to - RANGES[rangeName].seconds, to: to + 1 });
    const [system, series, byEndpoint] = await Promise.all([api("GET", paths.system), loadSeries(), api("GET", usage)]);
    if (!isCurrent(visit)) return;
    renderSystem(systemBox, system);
    renderTiles(tiles, series);
    renderCharts(charts, series);
    renderEndpoints(endpoints, byEndpoint.rows || []);
    updated.textContent = `Updated ${fmtTime(Date.now() / 1000)}`;
  }
  await refresh();
  every(refresh);
}

async function loadSeries() {
  const range = RANGES[rangeName];
  const to = Math.floor(Date.now() / 1000);
  const from = to - range.seconds;
  const targets = [{ label: "all traffic" }];
  const models = (await api("GET", paths.models)).models || [];
  for (const model of models) {
    if (model.enabled === false) continue;
    for (const version of model.versions || []) {
      if (!version.is_active) continue;
      targets.push({ label: `${model.name} / ${version.name}`, model: model.name, version: version.name });
    }
  }
  const chosen = targets.slice(0, MAX_SERIES);
  const query = (t) => withQuery(paths.timeseries, { from, to, step: range.step, model: t.model, version: t.version });
  const answers = await Promise.all(chosen.map((t) => api("GET", query(t))));
  return {
    step: range.step,
    truncated: targets.length - chosen.length,
    series: chosen.map((t, i) => ({ label: t.label, points: answers[i].points || [] })),
  };
}

function renderSystem(box, s) {
  const counts = s.counts || {};
  clear(box, facts([
    ["Version", s.version],
    ["Started", fmtTime(s.started_at)],
    ["Uptime", fmtDuration(s.uptime_seconds)],
    ["Database", s.database && s.database.path ? s.database.path : "in memory"],
    ["Database size", fmtBytes(s.database && s.database.size_bytes)],
    ["Providers", fmtNum(counts.providers)],
    ["Models", fmtNum(counts.models)],
    ["Users", fmtNum(counts.users)],
    ["Experiments", fmtNum(counts.experiments)],
    ["Running rollouts", fmtNum(counts.running_rollouts)],
  ]));
}

/** Usage rows grouped by endpoint: one line per client API path (shadow copies apart). */
function renderEndpoints(box, rows) {
  clear(box, table(["Client API", "Requests", "Error rate", "Tokens in (cached)", "Tokens out", "Cost"],
    rows.map((r) => row(
      [`/v1/${r.key}`, r.role === "shadow" ? " (shadow copies)" : ""],
      fmtNum(r.requests), r.requests ? fmtRate(r.errors / r.requests) : dash,
      `${fmtNum(r.tokens_in)} (${fmtNum(r.cached_tokens_in)})`, fmtNum(r.tokens_out), fmtUSD(r.cost_usd))),
    { testid: "endpoint-usage" }));
}

function renderTiles(box, data) {
  const points = data.series[0] ? data.series[0].points : [];
  const sum = (key) => points.reduce((a, p) => a + (p[key] || 0), 0);
  const requests = sum("requests"), errors = sum("errors");
  const recentBuckets = Math.max(1, Math.ceil(300 / data.step));
  const recent = points.slice(-recentBuckets);
  const recentSeconds = recent.length ? Math.max(data.step, Math.min(recent.length * data.step, Date.now() / 1000 - recent[0].time)) : 0;
  const recentRequests = recent.reduce((a, p) => a + (p.requests || 0), 0);
  const latest = points.slice().reverse().find((p) => p.latency_p95_ms !== null && p.latency_p95_ms !== undefined);
  const tile = (label, value, testid) => el("div", { class: "tile", testid }, el("div", { class: "tile-value" }, value), el("div", { class: "tile-label" }, label));
  clear(box,
    tile("requests in range", fmtNum(requests), "tile-requests"),
    tile("error rate", requests ? fmtRate(errors / requests) : dash, "tile-error-rate"),
    tile(`requests/s (last ${fmtDuration(recentBuckets * data.step)})`, recentSeconds ? fmtNum(recentRequests / recentSeconds, 2) : dash, "tile-rps"),
    tile(latest ? `p95 latency (at ${fmtClock(latest.time)})` : "p95 latency", fmtMs(latest && latest.latency_p95_ms), "tile-p95"),
    tile("cost in range", fmtUSD(sum("cost_usd")), "tile-cost"));
}

// Chart values as text: two decimals when read off a line; on the y-axis as many as its `step` needs.
const perSecond = (v, step) => fmtNum(v, step ? decimalsFor(step) : 2);
const percent = (v, step) => `${fmtNum(v * 100, step ? decimalsFor(step * 100) : 2)} %`;
const millis = (v, step) => (step ? `${fmtNum(v, decimalsFor(step))} ms` : fmtMs(v));

function renderCharts(box, data) {
  const times = data.series[0] ? data.series[0].points.map((p) => p.time) : [];
  const pick = (fn) => data.series.map((s) => ({ label: s.label, values: s.points.map(fn) }));
  const nz = (v) => (v === null || v === undefined ? null : v);
  clear(box,
    lineChart({ title: "Requests per second", times, series: pick((p) => p.requests / data.step), format: perSecond, testid: "chart-rps" }),
    lineChart({ title: "Error rate", times, series: pick((p) => nz(p.error_rate)), format: percent, testid: "chart-errors" }),
    lineChart({ title: "p95 latency", times, series: pick((p) => nz(p.latency_p95_ms)), format: millis, testid: "chart-p95" }),
    data.truncated > 0 ? el("p", { class: "muted" }, `${data.truncated} more model versions not charted.`) : null);
}
