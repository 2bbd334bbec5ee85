// Canary rollouts of a model: the running (or last) one with its steps and evaluations, and starting one.

import { api, InputError, paths, withQuery } from "./api.js";
import { append, button, card, clear, confirmButton, el, facts, field, flash, form, inlineError, input, row, select, stateBadge, table } from "./dom.js";
import { dash, fmtMs, fmtNum, fmtRate, fmtShare, fmtTime } from "./format.js";
import { linkTo } from "./shell.js";

export const title = "Rollouts";

/** Session storage key prefix (+ model name) of the last rollout started from this page. */
const LAST_ROLLOUT_KEY = "switchyard.lastRollout.";

export async function render(root, [selected]) {
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
    if (id) drawRollout(box, await api("GET", paths.rollout(id)), () => renderRolloutSection(box, name));
  });
  append(root, el("div", { class: "toolbar" }, field("Model", modelSelect), lookupForm), box);
  await renderRolloutSection(box, name).catch((error) => inlineError(box, `Rollouts of ${name}`, error));
}

async function renderRolloutSection(box, model) {
  const release = await api("GET", paths.release(model));
  const refresh = () => renderRolloutSection(box, model);
  let rollout = release.rollout;
  let note = null;
  if (!rollout) {
    const last = sessionStorage.getItem(LAST_ROLLOUT_KEY + model);
    if (last) {
      try {
        rollout = await api("GET", paths.rollout(last));
        note = "No rollout is running; this is the last one started from this page.";
      } catch (_) {
        rollout = null;
      }
    }
  }
  clear(box);
  if (rollout) drawRollout(box, rollout, refresh, note);
  else append(box, card("Running rollout", el("p", { class: "muted", testid: "no-rollout" }, `No rollout of ${model} is running.`)));
  append(box, card(`Start a rollout of ${model}`, rolloutStartForm(release, refresh)));
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
  const section = card(`Rollout ${r.id}`,
    note ? el("p", { class: "muted" }, note) : null,
    facts([
      ["State", [stateBadge(r.state), r.reason ? ` ${r.reason}` : ""]],
      ["Canary / stable", `${r.canary} / ${r.stable}`],
      ["Canary weight", fmtShare(r.canary_weight)],
      ["Current step", `${r.current_step + 1 > (r.steps || []).length ? "all done" : r.current_step + 1} of ${(r.steps || []).length}`],
      ["Started", fmtTime(r.created_at)],
      ["Updated", fmtTime(r.updated_at)],
    ]),
    el("h3", {}, "Steps"),
    el("ol", { class: "steps" }, (r.steps || []).map((s, i) => el("li", { class: [i === r.current_step && "current", i < r.current_step && "done"] }, stepText(s)))),
    el("h3", {}, "Analysis"),
    facts(Object.entries(analysis).map(([k, v]) => [k, v === null ? dash : typeof v === "object" ? JSON.stringify(v) : String(v)]), { class: "facts compact" }),
    controls,
    el("h3", {}, "Evaluations"),
    evaluationsTable(r.evaluations || []));
  section.setAttribute("data-testid", "rollout");
  if (existing) existing.replaceWith(section);
  else box.prepend(section);
}

function evaluationsTable(evaluations) {
  const win = (w) => (w ? `${fmtNum(w.requests)} req, ${fmtRate(w.error_rate, 1)} err, p95 ${fmtMs(w.p95_latency_ms)}` : dash);
  const checks = (list) => el("ul", { class: "checks" }, (list || []).map((c) => el("li", { class: c.passed ? "pass" : "fail" },
    `${c.passed ? "✓" : "✗"} ${c.name}: ${fmtNum(c.measured, 4)} vs ${fmtNum(c.threshold, 4)}${c.p_value === null || c.p_value === undefined ? "" : ` (p = ${fmtNum(c.p_value, 4)})`}`)));
  return table(["Time", "Step", "Result", "Decision", "Canary", "Stable", "Checks"],
    evaluations.slice().reverse().slice(0, 100).map((e) => row(fmtTime(e.time), e.step + 1, stateBadge(e.result), e.decision, win(e.canary), win(e.stable), checks(e.checks))),
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

function rolloutStartForm(release, refresh) {
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
    sessionStorage.setItem(LAST_ROLLOUT_KEY + model, rollout.id);
    flash(`Rollout ${rollout.id} started.`);
    await refresh();
  });
}
