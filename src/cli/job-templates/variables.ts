/**
 * What `nvflare job show_variables` (and `create`, when it is done) prints: each config file's
 * variables (config-tree.ts) in FLARE's fixed-width table, the job's meta first, then each app.
 */
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CohortError } from "../../errors/index.js";
import { type Json, readConfigFile, type Variable, variablesOf } from "./config-tree.js";
import { JobTemplateErrorCode } from "./errors.js";

export interface FileVariables {
  /** The file's path in the job folder ("/"). */
  readonly rel: string;
  readonly variables: readonly Variable[];
}

export interface JobVariables {
  /** The job folder as the user gave it. */
  readonly jobFolder: string;
  readonly files: readonly FileVariables[];
}

/** The variables of parsed config files, keys sorted, meta first then by path. */
export function variablesOfFiles(files: readonly { rel: string; value: Json }[], jobFolder: string): JobVariables {
  const order = (rel: string): string => (rel.includes("/") ? `1${rel}` : `0${rel}`);
  return {
    jobFolder,
    files: [...files]
      .sort((a, b) => order(a.rel).localeCompare(order(b.rel)))
      .map((f) => ({ rel: f.rel, variables: [...variablesOf(f.value).values()].sort((a, b) => a.key.localeCompare(b.key)) })),
  };
}

/** show_variables: the job folder's meta and every app's config files, read as the job loader reads them. */
export function readJobVariables(jobFolder: string): JobVariables {
  if (!existsSync(jobFolder) || !lstatSync(jobFolder).isDirectory())
    throw new CohortError(JobTemplateErrorCode.Usage, `-j ${jobFolder}: no such job folder`, { file: jobFolder });
  const files: { rel: string; value: Json }[] = [];
  const add = (rel: string): void => {
    const path = join(jobFolder, ...rel.split("/"));
    if (existsSync(path) && lstatSync(path).isFile()) files.push({ rel, value: readConfigFile(path, rel, join(jobFolder, rel)).value });
  };
  for (const m of ["meta.json", "meta.conf"]) add(m);
  for (const app of readdirSync(jobFolder).sort()) {
    const config = join(jobFolder, app, "config");
    if (!lstatSync(join(jobFolder, app)).isDirectory() || !existsSync(config)) continue;
    for (const base of ["config_fed_client", "config_fed_server"]) for (const ext of [".json", ".conf"]) add(`${app}/config/${base}${ext}`);
  }
  if (files.length === 0)
    throw new CohortError(JobTemplateErrorCode.Usage, `-j ${jobFolder}: not a job folder (no meta.json, meta.conf or <app>/config/config_fed_*.conf|json)`, {
      file: jobFolder,
    });
  return variablesOfFiles(files, jobFolder);
}
