import { CohortError } from "../../errors/index.js";
import { componentFor } from "../components/registry.js";
import type { ComponentConfig, JobDefinition } from "./definition.js";
import "../components/builtins.js";
import { HE_COMPONENTS } from "../../privacy/index.js";
import { RuntimeErrorCode } from "./errors.js";

/**
 * Every component a job names must be a registered built-in, unless the job brings its own code
 * (custom/): such a job is BYOC and the site's `byoc` right decides (a later release). FLARE's
 * short `name` form is refused for job components, as in FLARE.
 */
/** True when any component of the app's site config starts processes (so its child may). */
export function startsProcesses(config: { components: readonly ComponentConfig[]; executors: readonly { executor: ComponentConfig }[] }): boolean {
  return [...config.components, ...config.executors.map((e) => e.executor)].some((c) => c.path !== undefined && componentFor(c.path)?.startsProcesses === true);
}

export function checkComponents(job: JobDefinition): void {
  for (const app of job.apps.values()) {
    const all: [string, ComponentConfig][] = [];
    if (app.server) {
      for (const c of app.server.components) all.push(["config_fed_server.json components", c]);
      for (const w of app.server.workflows) all.push(["config_fed_server.json workflows", w]);
    }
    if (app.client) {
      for (const c of app.client.components) all.push(["config_fed_client.json components", c]);
      for (const e of app.client.executors) all.push(["config_fed_client.json executors", e.executor]);
    }
    for (const [where, c] of all) {
      if (!c.path)
        throw new CohortError(
          RuntimeErrorCode.BadJob,
          `app ${app.name}: ${where}: component ${JSON.stringify(c.id ?? c.name ?? "?")} has no "path" (the short "name" form is not allowed for job components)`,
          { app: app.name },
        );
      if (!componentFor(c.path) && !app.byoc) {
        throw new CohortError(
          RuntimeErrorCode.UnknownComponent,
          `app ${app.name}: ${where}: component path ${JSON.stringify(c.path)} is not registered; use a built-in (see docs/runtime.md) or ship it in the app's custom/ folder`,
          {
            app: app.name,
            path: c.path,
          },
        );
      }
    }
  }
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
