// The frame around the views: the login form, logging out, the hash routes (#/NAME/PARAMS...), the
// timers that refresh the current view, and the seed-file banner shown above every view.

import { api, forgetToken, onUnauthorized, paths, rememberToken, token } from "./api.js";
import { $, clear, el, errorText, showError } from "./dom.js";

const REFRESH_MS = 5000;

/** { name: { title, render(root, params) } }, handed to `start`. */
let views = {};
/** Counts the views drawn: a refresh that was started for an earlier one must not draw. */
let visit = 0;
let timers = [];

export const currentVisit = () => visit;
export const isCurrent = (seen) => seen === visit;

/** The hash of a route: `linkTo("models", name)` is "#/models/NAME" with NAME encoded. */
export const linkTo = (...parts) => `#/${parts.map(encodeURIComponent).join("/")}`;

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
  forgetToken();
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
  rememberToken(value);
  try {
    await api("GET", paths.configStatus, undefined, { allow401: true });
  } catch (error) {
    if (error.status === 401) {
      forgetToken();
      showLogin("That token was refused.");
      return;
    }
    if (error.status !== 404) {
      forgetToken();
      showLogin(errorText(error));
      return;
    }
  }
  navigate(!location.hash || location.hash === "#" || location.hash === "#/" ? "#/overview" : location.hash);
}

/** Goes to `hash`, rendering again when it is the current one (no hashchange then). */
export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function clearTimers() {
  for (const id of timers) clearInterval(id);
  timers = [];
}

/** Runs `fn` every REFRESH_MS while the page is visible and this view is current, one run at a time. */
export function every(fn, ms = REFRESH_MS) {
  const seen = visit;
  let running = false;
  const id = setInterval(() => {
    if (running || seen !== visit || document.visibilityState !== "visible") return;
    running = true;
    fn().catch(showError).finally(() => { running = false; });
  }, ms);
  timers.push(id);
}

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
  visit += 1;
  $("#login").hidden = true;
  $("#shell").hidden = false;
  const [name, ...params] = parseHash();
  const key = views[name] ? name : "overview";
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.route === key);
    if (link.dataset.route === key) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${views[key].title} · Switchyard`;
  const root = el("section", { class: "view", id: `view-${key}`, testid: `view-${key}` }, el("h1", {}, views[key].title));
  clear($("#view"), root);
  refreshBanner().catch(() => {});
  views[key].render(root, params).catch(showError);
}

/** Shows or hides the banner of an invalid seed file; `status` is /api/config/status's answer when known. */
export async function refreshBanner(status) {
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

/** Wires the login form, the log-out button and the routes, then draws the view the hash names. */
export function start(viewTable) {
  views = viewTable;
  onUnauthorized(() => logout("The admin token was refused. Log in again."));
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
