// Models and their versions: the release of one model, its split editor, default, rollback and strategy.

import { api, InputError, paths } from "./api.js";
import { splitBar } from "./charts.js";
import { append, badge, button, card, clear, confirmButton, el, facts, field, flash, inlineError, row, select, stateBadge, table } from "./dom.js";
import { dash, fmtShare } from "./format.js";
import { shadowCard } from "./shadow.js";
import { linkTo } from "./shell.js";

export const title = "Models & versions";

export async function render(root, [selected]) {
  const data = await api("GET", paths.models);
  const models = data.models || [];
  append(root, card(null, table(["Model", "Enabled", "Default", "Versions", "Strategy", "Release strategy", "Sticky"],
    models.map((m) => row(
      el("a", { href: linkTo("models", m.name), class: ["model-link", m.name === selected && "active"], testid: `model-link-${m.name}` }, m.name),
      stateBadge(m.enabled ? "enabled" : "disabled"), m.default,
      (m.versions || []).map((v) => `${v.name} ${fmtShare(v.weight)}${v.is_active ? "" : " (inactive)"}`).join(", "),
      m.strategy, m.release_strategy, m.sticky)),
    { id: "models-table", testid: "models-table" })));
  const name = selected || (models.length ? models[0].name : null);
  if (!name) return;
  const detail = el("div", { id: "model-detail", testid: "model-detail" });
  append(root, detail);
  await renderModelDetail(detail, name).catch((error) => inlineError(detail, `Release of ${name}`, error));
}

async function renderModelDetail(box, model) {
  const release = await api("GET", paths.release(model));
  drawRelease(box, release);
}

function drawRelease(box, release) {
  const model = release.model;
  const reload = async (promise) => {
    const next = await promise;
    drawRelease(box, next && next.versions ? next : await api("GET", paths.release(model)));
  };
  const versions = release.versions || [];
  clear(box,
    card(`Release of ${model}`,
      facts([
        ["Default version", release.default],
        ["Split", versions.filter((v) => v.is_active).map((v) => `${v.name} ${fmtShare(v.weight)}`).join(", ")],
        ["Release strategy", `${release.strategy} (deciding now: ${release.effective_strategy})`],
        ["Sticky", `${release.sticky} (seed ${release.hash_seed})`],
        ["Previous default", release.previous_default || dash],
        ["Rollout", release.rollout ? el("a", { href: linkTo("rollouts", model) }, `${release.rollout.id}: ${release.rollout.state}, canary ${release.rollout.canary} at ${fmtShare(release.rollout.canary_weight)}`) : "none"],
      ], { testid: "release-facts" }),
      splitBar(versions),
      el("div", { class: "legend-row" }, versions.map((v, k) => (v.is_active && v.weight > 0
        ? el("span", { class: "legend-item" }, el("span", { class: `swatch s${k % 10}` }), `${v.name} ${fmtShare(v.weight)}`) : null)))),
    card("Versions", versionsTable(release, reload)),
    card("Split editor", splitEditor(release, reload)),
    card("Default, rollback and strategy", releaseControls(release, reload)),
    shadowCard(release));
}

function versionsTable(release, reload) {
  const model = release.model;
  return table(["Version", "Share", "Default", "Active", "Params", "Backends", ""],
    (release.versions || []).map((v) => row(v.name, fmtShare(v.weight), v.is_default ? badge("default", "ok") : "",
      stateBadge(v.is_active ? "yes" : "no"),
      Object.keys(v.params || {}).length ? el("code", {}, JSON.stringify(v.params)) : dash,
      (v.backends || []).map((b) => `${b.provider}/${b.model}${b.weight !== 1 ? ` ×${b.weight}` : ""}`).join(", "),
      v.is_default ? "" : button(v.is_active ? "Deactivate" : "Activate",
        () => reload(api("PUT", paths.version(model, v.name), { active: !v.is_active })),
        { class: "small", testid: `version-toggle-${v.name}` }))),
    { testid: "versions-table" });
}

function parseShare(text) {
  const trimmed = String(text).trim();
  if (!/^\d{1,3}(\.\d{1,2})?$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return value >= 0 && value <= 100 ? value : null;
}

function splitEditor(release, reload) {
  const model = release.model;
  const versions = release.versions || [];
  const editable = versions.filter((v) => v.is_active && !v.is_default);
  if (!editable.length) return el("p", { class: "muted" }, "Only the default version is active: there is no share to move.");
  const preview = el("p", { class: "muted", testid: "split-default-preview", id: "split-default-preview" });
  const inputs = new Map();
  const updatePreview = () => {
    let others = 0;
    for (const v of versions) {
      if (!v.is_active || v.is_default) continue;
      const typed = inputs.has(v.name) ? parseShare(inputs.get(v.name).value) : null;
      others += typed === null ? v.weight : typed;
    }
    const rest = Math.round((100 - others) * 100) / 100;
    preview.textContent = `The default version ${release.default} absorbs the difference: it would get ${fmtShare(rest)}${rest < 0 ? " (too much: refused)" : ""} if every row were applied.`;
  };
  const rows = editable.map((v) => {
    const slider = el("input", { type: "range", min: 0, max: 100, step: 1, value: Math.round(v.weight), id: `split-slider-${v.name}`, testid: `split-slider-${v.name}`, "aria-label": `${v.name} share (1 % steps)` });
    const number = el("input", { type: "number", min: 0, max: 100, step: 0.01, value: v.weight, id: `split-input-${v.name}`, testid: `split-input-${v.name}`, class: "share-input", "aria-label": `${v.name} share in percent (0.01 % steps)` });
    inputs.set(v.name, number);
    slider.addEventListener("input", () => {
      number.value = slider.value;
      updatePreview();
    });
    number.addEventListener("input", () => {
      const value = parseShare(number.value);
      if (value !== null) slider.value = String(Math.round(value));
      number.classList.toggle("invalid", value === null);
      updatePreview();
    });
    const apply = button("Apply", async () => {
      const weight = parseShare(number.value);
      if (weight === null) throw new InputError(`Share of ${v.name}: a number from 0 to 100 with at most two decimals.`);
      await reload(api("PUT", paths.weight(model), { version: v.name, weight }));
      flash(`${v.name} of ${model} now gets ${fmtShare(weight)}.`);
    }, { class: "primary", id: `split-apply-${v.name}`, testid: `split-apply-${v.name}` });
    return el("div", { class: "split-row", testid: `split-row-${v.name}` },
      el("span", { class: "split-name" }, v.name), slider, number, el("span", {}, "%"), apply);
  });
  updatePreview();
  return el("div", { class: "split-editor", testid: "split-editor" },
    el("p", { class: "muted" }, "Slider: 1 % steps. Number: 0.01 % steps (e.g. 0.05). Apply sets that version's share; the default version absorbs the difference."),
    rows, preview);
}

function releaseControls(release, reload) {
  const model = release.model;
  const active = (release.versions || []).filter((v) => v.is_active);
  const others = active.filter((v) => !v.is_default);

  const defaultSelect = select("default", others.map((v) => v.name), { id: "default-version", testid: "default-version" });
  const setDefault = button("Set default", () => reload(api("PUT", paths.defaultVersion(model), { version: defaultSelect.value })),
    { id: "set-default", testid: "set-default", disabled: !others.length });

  const targets = [];
  if (release.previous_default) targets.push(["", `previous default (${release.previous_default})`]);
  for (const v of active) targets.push([v.name, `${v.name}${v.is_default ? " (current default: all traffic back to it)" : ""}`]);
  const rollbackTarget = select("rollback-to", targets, {
    id: "rollback-target", testid: "rollback-target",
    value: release.previous_default ? "" : release.default,
  });
  const rollback = confirmButton("Rollback", "rollback-btn", async () => {
    const to = rollbackTarget.value;
    await reload(api("POST", paths.rollback(model), to ? { to } : {}));
    flash(`Rolled ${model} back${to ? ` to ${to}` : ""}.`);
  }, { question: "Send all traffic to the chosen version?" });

  const strategySelect = select("strategy", ["weight", "health", "round_robin"], { id: "release-strategy", testid: "release-strategy", value: release.strategy });
  const setStrategy = button("Set strategy", () => reload(api("PUT", paths.release(model), { strategy: strategySelect.value })),
    { id: "set-release-strategy", testid: "set-release-strategy" });

  return el("div", { class: "controls" },
    el("div", { class: "control-row" }, field("New default version", defaultSelect, "The split stays; a running rollout is aborted."), setDefault),
    el("div", { class: "control-row" }, field("Rollback target", rollbackTarget, "The target gets 100 % and becomes the default."), rollback),
    el("div", { class: "control-row" }, field("Release strategy", strategySelect), setStrategy),
    el("p", {}, el("a", { href: linkTo("rollouts", model) }, `Rollouts of ${model} →`)));
}
