import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { closest } from "../../config/index.js";
import { CohortError } from "../../errors/index.js";
import { componentFor, registeredComponentPaths } from "../components/registry.js";
import type { ClientAppConfig, ComponentConfig, JobDefinition, ServerAppConfig } from "./definition.js";
import "../components/builtins.js";
import { HE_COMPONENTS } from "../../privacy/index.js";
import { RuntimeErrorCode } from "./errors.js";

/** True when any component of the app's site config starts processes (so its child may). */
export function startsProcesses(config: { components: readonly ComponentConfig[]; executors: readonly { executor: ComponentConfig }[] }): boolean {
  return [...config.components, ...config.executors.map((e) => e.executor)].some((c) => c.path !== undefined && componentFor(c.path)?.startsProcesses === true);
}

/** One component a job names that Cohort cannot build, with where it is named. */
interface ComponentProblem {
  readonly code: string;
  readonly line: string;
}

/**
 * Every component a job names must be a registered built-in, or (for a job that brings its own
 * code) a JavaScript module in the app's custom/ folder (`module.Export` → custom/module.js or .mjs).
 * All problems of the job are reported at once (file, field, path, a "did you mean"); a path that
 * names Python code in custom/ is refused as such: Python runs through the Client API. FLARE's
 * short `name` form is refused for job components (filters may use it), as in FLARE.
 */
export function checkComponents(job: JobDefinition): void {
  const problems: ComponentProblem[] = [];
  for (const app of job.apps.values()) {
    const named: { file: string; field: string; c: ComponentConfig; filter: boolean }[] = [];
    const filters = (file: string, config: ServerAppConfig | ClientAppConfig): void => {
      for (const list of ["task_data_filters", "task_result_filters"] as const)
        for (const [i, e] of config[list].entries())
          for (const [j, c] of e.filters.entries()) named.push({ file, field: `${list}[${i}].filters[${j}]`, c, filter: true });
    };
    if (app.server) {
      const file = app.files.server ?? "config_fed_server";
      for (const [i, c] of app.server.components.entries()) named.push({ file, field: `components[${i}]`, c, filter: false });
      for (const [i, c] of app.server.workflows.entries()) named.push({ file, field: `workflows[${i}]`, c, filter: false });
      filters(file, app.server);
    }
    if (app.client) {
      const file = app.files.client ?? "config_fed_client";
      for (const [i, c] of app.client.components.entries()) named.push({ file, field: `components[${i}]`, c, filter: false });
      for (const [i, e] of app.client.executors.entries()) named.push({ file, field: `executors[${i}].executor`, c: e.executor, filter: false });
      filters(file, app.client);
    }
    for (const { file, field, c, filter } of named) {
      const label = filter ? (c.path ?? c.name) : c.path;
      if (!label) {
        problems.push({
          code: RuntimeErrorCode.BadJob,
          line: `${file}: ${field}: component ${JSON.stringify(c.id ?? c.name ?? "?")} has no "path" (the short "name" form is not allowed for job components)`,
        });
        continue;
      }
      if (componentFor(label)) continue;
      const custom = app.byoc ? customCode(join(job.dir, app.name), label) : undefined;
      if (custom?.kind === "js") continue;
      if (custom?.kind === "python") {
        problems.push({
          code: RuntimeErrorCode.PythonComponent,
          line:
            `${file}: ${field}.path: component path ${JSON.stringify(label)} is Python code (${join(job.shownAs, app.name, custom.file)}${custom.declares ? `, ${custom.declares}` : ""}): ` +
            "Python components are not supported; run Python training code as a Client API script (docs/client-api.md: cohort_flare with cohort.ExternalProcessExecutor), " +
            "or write the component in JavaScript in custom/",
        });
        continue;
      }
      const near = didYouMean(label);
      problems.push({
        code: RuntimeErrorCode.UnknownComponent,
        line: `${file}: ${field}.path: component path ${JSON.stringify(label)} is not registered${near ? ` (did you mean ${JSON.stringify(near)}?)` : ""}; use a built-in (see docs/runtime.md) or ship it in the app's custom/ folder as JavaScript`,
      });
    }
  }
  if (problems.length === 0) return;
  const code = [RuntimeErrorCode.UnknownComponent, RuntimeErrorCode.PythonComponent, RuntimeErrorCode.BadJob].find((c) =>
    problems.some((p) => p.code === c),
  ) as string;
  const message =
    problems.length === 1
      ? (problems[0] as ComponentProblem).line
      : `job ${job.shownAs}: ${problems.length} components cannot be built:\n${problems.map((p) => `  - ${p.line}`).join("\n")}`;
  throw new CohortError(code, message, { job: job.shownAs, problems: problems.map((p) => p.line) });
}

/** A registered path close to an unknown one: by edit distance, else one with the same class name. */
function didYouMean(path: string): string | undefined {
  const known = registeredComponentPaths();
  const near = closest(path, known, Math.max(2, Math.floor(path.length / 8)));
  if (near) return near;
  const cls = path.slice(path.lastIndexOf(".") + 1);
  return known.find((k) => k.startsWith("cohort.") && k.slice(k.lastIndexOf(".") + 1) === cls) ?? known.find((k) => k.slice(k.lastIndexOf(".") + 1) === cls);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Python source read to find a class: larger files are not read past this. */
const MAX_PYTHON_SOURCE = 1024 * 1024;

/**
 * What custom/ holds for `module.Class`: a JavaScript module, or a Python one (FLARE's layout:
 * custom/module.py or custom/module/__init__.py), with the class line when it declares it.
 * Module parts must be identifiers, so the lookup never leaves custom/.
 */
function customCode(appDir: string, path: string): { kind: "js" } | { kind: "python"; file: string; declares?: string } | undefined {
  const parts = path.split(".");
  const cls = parts.pop() ?? "";
  if (parts.length === 0 || ![...parts, cls].every((p) => IDENTIFIER.test(p))) return undefined;
  const base = join(appDir, "custom", ...parts);
  if ([".js", ".mjs"].some((ext) => existsSync(base + ext))) return { kind: "js" };
  for (const file of [`${base}.py`, join(base, "__init__.py")]) {
    if (!existsSync(file) || !statSync(file).isFile()) continue;
    const declares = classLine(file, cls);
    return { kind: "python", file: relative(appDir, file), ...(declares ? { declares } : {}) };
  }
  return undefined;
}

/** `class Name(Base…)` as the file declares it (no RegExp built from the name). */
function classLine(file: string, cls: string): string | undefined {
  const fd = openSync(file, "r");
  let text: string;
  try {
    const buf = Buffer.alloc(Math.min(statSync(file).size, MAX_PYTHON_SOURCE));
    text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString("utf8");
  } finally {
    closeSync(fd);
  }
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t.startsWith(`class ${cls}`)) continue;
    const rest = t.slice(`class ${cls}`.length).trimStart();
    if (rest.startsWith("(")) return `class ${cls}${rest.slice(0, rest.indexOf(")") + 1 || undefined)}`.slice(0, 200);
    if (rest.startsWith(":")) return `class ${cls}`;
  }
  return undefined;
}

const HE_PATHS = new Set<string>(Object.values(HE_COMPONENTS).flatMap((c) => c.paths));

/** True when any app of the job names an HE component (encryptor, decryptor or aggregator). */
export function usesHomomorphicEncryption(job: JobDefinition): boolean {
  const named = (c: ComponentConfig): boolean => HE_PATHS.has(c.path ?? c.name ?? "");
  const inFilters = (entries: readonly { filters: readonly ComponentConfig[] }[]): boolean => entries.some((e) => e.filters.some(named));
  return [...job.apps.values()].some(
    (a) =>
      (a.server && (a.server.components.some(named) || inFilters(a.server.task_data_filters) || inFilters(a.server.task_result_filters))) ||
      (a.client && (a.client.components.some(named) || inFilters(a.client.task_data_filters) || inFilters(a.client.task_result_filters))),
  );
}
