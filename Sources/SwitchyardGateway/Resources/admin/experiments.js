// A/B experiments: the list with their actions, one experiment's results, and creating one.

import { api, paths, withQuery } from "./api.js";
import { append, badge, button, card, clear, confirmButton, el, field, flash, form, input, row, select, stateBadge, table } from "./dom.js";
import { dash, fmtMs, fmtNum, fmtRate, fmtTime, fmtUSD } from "./format.js";
import { linkTo, navigate } from "./shell.js";

export const title = "Experiments";

export async function render(root, [selected]) {
  const [list, modelData] = await Promise.all([api("GET", withQuery(paths.experiments, { limit: 1000 })), api("GET", paths.models)]);
  const models = (modelData.models || []).filter((m) => m.enabled !== false);
  const experiments = list.experiments || [];
  const results = el("div", { id: "experiment-results", testid: "experiment-results" });
  const reload = () => navigate(location.hash);
  const act = (e, action) => async () => {
    await api("POST", paths.experimentAction(e.id, action), {});
    flash(`Experiment ${e.name}: ${action} done.`);
    reload();
  };
  const actions = (e) => el("div", { class: "button-row" },
    el("a", { href: linkTo("experiments", e.id), class: "button small", testid: `experiment-results-${e.id}` }, "Results"),
    e.status === "draft" || e.status === "paused" ? button("Start", act(e, "start"), { class: "small", testid: `experiment-start-${e.id}` }) : null,
    e.status === "running" ? button("Pause", act(e, "pause"), { class: "small", testid: `experiment-pause-${e.id}` }) : null,
    e.status === "running" || e.status === "paused" ? button("Complete", act(e, "complete"), { class: "small", testid: `experiment-complete-${e.id}` }) : null,
    e.status !== "running" ? confirmButton("Delete", `experiment-delete-${e.id}`, async () => {
      await api("DELETE", paths.experiment(e.id));
      flash(`Experiment ${e.name} deleted.`);
      navigate("#/experiments");
    }) : null);
  append(root,
    card(`Experiments (${fmtNum(list.total)})`, table(["Name", "Model", "Status", "Variants", "Control", "Created", ""],
      experiments.map((e) => row(
        el("div", {}, el("strong", { class: "exp-name" }, e.name), el("div", { class: "muted small-text" }, e.id), e.description ? el("div", { class: "muted small-text exp-description" }, e.description) : null),
        e.model, stateBadge(e.status),
        el("ul", { class: "plain" }, (e.variants || []).map((v) => el("li", {}, `${v.name || v.id} (${v.id}) → ${v.version ? `version ${v.version}` : `model ${v.model}`}, ${fmtRate(v.share, 1)}`))),
        e.control, fmtTime(e.created_at), actions(e))),
      { id: "experiments-table", testid: "experiments-table" })),
    results,
    card("New experiment", experimentForm(models, reload)));
  if (selected) await renderResults(results, selected);
}

async function renderResults(box, id) {
  const r = await api("GET", paths.experimentResults(id));
  const e = r.experiment || {};
  const variants = r.variants || [];
  const sr = r.sample_ratio || {};
  clear(box, card(`Results: ${e.name}`,
    el("p", { class: "summary", testid: "experiment-summary" }, r.summary),
    r.trustworthy === false ? el("div", { class: "warning", testid: "srm-warning", role: "alert" },
      el("strong", {}, "Sample ratio mismatch: "),
      `the observed request counts (${(sr.observed || []).join(" / ")}) do not fit the configured shares (chi-square p = ${fmtNum(sr.p_value, 6)} < ${sr.threshold}). Routing, filtering or logging is off; no verdict is given.`) : null,
    table(["Variant", "Requests", "Success rate (95 % CI)", "Latency p50 / p95", "TTFT p50 / p95", "Tokens in (cached) / out", "Cost",
      "Cost / request", "Feedback"],
      variants.map((v) => row(
        [v.name || v.id, " ", el("span", { class: "muted" }, `(${v.id})`), v.is_control ? [" ", badge("control", "")] : null],
        fmtNum(v.requests),
        `${fmtRate(v.success_rate)}${v.success_rate_ci95 ? ` [${fmtRate(v.success_rate_ci95[0])}, ${fmtRate(v.success_rate_ci95[1])}]` : ""}`,
        `${fmtMs(v.latency_ms && v.latency_ms.p50)} / ${fmtMs(v.latency_ms && v.latency_ms.p95)}`,
        `${fmtMs(v.ttft_ms && v.ttft_ms.p50)} / ${fmtMs(v.ttft_ms && v.ttft_ms.p95)}`,
        `${fmtNum(v.tokens_in)} (${fmtNum(v.cached_tokens_in)}) / ${fmtNum(v.tokens_out)}`,
        fmtUSD(v.cost_usd), fmtUSD(v.cost_per_request_usd),
        v.feedback && v.feedback.count ? `${fmtNum(v.feedback.mean, 2)} (${v.feedback.count})` : dash)),
      { testid: "results-variants" }),
    el("h3", {}, "Comparisons with the control"),
    table(["Variant", "Metric", "Control", "Variant value", "Relative effect (95 % CI)", "p-value", "Verdict"],
      variants.flatMap((v) => (v.comparisons || []).map((c) => {
        const tr = row(v.name || v.id, c.metric, fmtNum(c.control, 4), fmtNum(c.variant, 4),
          c.relative_effect === null || c.relative_effect === undefined ? dash
            : `${fmtRate(c.relative_effect, 1)}${c.relative_effect_ci95 ? ` [${fmtRate(c.relative_effect_ci95[0], 1)}, ${fmtRate(c.relative_effect_ci95[1], 1)}]` : ""}`,
          fmtNum(c.p_value, 4), c.verdict);
        if (c.significant) tr.classList.add("significant");
        return tr;
      })),
      { testid: "results-comparisons" }),
    el("p", { class: "muted small-text" }, r.notes || "")));
}

function experimentForm(models, reload) {
  if (!models.length) return el("p", { class: "muted" }, "No models to experiment on.");
  const modelSelect = select("model", models.map((m) => m.name), { id: "experiment-model", testid: "experiment-model" });
  const variantsBox = el("div", { class: "variants", testid: "experiment-variants" });
  const controlSelect = select("control", [], { id: "experiment-control", testid: "experiment-control" });
  const targetOptions = () => {
    const model = models.find((m) => m.name === modelSelect.value);
    return [
      ...((model && model.versions) || []).filter((v) => v.is_active).map((v) => [`version:${v.name}`, `version ${v.name}`]),
      ...models.filter((m) => m.name !== modelSelect.value).map((m) => [`model:${m.name}`, `model ${m.name}`]),
    ];
  };
  const syncControl = () => {
    const ids = [...variantsBox.querySelectorAll("input[name=variant-id]")].map((i) => i.value.trim()).filter(Boolean);
    const current = controlSelect.value;
    clear(controlSelect, ids.map((id) => el("option", { value: id }, id)));
    if (ids.includes(current)) controlSelect.value = current;
  };
  let count = 0;
  const addVariant = (id, target) => {
    const n = count++;
    const line = el("div", { class: "variant-row", testid: `variant-row-${n}` },
      input("variant-id", { id: `variant-id-${n}`, placeholder: "id", value: id || "", testid: `variant-id-${n}`, on: { input: syncControl } }),
      input("variant-name", { id: `variant-name-${n}`, placeholder: "display name", testid: `variant-name-${n}` }),
      select("variant-target", targetOptions(), { id: `variant-target-${n}`, testid: `variant-target-${n}`, value: target }),
      input("variant-weight", { id: `variant-weight-${n}`, type: "number", min: 0, step: "any", value: 1, testid: `variant-weight-${n}`, class: "share-input" }),
      el("button", { type: "button", class: "ghost small", on: { click: () => { line.remove(); syncControl(); } } }, "Remove"));
    variantsBox.append(line);
    syncControl();
  };
  const resetVariants = () => {
    clear(variantsBox);
    const options = targetOptions();
    addVariant("control", options[0] && options[0][0]);
    addVariant("treatment", options[1] && options[1][0]);
  };
  modelSelect.addEventListener("change", resetVariants);
  resetVariants();
  return form({ id: "experiment-form", testid: "experiment-form", class: "grid-form" }, [
    field("Name", input("name", { id: "experiment-name", testid: "experiment-name", required: true })),
    field("Description", input("description", { id: "experiment-description", testid: "experiment-description" })),
    field("Model", modelSelect),
    field("Assignment", select("strategy", [["consistent_hash", "consistent hash (sticky)"], ["weighted_random", "weighted random"]], { id: "experiment-strategy" })),
    field("Minimum samples per variant", input("min_samples", { id: "experiment-min-samples", type: "number", min: 1, step: 1, placeholder: "100" })),
    el("div", { class: "wide" }, el("span", { class: "field-label" }, "Variants (id, name, version or model, relative weight)"), variantsBox,
      el("button", { type: "button", class: "ghost small", testid: "experiment-add-variant", on: { click: () => addVariant("", targetOptions()[0] && targetOptions()[0][0]) } }, "Add variant")),
    field("Control", controlSelect),
    el("div", { class: "form-actions" }, el("button", { type: "submit", class: "primary", testid: "experiment-create" }, "Create experiment")),
  ], async (f) => {
    const variants = [...variantsBox.querySelectorAll(".variant-row")].map((line) => {
      const [kind, ...rest] = line.querySelector("select").value.split(":");
      const v = { id: line.querySelector("[name=variant-id]").value.trim(), weight: Number(line.querySelector("[name=variant-weight]").value || 1) };
      const name = line.querySelector("[name=variant-name]").value.trim();
      if (name) v.name = name;
      v[kind === "model" ? "model" : "version"] = rest.join(":");
      return v;
    });
    const body = { name: f.elements.name.value.trim(), model: modelSelect.value, control: controlSelect.value, variants, strategy: f.elements.strategy.value };
    const description = f.elements.description.value.trim();
    if (description) body.description = description;
    if (f.elements.min_samples.value.trim()) body.min_samples = Number(f.elements.min_samples.value);
    const created = await api("POST", paths.experiments, body);
    flash(`Experiment ${created.name} created (draft).`);
    reload();
  });
}
