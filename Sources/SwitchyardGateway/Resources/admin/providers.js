// Upstream providers: the list, the models each offers, creating and editing one.

import { api, paths } from "./api.js";
import { append, button, card, clear, confirmButton, el, facts, field, flash, form, input, row, select, stateBadge, table } from "./dom.js";
import { dash, fmtTime } from "./format.js";

export const title = "Providers";

const FORMATS = ["openai", "azure", "anthropic", "ollama", "mock"];

export async function render(root) {
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
