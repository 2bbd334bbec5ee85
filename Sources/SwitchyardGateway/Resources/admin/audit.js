// The audit log of admin changes, filtered by object (e.g. model:chat).

import { api, paths, withQuery } from "./api.js";
import { append, card, clear, el, field, form, input, row, table } from "./dom.js";
import { dash, fmtJSON, fmtTime } from "./format.js";
import { linkTo } from "./shell.js";

export const title = "Audit log";

export async function render(root, [object]) {
  const filter = input("object", { id: "audit-object", testid: "audit-object", placeholder: "e.g. model:chat", value: object || "" });
  const box = el("div");
  append(root, form({ class: "inline-form toolbar" }, [field("Object", filter), el("button", { type: "submit" }, "Filter")], async () => {
    location.hash = filter.value.trim() ? linkTo("audit", filter.value.trim()) : "#/audit";
  }), card(null, box));
  const entries = (await api("GET", withQuery(paths.audit, { limit: 200, object: object || undefined }))).entries || [];
  const json = (v) => (v === null || v === undefined ? dash : el("details", {}, el("summary", {}, "show"), el("pre", {}, fmtJSON(v))));
  clear(box, table(["Time", "Actor", "Source", "Object", "Action", "Before", "After"],
    entries.map((e) => row(fmtTime(e.time), e.actor, e.source, e.object, e.action, json(e.before), json(e.after))),
    { id: "audit-table", testid: "audit-table" }));
}
