// How values read on the page: times, numbers, rates, money, sizes. Pure functions, no document.

export const dash = "—";
const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return dash;
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtClock(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtNum(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return dash;
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  return Number(x.toFixed(digits)).toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** The fraction digits that write every multiple of `step` (a 1, 2 or 5 × 10^k) exactly: 0.005 → 3, 20 → 0. */
export const decimalsFor = (step) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

export const fmtRate = (x, digits = 2) => (x === null || x === undefined ? dash : `${(x * 100).toFixed(digits)} %`);
export const fmtShare = (x) => (x === null || x === undefined ? dash : `${fmtNum(x, 2)} %`);
export const fmtMs = (x) => (x === null || x === undefined ? dash : `${fmtNum(x, x < 10 ? 2 : 0)} ms`);

export function fmtUSD(x) {
  if (x === null || x === undefined) return dash;
  return `$${x.toFixed(Math.abs(x) > 0 && Math.abs(x) < 0.01 ? 6 : 4)}`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return dash;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${fmtNum(n, 1)} ${units[i]}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return dash;
  let s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [d && `${d}d`, h && `${h}h`, m && `${m}m`, s && `${s}s`].filter(Boolean);
  return parts.length ? parts.join(" ") : "0s";
}

export const fmtJSON = (v) => JSON.stringify(v, null, 2);
export const fmtList = (list) => (list && list.length ? list.join(", ") : dash);
export const yesNo = (b) => (b ? "yes" : "no");

/** The badge colour of a state word: "ok", "warn", "bad" or "" (neutral). */
export function stateKind(text) {
  if (["closed", "applied", "unchanged", "running", "promoted", "pass", "enabled", "yes"].includes(text)) return "ok";
  if (["half_open", "paused", "draft", "progressing", "insufficient_data", "never"].includes(text)) return "warn";
  if (["open", "invalid", "aborted", "fail", "disabled", "no"].includes(text)) return "bad";
  return "";
}
