// Canary rollouts of a model: the running one (or one opened from the history) with its steps, its
// evaluations as a timeline and its decisions; the model's rollouts, newest first; starting one.

import { api, InputError, paths, withQuery } from "./api.js";
import { lineChart } from "./charts.js";
import { append, button, card, clear, confirmButton, el, facts, field, flash, form, inlineError, input, row, select, stateBadge, table } from "./dom.js";
import { dash, fmtMs, fmtNum, fmtRate, fmtShare, fmtTime } from "./format.js";
import { linkTo } from "./shell.js";

export const title = "Rollouts";

/** Rollouts per page of a model's history. */
const HISTORY_PAGE = 20;
const STATES = ["progressing", "paused", "promoted", "aborted"];

/** Route `#/rollouts/MODEL` shows MODEL's running rollout, `#/rollouts/MODEL/ID` the rollout ID. */
export async function render(root, [selected, openedId]) {
  const models = ((await api("GET", paths.models)).models || []).filter((m) => m.enabled !== false);
  if (!models.length) {
    append(root, el("p", { class: "muted" }, "No models."));
    return;
  }
  const name = selected && models.some((m) => m.name === selected) ? selected : models[0].name;
  const modelSelect = select("model", models.map((m) => m.name), { id: "rollout-model", testid: "rollout-model", value: name });
  modelSelect.addEventListener("change", () => { location.hash = linkTo("rollouts", modelSelect.value); });
  const lookup = input("rollout-id", { id: "rollout-lookup", placeholder: "r-…", testid: "rollout-lookup" });
  const box = el("div", { id: "rollout-box", testid: "rollout-box" });
  const lookupForm = form({ class: "inline-form" }, [field("Show rollout by id", lookup), el("button", { type: "submit" }, "Show")], async () => {
    const id = lookup.value.trim();
    if (!id) return;
    const rollout = await api("GET", paths.rollout(id));
    location.hash = linkTo("rollouts", rollout.model, rollout.id);
  });
  append(root, el("div", { class: "toolbar" }, field("Model", modelSelect), lookupForm), box);
  await renderRolloutSection(box, name, openedId).catch((error) => inlineError(box, `Rollouts of ${name}`, error));
}

async function renderRolloutSection(box, model, openedId) {
  const refresh = () => renderRolloutSection(box, model, openedId);
  const [release, latest] = await Promise.all([
    api("GET", paths.release(model)),
    api("GET", withQuery(paths.modelRollouts(model), { limit: HISTORY_PAGE })),
  ]);
  let rollout = release.rollout;
  let note = null;
  if (openedId) {
    rollout = await api("GET", paths.rollout(openedId));
    if (release.rollout && release.rollout.id !== rollout.id) note = `Rollout ${release.rollout.id} of ${model} is running.`;
  } else if (!rollout && latest.rollouts.length) {
    rollout = await api("GET", paths.rollout(latest.rollouts[0].id));
    note = `No rollout of ${model} is running; this is the latest.`;
  }
  clear(box);
  if (rollout) drawRollout(box, rollout, refresh, note);
  else append(box, card("Running rollout", el("p", { class: "muted", testid: "no-rollout" }, `No rollout of ${model} has run.`)));
  append(box, historyCard(model, latest, rollout && rollout.id));
  // A rollout just started is the running one: show it, not the one opened before.
  const started = () => {
    window.history.replaceState(null, "", linkTo("rollouts", model));
    return renderRolloutSection(box, model, null);
  };
  append(box, card(`Start a rollout of ${model}`, rolloutStartForm(release, started)));
}

/** The model's rollouts, newest first, a page at a time; a row opens its rollout. */
function historyCard(model, firstPage, shownId) {
  const line = (s) => {
    const open = linkTo("rollouts", s.model, s.id);
    const tr = row(
      el("a", { href: open, testid: `rollout-link-${s.id}` }, s.id),
      stateBadge(s.state),
      `${s.canary} / ${s.stable}`,
      fmtTime(s.started_at),
      s.ended_at === null ? "running" : fmtTime(s.ended_at),
      `${s.steps_reached} of ${s.step_count}`,
      fmtShare(s.canary_weight),
      fmtNum(s.evaluation_count),
      s.shadow ? stateBadge(s.shadow) : dash,
      s.reason || dash);
    tr.classList.add("clickable");
    if (s.id === shownId) tr.classList.add("selected");
    tr.setAttribute("data-testid", "rollout-history-row");
    tr.dataset.id = s.id;
    tr.addEventListener("click", (event) => {
      if (!event.target.closest("a")) location.hash = open;
    });
    return tr;
  };
  const headers = ["Rollout", "State", "Canary / stable", "Started", "Ended", "Steps reached", "Canary weight", "Evaluations", "Shadow step", "Reason"];
  const holder = el("div", {});
  const stateFilter = select("state", [["", "any state"], ...STATES.map((s) => [s, s])], { id: "rollout-history-state", testid: "rollout-history-state" });
  let next = null;
  let tbody = null;
  const more = button("Older rollouts", async () => {
    const page = await api("GET", withQuery(paths.modelRollouts(model), { limit: HISTORY_PAGE, state: stateFilter.value || null, before: next }));
    append(tbody, page.rollouts.map(line));
    show(page, false);
  }, { testid: "rollout-history-more" });
  const show = (page, fresh) => {
    if (fresh) {
      const node = table(headers, page.rollouts.map(line), { testid: "rollout-history" });
      tbody = node.querySelector("tbody");
      clear(holder, node);
    }
    next = page.next;
    more.hidden = !next;
  };
  stateFilter.addEventListener("change", () => {
    api("GET", withQuery(paths.modelRollouts(model), { limit: HISTORY_PAGE, state: stateFilter.value || null }))
      .then((page) => show(page, true))
      .catch((error) => inlineError(holder, "Rollouts", error));
  });
  show(firstPage, true);
  return card(`Rollouts of ${model}`, el("div", { class: "toolbar" }, field("State", stateFilter)), holder, el("div", { class: "button-row" }, more));
}

function stepText(step) {
  if ("set_weight" in step) return `set weight ${fmtShare(step.set_weight)}`;
  if (step.pause && typeof step.pause === "object") return "pause until promoted";
  return `pause ${step.pause}`;
}

function drawRollout(box, r, refresh, note) {
  const finished = r.state === "promoted" || r.state === "aborted";
  const act = (action, query = {}) => async () => {
    await api("POST", withQuery(paths.rolloutAction(r.id, action), query), {});
    flash(`Rollout ${r.id}: ${action} done.`);
    await refresh();
  };
  const controls = el("div", { class: "button-row", testid: "rollout-controls" },
    button("Promote (next step)", act("promote"), { class: "primary", testid: "rollout-promote", disabled: finished }),
    button("Promote fully", act("promote", { full: true }), { testid: "rollout-promote-full", disabled: finished }),
    button("Pause", act("pause"), { testid: "rollout-pause", disabled: finished }),
    button("Resume", act("resume"), { testid: "rollout-resume", disabled: finished }),
    finished ? null : confirmButton("Abort", "rollout-abort", act("abort"), { question: "Abort and send the canary's share back?" }));
  const analysis = r.analysis || {};
  const existing = box.querySelector("[data-testid=rollout]");
  const evaluations = r.evaluations || [];
  const section = card(`Rollout ${r.id}`,
    note ? el("p", { class: "muted", testid: "rollout-note" }, note) : null,
    facts([
      ["State", [stateBadge(r.state), r.reason ? ` ${r.reason}` : ""]],
      ["Canary / stable", `${r.canary} / ${r.stable}`],
      ["Canary weight", fmtShare(r.canary_weight)],
      ["Current step", `${r.current_step + 1 > (r.steps || []).length ? "all done" : r.current_step + 1} of ${(r.steps || []).length}`],
      ["Started", fmtTime(r.created_at)],
      ["Ended", r.ended_at === null || r.ended_at === undefined ? "running" : fmtTime(r.ended_at)],
      ["Updated", fmtTime(r.updated_at)],
    ], { testid: "rollout-facts" }),
    el("h3", {}, "Steps"),
    el("ol", { class: "steps" }, (r.steps || []).map((s, i) => el("li", { class: [i === r.current_step && "current", i < r.current_step && "done"] }, stepText(s)))),
    el("h3", {}, "Analysis"),
    facts(Object.entries(analysis).map(([k, v]) => [k, v === null ? dash : typeof v === "object" ? JSON.stringify(v) : String(v)]), { class: "facts compact" }),
    controls,
    el("h3", {}, "Evaluations"),
    evaluationTimeline(evaluations),
    el("h3", {}, "Decisions"),
    evaluationsTable(evaluations));
  section.setAttribute("data-testid", "rollout");
  section.dataset.id = r.id;
  if (existing) existing.replaceWith(section);
  else box.prepend(section);
}

/** Canary against stable, per evaluation over time: error rate and p95 latency. */
function evaluationTimeline(evaluations) {
  if (!evaluations.length) return el("p", { class: "muted", testid: "rollout-timeline" }, "No evaluation yet.");
  const times = evaluations.map((e) => e.time);
  const value = (key) => (w) => (w && w[key] !== null && w[key] !== undefined ? w[key] : null);
  const pair = (key) => [
    { label: "canary", values: evaluations.map((e) => value(key)(e.canary)) },
    { label: "stable", values: evaluations.map((e) => value(key)(e.stable)) },
  ];
  return el("div", { class: "charts", testid: "rollout-timeline" },
    lineChart({ title: "Error rate", times, series: pair("error_rate"), format: (v) => fmtRate(v, 1), testid: "rollout-chart-errors", spacing: "time" }),
    lineChart({ title: "p95 latency", times, series: pair("p95_latency_ms"), format: fmtMs, testid: "rollout-chart-p95", spacing: "time" }));
}

function evaluationsTable(evaluations) {
  const win = (w) => (w ? `${fmtNum(w.requests)} req, ${fmtRate(w.error_rate, 1)} err, p95 ${fmtMs(w.p95_latency_ms)}` : dash);
  const checks = (list) => el("ul", { class: "checks" }, (list || []).map((c) => el("li", { class: c.passed ? "pass" : "fail" },
    `${c.passed ? "✓" : "✗"} ${c.name}: ${fmtNum(c.measured, 4)} vs ${fmtNum(c.threshold, 4)}${c.p_value === null || c.p_value === undefined ? "" : ` (p = ${fmtNum(c.p_value, 4)})`}`)));
  return table(["Time", "Step", "Result", "Decision", "Canary", "Stable", "Checks"],
    evaluations.slice().reverse().map((e) => row(fmtTime(e.time), e.step + 1, stateBadge(e.result), e.decision, win(e.canary), win(e.stable), checks(e.checks))),
    { testid: "evaluations-table" });
}

function parseSteps(text) {
  return text.split(/[\s,]+/).filter(Boolean).map((token) => {
    if (/^\d+(\.\d{1,2})?%?$/.test(token)) return { set_weight: Number(token.replace("%", "")) };
    if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(token)) return { pause: token };
    if (/^(manual|\{\}|wait)$/i.test(token)) return { pause: {} };
    throw new InputError(`Steps: cannot read "${token}" (use a share like 5, a duration like 10m, or "manual").`);
  });
}

function rolloutStartForm(release, started) {
  const model = release.model;
  const candidates = (release.versions || []).filter((v) => v.is_active && !v.is_default).map((v) => v.name);
  if (!candidates.length) return el("p", { class: "muted" }, "A rollout needs an active version other than the default one.");
  const number = (name, hint) => field(name, input(name, { id: `rollout-${name}`, testid: `rollout-${name}`, inputmode: "decimal" }), hint);
  return form({ id: "rollout-start-form", testid: "rollout-start-form", class: "grid-form" }, [
    field("Canary", select("canary", candidates, { id: "rollout-canary", testid: "rollout-canary" })),
    field("Steps", input("steps", { id: "rollout-steps", testid: "rollout-steps", value: "5, 10m, 25, 30m, 50, manual" }),
      "Comma separated: a share (5 → set weight 5 %), a duration (10m → timed pause), manual (pause until promoted)."),
    number("max_error_rate_increase", "e.g. 0.02; without any check: 0.05"),
    number("max_latency_ratio", "e.g. 1.5"),
    number("max_error_rate"),
    number("max_p95_latency_ms"),
    number("min_requests", "default 50"),
    number("failure_limit", "default 2"),
    field("Interval", input("interval", { id: "rollout-interval", placeholder: "30s" })),
    field("Window", input("window", { id: "rollout-window", placeholder: "5m" })),
    el("div", { class: "form-actions" }, el("button", { type: "submit", class: "primary", testid: "rollout-start" }, "Start rollout")),
  ], async (f) => {
    const analysis = {};
    for (const key of ["max_error_rate_increase", "max_latency_ratio", "max_error_rate", "max_p95_latency_ms", "min_requests", "failure_limit"]) {
      const text = f.elements[key].value.trim();
      if (!text) continue;
      const value = Number(text);
      if (!Number.isFinite(value)) throw new InputError(`${key}: expected a number, got "${text}".`);
      analysis[key] = value;
    }
    for (const key of ["interval", "window"]) if (f.elements[key].value.trim()) analysis[key] = f.elements[key].value.trim();
    const body = { canary: f.elements.canary.value, steps: parseSteps(f.elements.steps.value) };
    if (Object.keys(analysis).length) body.analysis = analysis;
    const rollout = await api("POST", paths.modelRollouts(model), body);
    flash(`Rollout ${rollout.id} started.`);
    await started();
  });
}
