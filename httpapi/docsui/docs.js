// Renders /openapi.json as a list of operations with their parameters and
// schemas. Text is inserted with textContent only: nothing from the spec is
// parsed as HTML.
"use strict";
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(typeof k === "string" ? document.createTextNode(k) : k);
  return e;
}
function resolve(spec, s) {
  if (s && s.$ref) return spec.components.schemas[s.$ref.split("/").pop()] || s;
  return s;
}
function schemaText(spec, s, depth, seen) {
  s = resolve(spec, s);
  if (!s) return "any";
  if (depth > 4) return "…";
  if (s.type === "array") return "[" + schemaText(spec, s.items, depth + 1, seen) + "]";
  if (s.properties) {
    const req = new Set(s.required || []);
    const pad = "  ".repeat(depth + 1);
    const lines = Object.entries(s.properties).map(([k, v]) =>
      pad + k + (req.has(k) ? "" : "?") + ": " + schemaText(spec, v, depth + 1, seen) +
      (v.description ? "  // " + v.description : ""));
    return "{\n" + lines.join("\n") + "\n" + "  ".repeat(depth) + "}";
  }
  let t = Array.isArray(s.type) ? s.type.join("|") : (s.type || "any");
  if (s.format) t += " (" + s.format + ")";
  if (s.enum) t += " one of " + s.enum.join(", ");
  if (s.pattern) t += " matching " + s.pattern;
  return t;
}
async function main() {
  const app = document.getElementById("app");
  const spec = await (await fetch("/openapi.json")).json();
  app.textContent = "";
  if (spec.info && spec.info.description) app.append(el("p", {}, spec.info.description));
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      (byTag[tag] = byTag[tag] || []).push([method.toUpperCase(), path, op]);
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    app.append(el("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const d = el("details", {}, el("summary", {}, el("span", { class: "m " + method }, method), path + "  — " + (op.summary || "")));
      d.append(el("p", {}, "Operation: " + op.operationId));
      if (op.description) d.append(el("p", {}, op.description));
      if (op.parameters && op.parameters.length) {
        const t = el("table", {}, el("tr", {}, el("th", {}, "in"), el("th", {}, "name"), el("th", {}, "schema"), el("th", {}, "description")));
        for (const p of op.parameters) t.append(el("tr", {}, el("td", {}, p.in), el("td", {}, p.name + (p.required ? "" : "?")), el("td", {}, schemaText(spec, p.schema, 0)), el("td", {}, p.description || "")));
        d.append(el("h4", {}, "Parameters"), t);
      }
      if (op.requestBody) {
        for (const [ct, mt] of Object.entries(op.requestBody.content || {})) {
          d.append(el("h4", {}, "Request body (" + ct + ")"), el("pre", {}, schemaText(spec, mt.schema, 0)));
        }
      }
      for (const [code, r] of Object.entries(op.responses || {})) {
        for (const [ct, mt] of Object.entries(r.content || {})) {
          d.append(el("h4", {}, "Response " + code + " (" + ct + ")"), el("pre", {}, schemaText(spec, mt.schema, 0)));
        }
      }
      app.append(d);
    }
  }
}
main().catch(e => { document.getElementById("app").textContent = "Cannot load /openapi.json: " + e; });
