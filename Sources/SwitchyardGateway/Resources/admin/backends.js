// The health of every routed backend: breaker state, latency, success rate; refreshed every 5 s.

import { api, paths } from "./api.js";
import { append, badge, card, clear, el, row, stateBadge, table } from "./dom.js";
import { fmtMs, fmtNum, fmtRate, fmtTime } from "./format.js";
import { currentVisit, every, isCurrent } from "./shell.js";

export const title = "Backends";

export async function render(root) {
  const visit = currentVisit();
  const box = el("div", { testid: "backends" }, el("p", { class: "muted" }, "Loading…"));
  append(root, el("p", { class: "muted" }, "Health of every routed backend; refreshes every 5 s."), card(null, box));
  async function refresh() {
    const data = await api("GET", paths.backendHealth);
    if (!isCurrent(visit)) return;
    clear(box, table(
      ["Model", "Version", "Backend", "Provider", "Breaker", "Available", "Latency", "Success rate", "Recovery", "Confidence", "Requests", "Failures", "Opened", "Open until"],
      (data.backends || []).map((b) => row(b.model, b.version, b.backend, b.provider, stateBadge(b.state),
        b.available ? badge("yes", "ok") : badge(b.cooling_down_until ? "cooling down" : "no", "bad"),
        fmtMs(b.latency_ms), fmtRate(b.success_rate, 1), fmtNum(b.recovery_factor), fmtNum(b.confidence, 3),
        fmtNum(b.requests), fmtNum(b.failures), fmtNum(b.times_opened), fmtTime(b.open_until || b.cooling_down_until))),
      { id: "backends-table", testid: "backends-table" }));
  }
  await refresh();
  every(refresh);
}
