// Element helpers: every node of the page is built here from text (nothing is parsed as HTML),
// plus the buttons and forms that run an action and the notices that report how it went.

import { ApiError, InputError } from "./api.js";
import { dash, stateKind } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Builds an element. `tag` may be "svg:NAME" for SVG. Attributes: `class` (string or array),
 * `testid` (data-testid), `on` ({event: handler}), `value`/`checked`/`disabled`/`selected`
 * (set as properties), anything else via setAttribute. Children: nodes or text (never HTML).
 */
export function el(tag, attrs, ...children) {
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

export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export const card = (title, ...children) => el("section", { class: "card" }, title ? el("h2", {}, title) : null, ...children);

export function table(headers, rows, attrs = {}) {
  return el("div", { class: "table-wrap" },
    el("table", attrs,
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "Nothing here yet.")))));
}

export const row = (...cells) => el("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c))));

export function facts(pairs, attrs = {}) {
  return el("dl", { class: "facts", ...attrs }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

export function badge(text, kind) {
  return el("span", { class: ["badge", kind && `badge-${kind}`] }, text);
}

/** A state word (breaker, rollout, experiment, seed result) as a badge coloured by its meaning. */
export const stateBadge = (text) => badge(text === null || text === undefined ? dash : String(text), stateKind(text));

export function button(label, onClick, attrs = {}) {
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
export function confirmButton(label, testid, onConfirm, { danger = true, question = "Are you sure?" } = {}) {
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
export function form(attrs, children, onSubmit) {
  const node = el("form", { novalidate: true, autocomplete: "off", ...attrs }, children);
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    const submit = node.querySelector("[type=submit]");
    busy(submit || node, () => onSubmit(node));
  });
  return node;
}

export function field(label, input, hint) {
  return el("label", { class: "field" }, el("span", { class: "field-label" }, label), input, hint ? el("span", { class: "hint" }, hint) : null);
}

export function input(name, attrs = {}) {
  return el("input", { name, id: attrs.id || `f-${name}`, type: "text", spellcheck: "false", ...attrs });
}

export function select(name, options, attrs = {}) {
  return el("select", { name, id: attrs.id || `f-${name}`, ...attrs },
    options.map((o) => (Array.isArray(o) ? el("option", { value: o[0] }, o[1]) : el("option", { value: o }, o))));
}

// Notices

let flashTimer = null;

/** Shows `text` above the view: "ok" notices go after 6 s, "error" ones stay until dismissed. */
export function flash(text, kind = "ok") {
  const box = $("#flash");
  clearTimeout(flashTimer);
  clear(box,
    el("span", { class: "flash-text", testid: "flash-text" }, text),
    el("button", { type: "button", class: "ghost flash-close", "aria-label": "Dismiss", on: { click: () => { box.hidden = true; } } }, "×"));
  box.className = `flash flash-${kind}`;
  box.hidden = false;
  if (kind === "ok") flashTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

export function errorText(error) {
  if (error instanceof ApiError) {
    return error.field ? `${error.message} (field: ${error.field})` : error.message;
  }
  return error && error.message ? error.message : String(error);
}

/** Shows an API error in place of a section that could not load. */
export function inlineError(box, title, error) {
  if (error instanceof ApiError && error.status === 401) return;
  clear(box, card(title, el("p", { class: "error-text", testid: "inline-error" }, errorText(error))));
}

/** Reports a failed action (a refused token needs no notice: the login form says it). */
export function showError(error) {
  if (error instanceof ApiError && error.status === 401) return;
  if (!(error instanceof ApiError) && !(error instanceof InputError)) console.error(error);
  flash(errorText(error), "error");
}
