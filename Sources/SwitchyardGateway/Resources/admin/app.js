// Switchyard admin page: plain ES2020, no dependencies, served under a strict CSP.
// Every piece of data is rendered as text (el() builds nodes; nothing is parsed as HTML).
"use strict";

(() => {
  // ---------------------------------------------------------------------------
  // Constants and state
  // ---------------------------------------------------------------------------

  const TOKEN_KEY = "switchyard.adminToken";
  const LAST_ROLLOUT_KEY = "switchyard.lastRollout.";
  const REFRESH_MS = 5000;
  const MAX_SERIES = 10;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const RANGES = {
    "15m": { seconds: 900, step: 60, label: "last 15 minutes" },
    "1h": { seconds: 3600, step: 60, label: "last hour" },
    "6h": { seconds: 21600, step: 300, label: "last 6 hours" },
    "24h": { seconds: 86400, step: 900, label: "last 24 hours" },
  };

  const state = {
    timers: [],
    routeSeq: 0,
    overviewRange: "1h",
  };

  // ---------------------------------------------------------------------------
  // DOM helpers
  // ---------------------------------------------------------------------------

  const $ = (selector, root = document) => root.querySelector(selector);

  /**
   * Builds an element. `tag` may be "svg:NAME" for SVG. Attributes: `class` (string or array),
   * `testid` (data-testid), `on` ({event: handler}), `value`/`checked`/`disabled`/`selected`
   * (set as properties), anything else via setAttribute. Children: nodes or text (never HTML).
   */
  function el(tag, attrs, ...children) {
    const isSvg = tag.startsWith("svg:");
    const node = isSvg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
    let value;
    for (const [key, raw] of Object.entries(attrs || {})) {
      if (raw === null || raw === undefined || raw === false) continue;
      if (key === "on") {
        for (const [event, handler] of Object.entries(raw)) node.addEventListener(event, handler);
      } else if (key === "class") {
        const text = Array.isArray(raw) ? raw.filter(Boolean).join(" ") : String(raw);
        if (text) node.setAttribute("class", text);
      } else if (key === "testid") {
        node.setAttribute("data-testid", String(raw));
      } else if (key === "value") {
        value = raw;
      } else if (key === "checked" || key === "disabled" || key === "selected" || key === "readOnly") {
        node[key] = Boolean(raw);
      } else if (/^on/i.test(key) || key === "style") {
        throw new TypeError(`el(): attribute ${key} is not allowed`);
      } else {
        node.setAttribute(key, raw === true ? "" : String(raw));
      }
    }
    append(node, children);
    if (value !== undefined) node.value = String(value);
    return node;
  }

  function append(node, ...children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  const card = (title, ...children) => el("section", { class: "card" }, title ? el("h2", {}, title) : null, ...children);

  function table(headers, rows, attrs = {}) {
    return el("div", { class: "table-wrap" },
      el("table", attrs,
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
        el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "Nothing here yet.")))));
  }

  const row = (...cells) => el("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c))));

  function facts(pairs, attrs = {}) {
    return el("dl", { class: "facts", ...attrs }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function badge(text, kind) {
    return el("span", { class: ["badge", kind && `badge-${kind}`] }, text);
  }

  function button(label, onClick, attrs = {}) {
    const node = el("button", { type: "button", ...attrs }, label);
    node.addEventListener("click", (event) => {
      event.preventDefault();
      busy(node, () => onClick(event));
    });
    return node;
  }

  /** Runs `fn` with `node` disabled; shows any error. */
  async function busy(node, fn) {
    if (node.disabled) return;
    node.disabled = true;
    node.classList.add("busy");
    try {
      await fn();
    } catch (error) {
      showError(error);
    } finally {
      node.disabled = false;
      node.classList.remove("busy");
    }
  }

  /** A button that asks for confirmation in place before running `onConfirm`. */
  function confirmButton(label, testid, onConfirm, { danger = true, question = "Are you sure?" } = {}) {
    const holder = el("span", { class: "confirm-holder" });
    const start = el("button", { type: "button", class: danger ? "danger" : "", testid, id: testid }, label);
    const ask = () => {
      const yes = button(`Confirm ${label.toLowerCase()}`, async () => {
        await onConfirm();
        reset();
      }, { class: danger ? "danger" : "primary", testid: `${testid}-confirm`, id: `${testid}-confirm` });
      const no = el("button", { type: "button", class: "ghost", testid: `${testid}-cancel`, on: { click: reset } }, "Cancel");
      clear(holder, el("span", { class: "confirm-question" }, question), " ", yes, " ", no);
      yes.focus();
    };
    const reset = () => clear(holder, start);
    start.addEventListener("click", (event) => {
      event.preventDefault();
      ask();
    });
    return clear(holder, start);
  }

  /** A form that never submits natively: `onSubmit(form)` runs instead. */
  function form(attrs, children, onSubmit) {
    const node = el("form", { novalidate: true, autocomplete: "off", ...attrs }, children);
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      const submit = node.querySelector("[type=submit]");
      busy(submit || node, () => onSubmit(node));
    });
    return node;
  }

  function field(label, input, hint) {
    return el("label", { class: "field" }, el("span", { class: "field-label" }, label), input, hint ? el("span", { class: "hint" }, hint) : null);
  }

  function input(name, attrs = {}) {
    return el("input", { name, id: attrs.id || `f-${name}`, type: "text", spellcheck: "false", ...attrs });
  }

  function select(name, options, attrs = {}) {
    return el("select", { name, id: attrs.id || `f-${name}`, ...attrs },
      options.map((o) => (Array.isArray(o) ? el("option", { value: o[0] }, o[1]) : el("option", { value: o }, o))));
  }

  function svgText(x, y, text, attrs = {}) {
    return el("svg:text", { x, y, ...attrs }, text);
  }

  // ---------------------------------------------------------------------------
  // Formatting
  // ---------------------------------------------------------------------------

  const dash = "—";
  const pad = (n) => String(n).padStart(2, "0");

  function fmtTime(seconds) {
    if (seconds === null || seconds === undefined) return dash;
    const d = new Date(seconds * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function fmtClock(seconds) {
    const d = new Date(seconds * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function fmtNum(x, digits = 2) {
    if (x === null || x === undefined || Number.isNaN(x)) return dash;
    if (Number.isInteger(x)) return x.toLocaleString("en-US");
    return Number(x.toFixed(digits)).toLocaleString("en-US", { maximumFractionDigits: digits });
  }

  const fmtRate = (x, digits = 2) => (x === null || x === undefined ? dash : `${(x * 100).toFixed(digits)} %`);
  const fmtShare = (x) => (x === null || x === undefined ? dash : `${fmtNum(x, 2)} %`);
  const fmtMs = (x) => (x === null || x === undefined ? dash : `${fmtNum(x, x < 10 ? 2 : 0)} ms`);

  function fmtUSD(x) {
    if (x === null || x === undefined) return dash;
    return `$${x.toFixed(Math.abs(x) > 0 && Math.abs(x) < 0.01 ? 6 : 4)}`;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return dash;
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${fmtNum(n, 1)} ${units[i]}`;
  }

  function fmtDuration(seconds) {
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

  const fmtJSON = (v) => JSON.stringify(v, null, 2);
  const fmtList = (list) => (list && list.length ? list.join(", ") : dash);
  const yesNo = (b) => (b ? "yes" : "no");

  function stateKind(text) {
    if (["closed", "applied", "unchanged", "running", "promoted", "pass", "enabled", "yes"].includes(text)) return "ok";
    if (["half_open", "paused", "draft", "progressing", "insufficient_data", "never"].includes(text)) return "warn";
    if (["open", "invalid", "aborted", "fail", "disabled", "no"].includes(text)) return "bad";
    return "";
  }

  const stateBadge = (text) => badge(text === null || text === undefined ? dash : String(text), stateKind(text));

  // ---------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, field) {
      super(message);
      this.status = status;
      this.field = field || null;
    }
  }

  /** A value the admin typed that the page refuses before calling the API. */
  class InputError extends Error {}

  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  const enc = encodeURIComponent;

  /** `path` with `params` as its query string, leaving out absent values. */
  function withQuery(path, params) {
    const pairs = Object.entries(params).filter(([, value]) => value !== undefined && value !== null);
    return pairs.length ? `${path}?${pairs.map(([key, value]) => `${key}=${enc(value)}`).join("&")}` : path;
  }

  /** Every admin API path the page calls, in one place (all of them: docs/admin-api.md, /api/openapi.json). */
  const paths = {
    system: "/api/system",
    settings: "/api/settings",
    timeseries: "/api/stats/timeseries",
    backendHealth: "/api/health/backends",
    configStatus: "/api/config/status",
    configReload: "/api/config/reload",
    configExport: "/api/config/export",
    audit: "/api/audit",
    models: "/api/models",
    release: (model) => `/api/models/${enc(model)}/release`,
    version: (model, version) => `/api/models/${enc(model)}/versions/${enc(version)}`,
    weight: (model) => `/api/models/${enc(model)}/weight`,
    defaultVersion: (model) => `/api/models/${enc(model)}/default`,
    rollback: (model) => `/api/models/${enc(model)}/rollback`,
    modelRollouts: (model) => `/api/models/${enc(model)}/rollouts`,
    rollout: (id) => `/api/rollouts/${enc(id)}`,
    rolloutAction: (id, action) => `/api/rollouts/${enc(id)}/${action}`,
    experiments: "/api/experiments",
    experiment: (id) => `/api/experiments/${enc(id)}`,
    experimentAction: (id, action) => `/api/experiments/${enc(id)}/${action}`,
    experimentResults: (id) => `/api/experiments/${enc(id)}/results`,
    users: "/api/users",
    user: (id) => `/api/users/${enc(id)}`,
    userTokenRotation: (id) => `/api/users/${enc(id)}/rotate-token`,
    providers: "/api/providers",
    provider: (id) => `/api/providers/${enc(id)}`,
    providerModels: (id) => `/api/providers/${enc(id)}/models`,
    providerModelRefresh: (id) => `/api/providers/${enc(id)}/refresh-models`,
  };

  /** The one API helper: JSON in and out, the admin token on every call, 401 back to the login form. */
  async function api(method, path, body, { allow401 = false } = {}) {
    const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json, text/plain" };
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, `The gateway did not answer (${error.message}).`);
    }
    if (response.status === 401 && !allow401) {
      logout("The admin token was refused. Log in again.");
      throw new ApiError(401, "Unauthorized");
    }
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    const payload = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      const error = payload && payload.error;
      const message = error && typeof error.message === "string" ? error.message : `HTTP ${response.status} ${response.statusText}`;
      throw new ApiError(response.status, message, error && error.field);
    }
    return payload;
  }

  // ---------------------------------------------------------------------------
  // Notices
  // ---------------------------------------------------------------------------

  let flashTimer = null;

  function flash(text, kind = "ok") {
    const box = $("#flash");
    clearTimeout(flashTimer);
    clear(box,
      el("span", { class: "flash-text", testid: "flash-text" }, text),
      el("button", { type: "button", class: "ghost flash-close", "aria-label": "Dismiss", on: { click: () => { box.hidden = true; } } }, "×"));
    box.className = `flash flash-${kind}`;
    box.hidden = false;
    if (kind === "ok") flashTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  function errorText(error) {
    if (error instanceof ApiError) {
      return error.field ? `${error.message} (field: ${error.field})` : error.message;
    }
    return error && error.message ? error.message : String(error);
  }

  /** Shows an API error in place of a section that could not load. */
  function inlineError(box, title, error) {
    if (error instanceof ApiError && error.status === 401) return;
    clear(box, card(title, el("p", { class: "error-text", testid: "inline-error" }, errorText(error))));
  }

  function showError(error) {
    if (error instanceof ApiError && error.status === 401) return;
    if (!(error instanceof ApiError) && !(error instanceof InputError)) console.error(error);
    flash(errorText(error), "error");
  }

  // ---------------------------------------------------------------------------
  // Login, logout, routing
  // ---------------------------------------------------------------------------

  function showLogin(message) {
    clearTimers();
    $("#shell").hidden = true;
    $("#login").hidden = false;
    const error = $("#login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("#login-token").value = "";
    $("#login-token").focus();
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("#flash").hidden = true;
    $("#config-banner").hidden = true;
    clear($("#view"));
    showLogin(message);
  }

  async function login(form) {
    const value = form.elements.token.value.trim();
    if (!value) {
      showLogin("Enter the admin token.");
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      await api("GET", paths.configStatus, undefined, { allow401: true });
    } catch (error) {
      if (error.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin("That token was refused.");
        return;
      }
      if (error.status !== 404) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(errorText(error));
        return;
      }
    }
    navigate(!location.hash || location.hash === "#" || location.hash === "#/" ? "#/overview" : location.hash);
  }

  /** Goes to `hash`, rendering again when it is the current one (no hashchange then). */
  function navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function clearTimers() {
    for (const id of state.timers) clearInterval(id);
    state.timers = [];
  }

  /** Runs `fn` every REFRESH_MS while the page is visible and this view is current, one run at a time. */
  function every(fn, ms = REFRESH_MS) {
    const seq = state.routeSeq;
    let running = false;
    const id = setInterval(() => {
      if (running || seq !== state.routeSeq || document.visibilityState !== "visible") return;
      running = true;
      fn().catch(showError).finally(() => { running = false; });
    }, ms);
    state.timers.push(id);
  }

  const ROUTES = {
    overview: { title: "Overview", render: viewOverview },
    backends: { title: "Backends", render: viewBackends },
    models: { title: "Models & versions", render: viewModels },
    rollouts: { title: "Rollouts", render: viewRollouts },
    experiments: { title: "Experiments", render: viewExperiments },
    users: { title: "Users", render: viewUsers },
    providers: { title: "Providers", render: viewProviders },
    audit: { title: "Audit log", render: viewAudit },
    config: { title: "Config", render: viewConfig },
  };

  function parseHash() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "");
    try {
      return parts.map(decodeURIComponent);
    } catch (_) {
      return [];
    }
  }

  function route() {
    if (!token()) {
      showLogin();
      return;
    }
    clearTimers();
    state.routeSeq += 1;
    $("#login").hidden = true;
    $("#shell").hidden = false;
    const [name, ...params] = parseHash();
    const key = ROUTES[name] ? name : "overview";
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("active", link.dataset.route === key);
      if (link.dataset.route === key) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${ROUTES[key].title} · Switchyard`;
    const root = el("section", { class: "view", id: `view-${key}`, testid: `view-${key}` }, el("h1", {}, ROUTES[key].title));
    clear($("#view"), root);
    refreshBanner().catch(() => {});
    ROUTES[key].render(root, params).catch(showError);
  }

  const isCurrent = (seq) => seq === state.routeSeq;

  // ---------------------------------------------------------------------------
  // Config banner (every view)
  // ---------------------------------------------------------------------------

  async function refreshBanner(status) {
    const banner = $("#config-banner");
    if (!status) {
      try {
        status = await api("GET", paths.configStatus);
      } catch (error) {
        banner.hidden = true;
        return;
      }
    }
    if (status.result !== "invalid") {
      banner.hidden = true;
      return;
    }
    const errors = status.errors || [];
    const first = errors[0];
    clear(banner,
      el("strong", {}, "Seed file invalid: "),
      `${status.seed_path || "the seed file"} was not applied (${errors.length} error${errors.length === 1 ? "" : "s"}`,
      first ? `; first: ${first.key}: ${first.reason}` : "",
      "). The previous configuration keeps serving. ",
      el("a", { href: "#/config" }, "Details"));
    banner.hidden = false;
  }

  // ---------------------------------------------------------------------------
  // Charts (SVG)
  // ---------------------------------------------------------------------------

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    // Multiples whose quarters are round numbers (the chart draws four grid steps).
    for (const m of [1, 2, 4, 6, 8, 10]) if (m * power >= value) return m * power;
    return 10 * power;
  }

  /**
   * A line chart. `series`: [{label, values: [number|null]}] over the shared `times`.
   * Gaps (null) break the line; single points are drawn as dots.
   */
  function lineChart({ title, times, series, format, testid }) {
    const W = 600, H = 220, L = 56, R = 12, T = 12, B = 26;
    const plotW = W - L - R, plotH = H - T - B;
    const n = times.length;
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const max = niceMax(Math.max(0, ...all));
    const x = (i) => L + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW);
    const y = (v) => T + plotH - (v / max) * plotH;

    const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title, testid });
    for (let k = 0; k <= 4; k += 1) {
      const v = (max * k) / 4;
      svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      svg.append(svgText(L - 6, y(v) + 4, format(v), { class: "axis-label", "text-anchor": "end" }));
    }
    const ticks = Math.min(6, n);
    for (let k = 0; k < ticks; k += 1) {
      const i = ticks === 1 ? 0 : Math.round((k * (n - 1)) / (ticks - 1));
      const anchor = k === 0 && ticks > 1 ? "start" : k === ticks - 1 && ticks > 1 ? "end" : "middle";
      svg.append(svgText(x(i), H - 6, fmtClock(times[i]), { class: "axis-label", "text-anchor": anchor }));
    }
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
      const px = ((event.clientX - box.left) / box.width) * W;
      const i = Math.max(0, Math.min(n - 1, Math.round(((px - L) / plotW) * (n - 1))));
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
  function splitBar(versions) {
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

  // ---------------------------------------------------------------------------
  // 1. Overview
  // ---------------------------------------------------------------------------

  async function viewOverview(root) {
    const seq = state.routeSeq;
    const rangeSelect = select("range", Object.entries(RANGES).map(([k, r]) => [k, r.label]),
      { id: "overview-range", testid: "overview-range", value: state.overviewRange });
    const systemBox = el("div", { testid: "system-facts", id: "system-facts" }, el("p", { class: "muted" }, "Loading…"));
    const tiles = el("div", { class: "tiles", testid: "overview-tiles" });
    const charts = el("div", { class: "charts", id: "overview-charts", testid: "overview-charts" }, el("p", { class: "muted" }, "Loading…"));
    const updated = el("span", { class: "muted", testid: "overview-updated" });
    rangeSelect.addEventListener("change", () => {
      state.overviewRange = rangeSelect.value;
      refresh().catch(showError);
    });
    append(root,
      el("div", { class: "toolbar" }, field("Range", rangeSelect), el("span", { class: "muted" }, "Refreshes every 5 s while visible. "), updated),
      tiles, card("Traffic", charts), card("System", systemBox));

    async function refresh() {
      const [system, series] = await Promise.all([api("GET", paths.system), loadSeries()]);
      if (!isCurrent(seq)) return;
      renderSystem(systemBox, system);
      renderTiles(tiles, series);
      renderCharts(charts, series);
      updated.textContent = `Updated ${fmtTime(Date.now() / 1000)}`;
    }
    await refresh();
    every(refresh);
  }

  async function loadSeries() {
    const range = RANGES[state.overviewRange];
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

  function renderCharts(box, data) {
    const times = data.series[0] ? data.series[0].points.map((p) => p.time) : [];
    const pick = (fn) => data.series.map((s) => ({ label: s.label, values: s.points.map(fn) }));
    const nz = (v) => (v === null || v === undefined ? null : v);
    clear(box,
      lineChart({ title: "Requests per second", times, series: pick((p) => p.requests / data.step), format: (v) => fmtNum(v, 2), testid: "chart-rps" }),
      lineChart({ title: "Error rate", times, series: pick((p) => nz(p.error_rate)), format: (v) => `${fmtNum(v * 100, 2)} %`, testid: "chart-errors" }),
      lineChart({ title: "p95 latency", times, series: pick((p) => nz(p.latency_p95_ms)), format: (v) => fmtMs(v), testid: "chart-p95" }),
      data.truncated > 0 ? el("p", { class: "muted" }, `${data.truncated} more model versions not charted.`) : null);
  }

  // ---------------------------------------------------------------------------
  // 2. Backends
  // ---------------------------------------------------------------------------

  async function viewBackends(root) {
    const seq = state.routeSeq;
    const box = el("div", { testid: "backends" }, el("p", { class: "muted" }, "Loading…"));
    append(root, el("p", { class: "muted" }, "Health of every routed backend; refreshes every 5 s."), card(null, box));
    async function refresh() {
      const data = await api("GET", paths.backendHealth);
      if (!isCurrent(seq)) return;
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

  // ---------------------------------------------------------------------------
  // 3. Models & versions
  // ---------------------------------------------------------------------------

  async function viewModels(root, [selected]) {
    const data = await api("GET", paths.models);
    const models = data.models || [];
    append(root, card(null, table(["Model", "Enabled", "Default", "Versions", "Strategy", "Release strategy", "Sticky"],
      models.map((m) => row(
        el("a", { href: `#/models/${enc(m.name)}`, class: ["model-link", m.name === selected && "active"], testid: `model-link-${m.name}` }, m.name),
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
          ["Rollout", release.rollout ? el("a", { href: `#/rollouts/${enc(model)}` }, `${release.rollout.id}: ${release.rollout.state}, canary ${release.rollout.canary} at ${fmtShare(release.rollout.canary_weight)}`) : "none"],
        ], { testid: "release-facts" }),
        splitBar(versions),
        el("div", { class: "legend-row" }, versions.map((v, k) => (v.is_active && v.weight > 0
          ? el("span", { class: "legend-item" }, el("span", { class: `swatch s${k % 10}` }), `${v.name} ${fmtShare(v.weight)}`) : null)))),
      card("Versions", versionsTable(release, reload)),
      card("Split editor", splitEditor(release, reload)),
      card("Default, rollback and strategy", releaseControls(release, reload)));
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
      el("p", {}, el("a", { href: `#/rollouts/${enc(model)}` }, `Rollouts of ${model} →`)));
  }

  // ---------------------------------------------------------------------------
  // 4. Rollouts
  // ---------------------------------------------------------------------------

  async function viewRollouts(root, [selected]) {
    const models = ((await api("GET", paths.models)).models || []).filter((m) => m.enabled !== false);
    if (!models.length) {
      append(root, el("p", { class: "muted" }, "No models."));
      return;
    }
    const name = selected && models.some((m) => m.name === selected) ? selected : models[0].name;
    const modelSelect = select("model", models.map((m) => m.name), { id: "rollout-model", testid: "rollout-model", value: name });
    modelSelect.addEventListener("change", () => { location.hash = `#/rollouts/${enc(modelSelect.value)}`; });
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

  // ---------------------------------------------------------------------------
  // 5. Experiments
  // ---------------------------------------------------------------------------

  async function viewExperiments(root, [selected]) {
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
      el("a", { href: `#/experiments/${enc(e.id)}`, class: "button small", testid: `experiment-results-${e.id}` }, "Results"),
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
      table(["Variant", "Requests", "Success rate (95 % CI)", "Latency p50 / p95", "TTFT p50 / p95", "Cost", "Cost / request", "Feedback"],
        variants.map((v) => row(
          [v.name || v.id, " ", el("span", { class: "muted" }, `(${v.id})`), v.is_control ? [" ", badge("control", "")] : null],
          fmtNum(v.requests),
          `${fmtRate(v.success_rate)}${v.success_rate_ci95 ? ` [${fmtRate(v.success_rate_ci95[0])}, ${fmtRate(v.success_rate_ci95[1])}]` : ""}`,
          `${fmtMs(v.latency_ms && v.latency_ms.p50)} / ${fmtMs(v.latency_ms && v.latency_ms.p95)}`,
          `${fmtMs(v.ttft_ms && v.ttft_ms.p50)} / ${fmtMs(v.ttft_ms && v.ttft_ms.p95)}`,
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

  // ---------------------------------------------------------------------------
  // 6. Users
  // ---------------------------------------------------------------------------

  const splitList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

  function tokenOnce(title, tokenValue) {
    const box = el("input", { type: "text", readOnly: true, value: tokenValue, class: "token", id: "token-once", testid: "token-once", "aria-label": "New token" });
    const hint = el("span", { class: "muted", testid: "token-copy-hint" }, "Shown only once: copy it now.");
    const copy = button("Copy", async () => {
      box.select();
      try {
        await navigator.clipboard.writeText(tokenValue);
        hint.textContent = "Copied to the clipboard.";
      } catch (_) {
        hint.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    }, { testid: "token-copy" });
    return el("div", { class: "token-box", testid: "token-box", role: "alert" }, el("strong", {}, title), box, copy, hint);
  }

  function describeLimits(u) {
    const parts = [];
    const rl = u.rate_limit || {};
    if (rl.requests_per_minute) parts.push(`${rl.requests_per_minute} req/min`);
    if (rl.requests_per_hour) parts.push(`${rl.requests_per_hour} req/h`);
    if (rl.tokens_per_minute) parts.push(`${rl.tokens_per_minute} tok/min`);
    const b = u.budget || {};
    if (b.daily_usd !== undefined && b.daily_usd !== null) parts.push(`$${b.daily_usd}/day`);
    if (b.monthly_usd !== undefined && b.monthly_usd !== null) parts.push(`$${b.monthly_usd}/month`);
    return parts.length ? parts.join(", ") : dash;
  }

  async function viewUsers(root) {
    const tokenSlot = el("div", { id: "token-slot" });
    const listBox = el("div");
    append(root, tokenSlot, card("Users", listBox), card("New user", userForm(tokenSlot, () => refresh())));
    async function refresh() {
      const users = (await api("GET", paths.users)).users || [];
      clear(listBox, table(["Id", "Name", "Allowed models", "Tags", "Region", "Limits", "Enabled", ""],
        users.map((u) => row(u.id, u.name || dash, u.allowed_models && u.allowed_models.length ? u.allowed_models.join(", ") : "all",
          fmtList(u.tags), u.region || dash, describeLimits(u), stateBadge(u.enabled ? "enabled" : "disabled"),
          el("div", { class: "button-row" },
            button(u.enabled ? "Disable" : "Enable", async () => {
              await api("PUT", paths.user(u.id), { enabled: !u.enabled });
              flash(`User ${u.id} ${u.enabled ? "disabled" : "enabled"}.`);
              await refresh();
            }, { class: "small", testid: `user-toggle-${u.id}` }),
            confirmButton("Rotate token", `user-rotate-${u.id}`, async () => {
              const answer = await api("POST", paths.userTokenRotation(u.id), {});
              clear(tokenSlot, tokenOnce(`New token of ${answer.id} (the old one stopped working):`, answer.token));
            }, { danger: false, question: "The old token stops working at once." }),
            confirmButton("Delete", `user-delete-${u.id}`, async () => {
              await api("DELETE", paths.user(u.id));
              flash(`User ${u.id} deleted.`);
              await refresh();
            })))),
        { id: "users-table", testid: "users-table" }));
    }
    await refresh();
  }

  function userForm(tokenSlot, refresh) {
    return form({ id: "user-form", testid: "user-form", class: "grid-form" }, [
      field("Id", input("id", { id: "user-id", testid: "user-id", required: true })),
      field("Name", input("name", { id: "user-name", testid: "user-name" })),
      field("Allowed models", input("allowed_models", { id: "user-allowed-models" }), "Comma separated; empty: all models."),
      field("Tags", input("tags", { id: "user-tags" }), "Comma separated."),
      field("Region", input("region", { id: "user-region" })),
      field("Requests / minute", input("requests_per_minute", { id: "user-rpm", type: "number", min: 1, step: 1 })),
      field("Requests / hour", input("requests_per_hour", { id: "user-rph", type: "number", min: 1, step: 1 })),
      field("Tokens / minute", input("tokens_per_minute", { id: "user-tpm", type: "number", min: 1, step: 1 })),
      field("Daily budget (USD)", input("daily_usd", { id: "user-daily", type: "number", min: 0, step: "any" })),
      field("Monthly budget (USD)", input("monthly_usd", { id: "user-monthly", type: "number", min: 0, step: "any" })),
      el("div", { class: "form-actions" }, el("button", { type: "submit", class: "primary", testid: "user-create" }, "Create user")),
    ], async (f) => {
      const v = (name) => f.elements[name].value.trim();
      const body = { id: v("id") };
      if (v("name")) body.name = v("name");
      if (v("allowed_models")) body.allowed_models = splitList(v("allowed_models"));
      if (v("tags")) body.tags = splitList(v("tags"));
      if (v("region")) body.region = v("region");
      const rate = {};
      for (const key of ["requests_per_minute", "requests_per_hour", "tokens_per_minute"]) if (v(key)) rate[key] = Number(v(key));
      if (Object.keys(rate).length) body.rate_limit = rate;
      const budget = {};
      for (const key of ["daily_usd", "monthly_usd"]) if (v(key)) budget[key] = Number(v(key));
      if (Object.keys(budget).length) body.budget = budget;
      const created = await api("POST", paths.users, body);
      clear(tokenSlot, tokenOnce(`Token of the new user ${created.id}:`, created.token));
      f.reset();
      await refresh();
    });
  }

  // ---------------------------------------------------------------------------
  // 7. Providers
  // ---------------------------------------------------------------------------

  const FORMATS = ["openai", "azure", "anthropic", "ollama", "mock"];

  async function viewProviders(root) {
    const listBox = el("div");
    const modelsBox = el("div", { id: "provider-models", testid: "provider-models" });
    const formBox = el("div");
    append(root, card("Providers", listBox), modelsBox, formBox);
    const edit = (provider) => {
      clear(formBox, card(provider ? `Edit provider ${provider.id}` : "New provider", providerForm(provider, async () => {
        await refresh();
        edit(null);
      })));
    };
    async function refresh() {
      const providers = (await api("GET", paths.providers)).providers || [];
      clear(listBox, table(["Id", "Format", "Base URL", "API key", "Region", "Health check", "Enabled", ""],
        providers.map((p) => row(p.id, p.format, p.base_url || dash, p.api_key || dash, p.region || dash,
          p.health_check + (p.health_check_model ? ` (${p.health_check_model})` : ""), stateBadge(p.enabled ? "enabled" : "disabled"),
          el("div", { class: "button-row" },
            button("Edit", async () => { edit(p); formBox.scrollIntoView({ block: "start" }); }, { class: "small", testid: `provider-edit-${p.id}` }),
            button("Models", () => showProviderModels(modelsBox, p.id, false), { class: "small", testid: `provider-models-${p.id}` }),
            confirmButton("Delete", `provider-delete-${p.id}`, async () => {
              await api("DELETE", paths.provider(p.id));
              flash(`Provider ${p.id} deleted.`);
              await refresh();
            })))),
        { id: "providers-table", testid: "providers-table" }));
    }
    await refresh();
    edit(null);
  }

  async function showProviderModels(box, id, refresh) {
    const data = refresh ? await api("POST", paths.providerModelRefresh(id), {}) : await api("GET", paths.providerModels(id));
    clear(box, card(`Models offered by ${id}`,
      facts([["Format", data.format], ["Fetched", fmtTime(data.fetched_at)], data.error ? ["Last error", el("span", { class: "error-text" }, data.error)] : null]),
      el("ul", { class: "model-list" }, (data.models || []).map((m) => el("li", {}, el("code", {}, m.id)))),
      (data.models || []).length ? null : el("p", { class: "muted" }, "No models listed."),
      button("Refresh now", () => showProviderModels(box, id, true), { testid: "provider-models-refresh" })));
  }

  function providerForm(existing, done) {
    const p = existing || {};
    const optional = (name, label, hint, attrs = {}) => field(label, input(name, { id: `provider-${name}`, value: p[name] === null || p[name] === undefined ? "" : p[name], ...attrs }), hint);
    const formatSelect = select("format", FORMATS, { id: "provider-format", testid: "provider-format", value: p.format || "openai" });
    const healthSelect = select("health_check", [["", "format default"], "models", "chat", "none"], { id: "provider-health-check", value: p.health_check || "" });
    const removeKey = existing && p.api_key ? el("label", { class: "check" }, el("input", { type: "checkbox", name: "remove_key", id: "provider-remove-key" }), " remove the stored key") : null;
    return form({ id: "provider-form", testid: "provider-form", class: "grid-form" }, [
      field("Id", input("id", { id: "provider-id", testid: "provider-id", value: p.id || "", readOnly: Boolean(existing), required: true })),
      field("Format", formatSelect),
      optional("base_url", "Base URL", "Required for openai and azure.", { testid: "provider-base-url" }),
      field("API key", el("span", { class: "key-field" }, input("api_key", { id: "provider-api-key", type: "password", autocomplete: "new-password", placeholder: existing && p.api_key ? `stored: ${p.api_key} (blank keeps it)` : "literal or env:NAME" }), removeKey)),
      optional("region", "Region"),
      optional("timeout_seconds", "Timeout (s)", null, { type: "number", min: 0, step: "any" }),
      optional("cost_input_per_mtok", "USD / M input tokens", null, { type: "number", min: 0, step: "any" }),
      optional("cost_output_per_mtok", "USD / M output tokens", null, { type: "number", min: 0, step: "any" }),
      field("Health check", healthSelect),
      optional("health_check_model", "Health check model"),
      optional("api_version", "API version"),
      field("Enabled", el("input", { type: "checkbox", name: "enabled", id: "provider-enabled", checked: existing ? p.enabled !== false : true })),
      el("div", { class: "form-actions" },
        el("button", { type: "submit", class: "primary", testid: "provider-save" }, existing ? "Save provider" : "Create provider"),
        existing ? el("button", { type: "button", class: "ghost", on: { click: () => done() } }, "Cancel") : null),
    ], async (f) => {
      const v = (name) => f.elements[name].value.trim();
      const body = {};
      if (existing) {
        // Full replacement: carry the fields this form does not edit.
        body.headers = p.headers || {};
        if (p.models_path) body.models_path = p.models_path;
        if (p.speaks && v("format") === "mock") body.speaks = p.speaks;
      }
      body.format = v("format");
      for (const key of ["base_url", "region", "health_check_model", "api_version"]) if (v(key)) body[key] = v(key);
      for (const key of ["timeout_seconds", "cost_input_per_mtok", "cost_output_per_mtok"]) if (v(key)) body[key] = Number(v(key));
      if (v("health_check")) body.health_check = v("health_check");
      if (v("api_key")) body.api_key = v("api_key");
      else if (f.elements.remove_key && f.elements.remove_key.checked) body.api_key = null;
      body.enabled = f.elements.enabled.checked;
      if (existing) {
        await api("PUT", paths.provider(p.id), body);
        flash(`Provider ${p.id} saved.`);
      } else {
        const created = await api("POST", paths.providers, { id: v("id"), ...body });
        flash(`Provider ${created.id} created.`);
      }
      await done();
    });
  }

  // ---------------------------------------------------------------------------
  // 8. Audit log
  // ---------------------------------------------------------------------------

  async function viewAudit(root, [object]) {
    const filter = input("object", { id: "audit-object", testid: "audit-object", placeholder: "e.g. model:chat", value: object || "" });
    const box = el("div");
    append(root, form({ class: "inline-form toolbar" }, [field("Object", filter), el("button", { type: "submit" }, "Filter")], async () => {
      location.hash = filter.value.trim() ? `#/audit/${enc(filter.value.trim())}` : "#/audit";
    }), card(null, box));
    const entries = (await api("GET", withQuery(paths.audit, { limit: 200, object: object || undefined }))).entries || [];
    const json = (v) => (v === null || v === undefined ? dash : el("details", {}, el("summary", {}, "show"), el("pre", {}, fmtJSON(v))));
    clear(box, table(["Time", "Actor", "Source", "Object", "Action", "Before", "After"],
      entries.map((e) => row(fmtTime(e.time), e.actor, e.source, e.object, e.action, json(e.before), json(e.after))),
      { id: "audit-table", testid: "audit-table" }));
  }

  // ---------------------------------------------------------------------------
  // 9. Config
  // ---------------------------------------------------------------------------

  async function viewConfig(root) {
    const statusBox = el("div", { id: "config-status", testid: "config-status" });
    const exportBox = el("div", { id: "config-export-box" });
    const settingsBox = el("div", { testid: "settings" });
    const reload = button("Reload seed file", async () => {
      try {
        const status = await api("POST", paths.configReload, {});
        drawConfigStatus(statusBox, status);
        refreshBanner(status);
        flash(`Seed file read: ${status.result}.`);
      } catch (error) {
        if (error.status === 422) {
          const status = await api("GET", paths.configStatus).catch(() => null);
          if (status) {
            drawConfigStatus(statusBox, status);
            refreshBanner(status);
          }
        }
        throw error;
      }
    }, { class: "primary", id: "config-reload", testid: "config-reload" });
    const exportButton = button("Export configuration", async () => {
      const text = await api("GET", paths.configExport);
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      clear(exportBox, card("Effective configuration (seed TOML)",
        el("div", { class: "button-row" }, el("a", { href: url, download: "switchyard.toml", class: "button", testid: "config-download" }, "Download switchyard.toml")),
        el("pre", { class: "export", id: "config-export-text", testid: "config-export-text" }, String(text))));
    }, { id: "config-export", testid: "config-export" });
    append(root, el("div", { class: "button-row toolbar" }, reload, exportButton), statusBox, exportBox, card("Settings", settingsBox));
    const status = await api("GET", paths.configStatus);
    drawConfigStatus(statusBox, status);
    const settings = await api("GET", paths.settings).catch((error) => ({ error: errorText(error) }));
    clear(settingsBox, settings.error ? el("p", { class: "error-text" }, settings.error)
      : facts(Object.entries(settings).map(([k, v]) => [k, v !== null && typeof v === "object" ? el("code", {}, JSON.stringify(v)) : String(v)])));
  }

  function drawConfigStatus(box, s) {
    const errors = s.errors || [];
    const invalid = s.result === "invalid";
    return clear(box, card("Seed file",
      invalid ? el("div", { class: "warning", role: "alert", testid: "config-invalid" },
        el("strong", {}, "The seed file is invalid: nothing of it was applied. "), "The previous configuration keeps serving.") : null,
      facts([
        ["Seed path", s.seed_path || "none (built-in or no seed file)"],
        ["Watching", yesNo(s.watching)],
        ["Result", stateBadge(s.result)],
        ["Last attempt", fmtTime(s.last_attempt_at)],
        ["Last applied", fmtTime(s.last_applied_at)],
        ["Hash (sha256)", s.last_hash ? el("code", { class: "hash" }, s.last_hash) : dash],
        ["Changed by the last apply", fmtList(s.changed)],
      ]),
      errors.length ? [el("h3", {}, "Errors"), table(["Key", "Reason"], errors.map((e) => row(el("code", {}, e.key), e.reason)),
        { class: invalid ? "errors-table prominent" : "errors-table", testid: "config-errors" })] : null));
  }

  // ---------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------

  function start() {
    $("#login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      login(event.currentTarget).catch(showError);
    });
    $("#logout").addEventListener("click", () => logout("Logged out."));
    window.addEventListener("hashchange", () => {
      $("#flash").hidden = true;
      route();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && token() && (parseHash()[0] || "overview") === "overview") route();
    });
    route();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
