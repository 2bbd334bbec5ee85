// The admin API as the page sees it: the admin token, every path the page calls, and the one fetch
// helper. Nothing here touches the document.

const TOKEN_KEY = "switchyard.adminToken";

/** The admin token of this tab (session storage: gone when the tab closes), or "". */
export const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
export const rememberToken = (value) => sessionStorage.setItem(TOKEN_KEY, value);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

const enc = encodeURIComponent;

/** `path` with `params` as its query string, leaving out absent values. */
export function withQuery(path, params) {
  const pairs = Object.entries(params).filter(([, value]) => value !== undefined && value !== null);
  return pairs.length ? `${path}?${pairs.map(([key, value]) => `${key}=${enc(value)}`).join("&")}` : path;
}

/**
 * Every admin API path the page calls, in one place: no other module spells out an `/api/` path.
 * (All of the admin API: docs/admin-api.md and /api/openapi.json.)
 */
export const paths = {
  system: "/api/system",
  settings: "/api/settings",
  timeseries: "/api/stats/timeseries",
  usage: "/api/usage",
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
  shadow: (model) => `/api/models/${enc(model)}/shadow`,
  shadowResults: (model) => `/api/models/${enc(model)}/shadow/results`,
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

/** An answer of the API other than 2xx, or no answer (`status` 0). `field` names the offending input. */
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

/** A value the admin typed that the page refuses before calling the API. */
export class InputError extends Error {}

let unauthorized = () => {};

/** Sets what happens when the API refuses the token (the shell logs out). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** The one API helper: JSON in and out, the admin token on every call, 401 back to the login form. */
export async function api(method, path, body, { allow401 = false } = {}) {
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
    unauthorized();
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
