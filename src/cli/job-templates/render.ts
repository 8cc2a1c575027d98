/**
 * The tables `nvflare job` prints, in its fixed widths: list_templates' templates, and the
 * variables show_variables (and create, when it is done) shows.
 */
import type { Json } from "./config-tree.js";
import type { TemplateInfo } from "./templates.js";
import type { JobVariables } from "./variables.js";

/** FLARE's fix_length_format: cut or padded to `n` characters. */
const fixed = (s: string, n: number): string => s.slice(0, n).padEnd(n);
/** A row as FLARE's print(" " * margin, a, b, …) writes it: fields joined by one space after a margin. */
const row = (cells: readonly string[]): string => `  ${cells.join(" ")}`.trimEnd();
const shown = (v: Json): string => (typeof v === "string" ? v : JSON.stringify(v));

/** The table FLARE prints: file name, variable, value, component (its class). */
export function renderVariables(v: JobVariables): string {
  const width = 135;
  const rule = "-".repeat(width);
  const lines = [
    "",
    "The following are the variables you can change in the template",
    "",
    rule,
    "",
    row([fixed(`job folder: ${v.jobFolder}`, width)]),
    "",
    rule,
  ];
  lines.push(row([fixed("file_name", 30), fixed("var_name", 30), fixed("value", 35), fixed("component", 35)]), rule);
  let app = "";
  for (const f of v.files) {
    const fileApp = f.rel.includes("/") ? (f.rel.split("/")[0] as string) : "";
    if (fileApp !== app && fileApp !== "app" && fileApp !== "") lines.push(row([`app: ${fileApp}`]), "");
    app = fileApp;
    const name = f.rel.split("/").pop() as string;
    for (const x of f.variables) lines.push(row([fixed(name, 30), fixed(x.key, 30), fixed(shown(x.value), 35), fixed(x.component, 35)]));
    lines.push("");
  }
  lines.push(rule);
  return `${lines.join("\n")}\n`;
}

/** list_templates: name, description, controller type, execution API type (info.conf of each). */
export function renderTemplates(templates: readonly TemplateInfo[], dir: string): string {
  const rule = "-".repeat(120);
  const lines = ["", `The following job templates are available (${dir}):`, "", rule];
  lines.push(row([fixed("name", 20), fixed("Description", 60), fixed("Controller Type", 17), fixed("Execution API Type", 23)]), rule);
  for (const t of templates) lines.push(row([fixed(t.name, 20), fixed(t.description, 60), fixed(t.controllerType, 17), fixed(t.executionApiType, 23)]));
  lines.push(rule);
  return `${lines.join("\n")}\n`;
}
