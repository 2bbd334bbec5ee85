// The seed file's status (reload, errors), the export of the effective configuration, the settings.

import { api, paths } from "./api.js";
import { append, button, card, clear, el, errorText, facts, flash, row, stateBadge, table } from "./dom.js";
import { dash, fmtList, fmtTime, yesNo } from "./format.js";
import { refreshBanner } from "./shell.js";

export const title = "Config";

export async function render(root) {
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
