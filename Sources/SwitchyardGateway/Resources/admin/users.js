// API users: their limits, enabling, token rotation (the new token is shown once), creating one.

import { api, paths } from "./api.js";
import { append, button, card, clear, confirmButton, el, field, flash, form, input, row, stateBadge, table } from "./dom.js";
import { dash, fmtList } from "./format.js";

export const title = "Users";

const splitList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

function tokenOnce(heading, tokenValue) {
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
  return el("div", { class: "token-box", testid: "token-box", role: "alert" }, el("strong", {}, heading), box, copy, hint);
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

export async function render(root) {
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
