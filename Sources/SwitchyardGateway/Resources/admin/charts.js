// The SVG charts (the overview's traffic, a rollout's evaluations) and the models view's split bar, drawn from plain numbers.

import { clear, el } from "./dom.js";
import { dash, fmtClock, fmtShare, fmtTime } from "./format.js";

function svgText(x, y, text, attrs = {}) {
  return el("svg:text", { x, y, ...attrs }, text);
}

/** At most this many grid steps on a y-axis. */
const MAX_INTERVALS = 5;

/**
 * The ticks of a y-axis from 0 up to `peak`: 0, step, 2 step, ... to the first at or above `peak`,
 * where step is the smallest 1, 2 or 5 × 10^k that needs at most MAX_INTERVALS steps. Such steps
 * are round numbers, so labels showing the decimals the step needs are exact and all distinct.
 * No data (peak 0) draws 0 to 1.
 */
function axisTicks(peak) {
  const top = peak > 0 ? peak : 1;
  for (let exponent = Math.floor(Math.log10(top / MAX_INTERVALS)); ; exponent += 1) {
    for (const multiple of [1, 2, 5]) {
      const step = multiple * 10 ** exponent;
      const intervals = Math.ceil(top / step - 1e-9);
      if (intervals <= MAX_INTERVALS) return { step, values: Array.from({ length: intervals + 1 }, (_, k) => k * step) };
    }
  }
}

/**
 * A line chart. `series`: [{label, values: [number|null]}] over the shared `times` (ascending).
 * Gaps (null) break the line; single points are drawn as dots. `format(value, step)` writes a
 * value; on the y-axis `step` is the spacing of its ticks (see `decimalsFor`), otherwise absent.
 * `spacing`: "even" puts the points at equal distances (regular buckets); "time" places each
 * at its time, for points taken at irregular moments.
 */
export function lineChart({ title, times, series, format, testid, spacing = "even" }) {
  const W = 600, H = 220, L = 56, R = 12, T = 12, B = 26;
  const plotW = W - L - R, plotH = H - T - B;
  const n = times.length;
  const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const axis = axisTicks(Math.max(0, ...all));
  const top = axis.values[axis.values.length - 1];
  const first = times[0], span = n > 1 ? times[n - 1] - times[0] : 0;
  const byTime = spacing === "time" && span > 0;
  const xAt = (t) => L + ((t - first) / span) * plotW;
  const x = (i) => (byTime ? xAt(times[i]) : L + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW));
  const y = (v) => T + plotH - (v / top) * plotH;
  /** The index of the point drawn nearest to the chart's horizontal position `px`. */
  const nearest = (px) => {
    if (!byTime) return Math.max(0, Math.min(n - 1, Math.round(((px - L) / plotW) * (n - 1))));
    const t = first + ((px - L) / plotW) * span;
    return times.reduce((best, time, i) => (Math.abs(time - t) < Math.abs(times[best] - t) ? i : best), 0);
  };

  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title, testid });
  for (const v of axis.values) {
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(svgText(L - 6, y(v) + 4, format(v, axis.step), { class: "axis-label y", "text-anchor": "end" }));
  }
  // Times of day: 24 hours apart, the first and last tick read the same; only the later one is kept.
  const ticks = Math.min(6, n);
  const marks = Array.from({ length: ticks }, (_, k) => {
    if (byTime) {
      const t = first + (ticks === 1 ? 0 : (k * span) / (ticks - 1));
      return { at: xAt(t), time: t };
    }
    const i = ticks === 1 ? 0 : Math.round((k * (n - 1)) / (ticks - 1));
    return { at: x(i), time: times[i] };
  });
  marks.forEach(({ at, time }, k) => {
    const label = fmtClock(time);
    if (marks.slice(k + 1).some((later) => fmtClock(later.time) === label)) return;
    const anchor = k === 0 && ticks > 1 ? "start" : k === ticks - 1 && ticks > 1 ? "end" : "middle";
    svg.append(svgText(at, H - 6, label, { class: "axis-label x", "text-anchor": anchor }));
  });
  svg.append(el("svg:line", { x1: L, x2: W - R, y1: T + plotH, y2: T + plotH, class: "axis" }));

  // Drawn in reverse so the first series (all traffic) lies on top of the per-version lines.
  series.map((s, index) => [s, index]).reverse().forEach(([s, index]) => {
    let d = "";
    let run = 0;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        run = 0;
        return;
      }
      d += `${run === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      run += 1;
      const prev = s.values[i - 1], next = s.values[i + 1];
      if ((prev === null || prev === undefined) && (next === null || next === undefined)) {
        svg.append(el("svg:circle", { cx: x(i), cy: y(v), r: 2.5, class: `dot s${index}` }));
      }
    });
    if (d) svg.append(el("svg:path", { d: d.trim(), class: `line s${index}` }, el("svg:title", {}, s.label)));
  });

  const cursor = el("svg:line", { x1: 0, x2: 0, y1: T, y2: T + plotH, class: "cursor", visibility: "hidden" });
  const overlay = el("svg:rect", { x: L, y: T, width: plotW, height: plotH, class: "overlay" });
  svg.append(cursor, overlay);

  const readout = el("div", { class: "readout muted" }, "Hover the chart for values.");
  overlay.addEventListener("mousemove", (event) => {
    if (!n) return;
    const box = svg.getBoundingClientRect();
    const i = nearest(((event.clientX - box.left) / box.width) * W);
    cursor.setAttribute("x1", x(i));
    cursor.setAttribute("x2", x(i));
    cursor.setAttribute("visibility", "visible");
    clear(readout, el("strong", {}, fmtTime(times[i])), series.map((s, k) => [" · ", el("span", { class: `swatch s${k}` }), ` ${s.label}: `,
      s.values[i] === null || s.values[i] === undefined ? dash : format(s.values[i])]));
  });
  overlay.addEventListener("mouseleave", () => cursor.setAttribute("visibility", "hidden"));

  const legend = el("ul", { class: "legend" }, series.map((s, k) => el("li", {}, el("span", { class: `swatch s${k}` }), s.label)));
  return el("figure", { class: "chart-box" }, el("figcaption", {}, title), svg, legend, readout);
}

/** The split as a stacked bar. */
export function splitBar(versions) {
  const W = 600, H = 28;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "split-bar", role: "img", "aria-label": "Traffic split", preserveAspectRatio: "none" });
  let offset = 0;
  versions.forEach((v, k) => {
    if (!v.is_active || !(v.weight > 0)) return;
    const width = (v.weight / 100) * W;
    svg.append(el("svg:rect", { x: offset, y: 0, width: Math.max(width, 0.5), height: H, class: `seg s${k % 10}` },
      el("svg:title", {}, `${v.name}: ${fmtShare(v.weight)}`)));
    offset += width;
  });
  return svg;
}
