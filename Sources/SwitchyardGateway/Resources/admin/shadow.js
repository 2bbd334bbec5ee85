// A model's shadow: which version gets copies of which share of the requests, and how its copies
// compare with the answers the users got.

import { api, paths } from "./api.js";
import { append, button, card, clear, confirmButton, el, facts, field, flash, form, inlineError, input, row, select, table } from "./dom.js";
import { dash, fmtMs, fmtNum, fmtRate, fmtShare, fmtTime, fmtUSD } from "./format.js";

/** The "Shadow traffic" card of a model's release: settings, controls and results. */
export function shadowCard(release) {
  const box = el("div", { id: "shadow-box", testid: "shadow-box" });
  refresh(box, release).catch((error) => inlineError(box, "Shadow traffic", error));
  return card("Shadow traffic", box);
}

async function refresh(box, release) {
  const state = await api("GET", paths.shadow(release.model));
  const version = (state.effective || state.shadow || {}).version;
  const results = version ? await api("GET", paths.shadowResults(release.model)) : null;
  clear(box,
    facts([
      ["Shadow", state.shadow ? describe(state.shadow) : "none"],
      ["Copying now", state.effective ? `${describe(state.effective)}${state.source === "rollout" ? " (a rollout's shadow step)" : ""}` : "nothing"],
      ["Copies open", fmtNum(state.in_flight)],
    ], { testid: "shadow-facts" }),
    controls(box, release, state),
    results ? resultsView(results) : el("p", { class: "muted" }, "No shadow: set one to copy a share of this model's requests to a candidate version. No user is served by it."));
}

const describe = (shadow) => `${shadow.version} gets ${fmtShare(shadow.share)} of requests, at most ${shadow.max_in_flight} open${shadow.keep_examples ? `, keeps ${shadow.keep_examples} examples` : ""}`;

function controls(box, release, state) {
  const candidates = (release.versions || []).filter((v) => !v.is_default).map((v) => v.name);
  const current = state.shadow || {};
  const version = select("shadow-version", candidates, { testid: "shadow-version", value: current.version || candidates[0] });
  const share = input("shadow-share", { testid: "shadow-share", value: current.share ?? 10, inputmode: "decimal" });
  const inFlight = input("shadow-max-in-flight", { testid: "shadow-max-in-flight", value: current.max_in_flight ?? 16, inputmode: "numeric" });
  const examples = input("shadow-keep-examples", { testid: "shadow-keep-examples", value: current.keep_examples ?? 0, inputmode: "numeric" });
  const save = form({ class: "inline-form", testid: "shadow-form" }, [
    field("Version", version), field("Share (%)", share), field("Max in flight", inFlight),
    field("Keep examples", examples, "Stores answer text of the pairs that differ most; 0 stores none."),
    el("button", { type: "submit", class: "primary", testid: "shadow-save", disabled: !candidates.length }, "Shadow"),
  ], async () => {
    await api("PUT", paths.shadow(release.model), {
      version: version.value, share: Number(share.value), max_in_flight: Number(inFlight.value), keep_examples: Number(examples.value),
    });
    flash(`${version.value} now gets shadow copies of ${release.model}.`);
    await refresh(box, release);
  });
  const stop = confirmButton("Stop shadow", "shadow-stop", async () => {
    await api("DELETE", paths.shadow(release.model));
    flash(`Shadow of ${release.model} stopped.`);
    await refresh(box, release);
  }, { question: "Stop copying requests to the shadow version?" });
  if (!state.shadow) stop.hidden = true;
  return el("div", { class: "controls" }, save, stop);
}

function resultsView(results) {
  const s = results.shadow;
  const p = results.primary;
  const r = results.ratios;
  const a = results.agreement;
  const ratio = (x) => (x === null || x === undefined ? dash : `× ${fmtNum(x, 2)}`);
  const copies = results.copies_since_start;
  return el("div", { testid: "shadow-results" },
    el("h3", {}, `${results.version} against the answers users got, since ${fmtTime(results.since)}`),
    table(["", "Shadow", "Primary", "Ratio"], [
      row("Requests", fmtNum(s.requests), fmtNum(p.requests), dash),
      row("Error rate", fmtRate(s.error_rate), fmtRate(p.error_rate), dash),
      row("Latency p50", fmtMs(s.p50_latency_ms), fmtMs(p.p50_latency_ms), ratio(r.p50_latency)),
      row("Latency p95", fmtMs(s.p95_latency_ms), fmtMs(p.p95_latency_ms), ratio(r.p95_latency)),
      row("TTFT p50", fmtMs(s.p50_ttft_ms), fmtMs(p.p50_ttft_ms), ratio(r.p50_ttft)),
      row("TTFT p95", fmtMs(s.p95_ttft_ms), fmtMs(p.p95_ttft_ms), ratio(r.p95_ttft)),
      row("Tokens per request", fmtNum(s.tokens_per_request, 1), fmtNum(p.tokens_per_request, 1), ratio(r.tokens_per_request)),
      row("Cost per request", fmtUSD(s.cost_per_request_usd), fmtUSD(p.cost_per_request_usd), ratio(r.cost_per_request)),
    ], { testid: "shadow-comparison" }),
    facts([
      ["Copies since start", `${fmtNum(copies.sent)} sent, ${fmtNum(copies.dropped_in_flight)} dropped (max in flight), ${fmtNum(copies.dropped_no_backend)} dropped (no healthy backend)`],
      ["Answers compared", fmtNum(a.compared)],
      ["Exact matches", fmtRate(a.exact_match_rate)],
      ["Similarity (token overlap, Dice)", `mean ${fmtNum(a.mean_similarity, 3)}; p10 ${fmtNum(a.p10_similarity, 3)}, p50 ${fmtNum(a.p50_similarity, 3)}, p90 ${fmtNum(a.p90_similarity, 3)}`],
    ], { testid: "shadow-agreement" }),
    histogram(a.histogram),
    results.examples.length ? table(["Similarity", "Time", "Primary answer", "Shadow answer"],
      results.examples.map((x) => row(fmtNum(x.similarity, 3), fmtTime(x.time), el("div", { class: "answer-text" }, x.primary), el("div", { class: "answer-text" }, x.shadow))),
      { testid: "shadow-examples" }) : null);
}

/** Answer pairs by similarity in tenths, as bars. */
function histogram(counts) {
  const peak = Math.max(1, ...counts);
  const bar = (count, k) => {
    const fill = el("div", { class: "histogram-fill" });
    fill.style.height = `${Math.round((count / peak) * 100)}%`; // CSSOM: the page's CSP allows no style attributes
    return el("div", { class: "histogram-bar", title: `${(k / 10).toFixed(1)}–${((k + 1) / 10).toFixed(1)}: ${count}` },
      fill, el("span", { class: "histogram-label" }, (k / 10).toFixed(1)));
  };
  return el("div", { class: "histogram", testid: "shadow-histogram", role: "img", "aria-label": "Answer pairs by similarity" },
    counts.map(bar));
}
