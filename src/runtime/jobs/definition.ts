import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { isJobSignatureFile } from "../../pki/index.js";
import { findConfigFile, ignoredKeys, readRawConfig, validateConfig, type KeySpec } from "./config-files.js";
import { RuntimeErrorCode } from "./errors.js";
import { taskRouter } from "./task-patterns.js";

const siteName = z.string().regex(/^(@ALL|server|[A-Za-z0-9_-]+)$/, "must be server, @ALL or a site name");
const resourceSpec = z.record(
  z.string(),
  z.object({ num_of_gpus: z.number().int().min(0).optional(), mem_per_gpu_in_GiB: z.number().min(0).optional() }).catchall(z.unknown()),
);

/** A job name is at most this long (the signed manifest's job_name bound). */
export const JOB_NAME_MAX = 1000;

/** Why a job name cannot be shown safely (undefined when it can): FLARE allows any string; Cohort keeps logs and terminals clean. */
export function badJobName(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.length > JOB_NAME_MAX) return `is longer than ${JOB_NAME_MAX} characters`;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return "has a control character (U+0000–U+001F, U+007F–U+009F)";
  if (/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(name))
    return "has a bidirectional-text control (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)";
  if (/\p{Cs}/u.test(name)) return "is not valid Unicode (a lone surrogate)";
  return undefined;
}

export const metaSchema = z
  .object({
    // FLARE's name is any string (FedJob checks only that it is one); folder and app names keep the strict rule.
    name: z.string().superRefine((name, ctx) => {
      const bad = badJobName(name);
      if (bad) ctx.addIssue({ code: "custom", message: `${bad}; give the job a name of 1 to ${JOB_NAME_MAX} printable characters` });
    }),
    deploy_map: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), z.array(siteName).min(1)),
    min_clients: z.number().int().min(1).default(1),
    mandatory_clients: z.array(z.string()).default([]),
    resource_spec: resourceSpec.default({}),
    scope: z.string().max(128).optional(),
    custom_props: z.record(z.string(), z.unknown()).optional(),
  })
  .catchall(z.unknown());
export type JobMeta = z.infer<typeof metaSchema>;

export const componentSchema = z.object({
  id: z.string().min(1).max(128).optional(),
  path: z.string().min(1).max(256).optional(),
  name: z.string().optional(),
  args: z.record(z.string(), z.unknown()).default({}),
});
const filterEntry = z.object({ tasks: z.array(z.string()).default(["*"]), filters: z.array(componentSchema).default([]) });

export const serverConfigSchema = z.object({
  format_version: z.number().optional(),
  components: z.array(componentSchema).default([]),
  workflows: z.array(componentSchema).min(1, "a server app needs at least one workflow"),
  task_data_filters: z.array(filterEntry).default([]),
  task_result_filters: z.array(filterEntry).default([]),
});
export const clientConfigSchema = z.object({
  format_version: z.number().optional(),
  components: z.array(componentSchema).default([]),
  executors: z.array(z.object({ tasks: z.array(z.string()).min(1), executor: componentSchema })).min(1, "a client app needs at least one executor"),
  task_data_filters: z.array(filterEntry).default([]),
  task_result_filters: z.array(filterEntry).default([]),
});
export type ComponentConfig = z.infer<typeof componentSchema>;
export type ServerAppConfig = z.infer<typeof serverConfigSchema>;
export type ClientAppConfig = z.infer<typeof clientConfigSchema>;

export interface JobApp {
  readonly name: string;
  readonly server?: ServerAppConfig;
  readonly client?: ClientAppConfig;
  /** The app carries custom code (custom/ folder): bring-your-own-code. */
  readonly byoc: boolean;
  /** The config files read, as messages name them (`.json` or `.conf`). */
  readonly files: { readonly server?: string; readonly client?: string };
}

export interface JobDefinition {
  readonly dir: string;
  /** The job folder as messages name it: `shownAs`, else `dir`. */
  readonly shownAs: string;
  readonly meta: JobMeta;
  readonly apps: ReadonlyMap<string, JobApp>;
  /** Derived, never trusted from meta: any app has custom code. */
  readonly byoc: boolean;
  /** Keys of meta and configs that Cohort does not read, one line each (file, field, why): for the submitter to see. */
  readonly warnings: readonly string[];
}

export interface LoadJobOptions {
  /** How messages name the job folder, e.g. the folder the user submitted when `dir` is a temporary copy of it. */
  readonly shownAs?: string;
}

/** Where `path` (inside `dir`) is, as messages name it. */
function shownPath(dir: string, shownAs: string | undefined, path: string): string {
  return shownAs === undefined ? path : join(shownAs, relative(dir, path));
}

/** The job's meta file (meta.json, else meta.conf), or undefined when there is neither; both is refused. */
export function jobMetaFile(dir: string, options: LoadJobOptions = {}): string | undefined {
  return findConfigFile(dir, shownPath(dir, options.shownAs, dir), "meta")?.path;
}

/** Reads and validates a job's meta (meta.json or meta.conf); keys the server sets are dropped, with a warning. */
export function readJobMeta(dir: string, options: LoadJobOptions = {}): { meta: JobMeta; file: string; warnings: string[] } {
  const shownDir = shownPath(dir, options.shownAs, dir);
  const found = findConfigFile(dir, shownDir, "meta");
  if (!found)
    throw new CohortError(
      RuntimeErrorCode.BadJob,
      `${join(shownDir, "meta.json")}: missing; a job folder needs meta.json or meta.conf (name, deploy_map, min_clients)`,
      { file: join(shownDir, "meta.json") },
    );
  const raw = readRawConfig(found);
  const warnings = ignoredKeys(found, raw, META_KEYS);
  const own =
    typeof raw === "object" && raw !== null && !Array.isArray(raw) ? Object.fromEntries(Object.entries(raw).filter(([k]) => !SERVER_SET_META.has(k))) : raw;
  return { meta: validateConfig(found, own, metaSchema), file: found.shown, warnings };
}

/** Loads and validates a job folder (FLARE's: meta and app configs in JSON or HOCON). */
export function loadJobFolder(dir: string, options: LoadJobOptions = {}): JobDefinition {
  const shown = (p: string): string => shownPath(dir, options.shownAs, p);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CohortError(RuntimeErrorCode.BadJob, `${shown(dir)}: not a job folder`, { file: shown(dir) });
  const { meta, file: metaFile, warnings } = readJobMeta(dir, options);
  const apps = new Map<string, JobApp>();
  for (const name of Object.keys(meta.deploy_map)) {
    const appDir = join(dir, name);
    if (!existsSync(appDir))
      throw new CohortError(RuntimeErrorCode.BadJob, `${metaFile}: deploy_map names app ${JSON.stringify(name)} but ${shown(appDir)} does not exist`, {
        file: metaFile,
        field: `deploy_map.${name}`,
      });
    const sites = meta.deploy_map[name] ?? [];
    const configDir = join(appDir, "config");
    // FLARE's @ALL means the server and every site.
    const toServer = appForSite(meta, "server") === name;
    const toClients = sites.some((s) => s !== "server");
    const server = toServer ? readApp(configDir, shown(configDir), "config_fed_server", serverConfigSchema, SERVER_KEYS, name, "server") : undefined;
    const client = toClients ? readApp(configDir, shown(configDir), "config_fed_client", clientConfigSchema, CLIENT_KEYS, name, "sites") : undefined;
    for (const app of [server, client]) if (app) warnings.push(...app.warnings);
    if (client) checkTaskRouting(client.file, client.config, "executors");
    for (const app of [server, client]) if (app) checkTaskRouting(app.file, app.config, "filters");
    const customDir = join(appDir, "custom");
    const byoc = existsSync(customDir) && readdirSync(customDir).some((n) => !isJobSignatureFile(n));
    apps.set(name, {
      name,
      ...(server ? { server: server.config } : {}),
      ...(client ? { client: client.config } : {}),
      byoc,
      files: { ...(server ? { server: server.file } : {}), ...(client ? { client: client.file } : {}) },
    });
  }
  const explicit = Object.values(meta.deploy_map).filter((s) => s.includes("server")).length;
  const servers = explicit > 0 ? explicit : Object.values(meta.deploy_map).filter((s) => s.includes("@ALL")).length;
  if (servers !== 1)
    throw new CohortError(RuntimeErrorCode.BadJob, `${metaFile}: deploy_map must deploy exactly one app to "server" (found ${servers})`, {
      file: metaFile,
      field: "deploy_map",
    });
  return { dir, shownAs: shown(dir), meta, apps, byoc: [...apps.values()].some((a) => a.byoc), warnings };
}

/** An app's server or client config (`.json` or `.conf`), validated, with its warnings. */
function readApp<T>(
  configDir: string,
  shownDir: string,
  base: string,
  schema: z.ZodType<T>,
  keys: KeySpec,
  app: string,
  to: string,
): { config: T; file: string; warnings: string[] } {
  const found = findConfigFile(configDir, shownDir, base);
  if (!found)
    throw new CohortError(RuntimeErrorCode.BadJob, `app ${app} is deployed to the ${to} but ${join(shownDir, base)}.json (or .conf) is missing`, {
      file: join(shownDir, `${base}.json`),
    });
  const raw = withConfigVariables(readRawConfig(found), keys);
  return { config: validateConfig(found, raw, schema), file: found.shown, warnings: ignoredKeys(found, raw, keys) };
}

/**
 * FLARE's config variables: a top-level key that is not a config key and holds a plain value (a job
 * template's `app_script`, `app_config`) fills `{name}` in the config's strings, e.g. `"python3 -u
 * custom/{app_script} {app_config}"`. Used variables are consumed; a `{name}` that is no variable
 * stays as written (the component that reads it says so).
 */
function withConfigVariables(raw: unknown, keys: KeySpec): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const vars = new Map<string, string>();
  for (const [k, v] of Object.entries(raw))
    if (
      !(k in keys.read) &&
      !(keys.ignored && k in keys.ignored) &&
      /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) &&
      (typeof v === "string" || typeof v === "number" || typeof v === "boolean")
    )
      vars.set(k, String(v));
  if (vars.size === 0) return raw;
  const used = new Set<string>();
  const fill = (v: unknown): unknown => {
    if (typeof v === "string")
      return v.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
        const value = vars.get(name);
        if (value === undefined) return whole;
        used.add(name);
        return value;
      });
    if (Array.isArray(v)) return v.map(fill);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]));
    return v;
  };
  const filled = Object.entries(raw).map(([k, v]): [string, unknown] => [k, vars.has(k) ? v : fill(v)]);
  // Variables nothing refers to stay, so the unknown-key warning names them.
  return Object.fromEntries(filled.filter(([k]) => !used.has(k)));
}

/** Each task reaches one executor and one filter chain per direction: duplicates and ambiguous patterns are refused here, at load. */
function checkTaskRouting(file: string, config: Partial<ClientAppConfig>, what: "executors" | "filters"): void {
  if (what === "executors")
    taskRouter(
      (config.executors ?? []).map((e, i) => ({ tasks: e.tasks, value: i })),
      { file, list: "executors" },
    );
  else
    for (const list of ["task_data_filters", "task_result_filters"] as const)
      taskRouter(
        (config[list] ?? []).map((e, i) => ({ tasks: e.tasks, value: i })),
        { file, list },
      );
}

const COMPONENT_KEYS: KeySpec = { read: { id: true, path: true, name: true, args: true } };
const FILTER_ENTRY_KEYS: KeySpec = { read: { tasks: true, filters: COMPONENT_KEYS } };
/** FLARE reads other top-level values of an app config as `{name}` variables inside strings; Cohort does not. */
const configVariable = (value: unknown): string =>
  value === null || typeof value !== "object" ? 'a config variable that no "{name}" in the config uses' : "not a key Cohort knows";
const APP_IGNORED = {
  server: "the server's settings come from its kit (local/resources.json)",
  handlers: "FLARE's event handlers are not supported",
};
const SERVER_KEYS: KeySpec = {
  read: {
    format_version: true,
    components: COMPONENT_KEYS,
    workflows: COMPONENT_KEYS,
    task_data_filters: FILTER_ENTRY_KEYS,
    task_result_filters: FILTER_ENTRY_KEYS,
  },
  ignored: APP_IGNORED,
  other: configVariable,
};
const CLIENT_KEYS: KeySpec = {
  read: {
    format_version: true,
    components: COMPONENT_KEYS,
    executors: { read: { tasks: true, executor: COMPONENT_KEYS } },
    task_data_filters: FILTER_ENTRY_KEYS,
    task_result_filters: FILTER_ENTRY_KEYS,
  },
  ignored: APP_IGNORED,
  other: configVariable,
};

/** Meta keys the server writes itself (FLARE's and Cohort's stored job meta): never taken from a submitted job. */
export const SERVER_SET_META: ReadonlySet<string> = new Set([
  "job_id",
  "submitter_name",
  "submitter_org",
  "submitter_role",
  "status",
  "status_reason",
  "submit_time",
  "submit_time_iso",
  "start_time",
  "start_time_iso",
  "end_time_iso",
  "duration",
  "job_deploy_detail",
  "schedule_count",
  "last_schedule_time",
  "schedule_history",
  "resumed_count",
  "cloned_from",
  "job_clients",
  "content_location",
  "result_location",
  "approvals",
  "byoc",
  "rounds",
  "total_rounds",
]);
const META_KEYS: KeySpec = {
  read: { name: true, deploy_map: true, min_clients: true, mandatory_clients: true, resource_spec: true, scope: true, custom_props: true },
  ignored: {
    ...Object.fromEntries([...SERVER_SET_META].map((k) => [k, "the server sets it; the value here is dropped"])),
    launcher_spec: "Cohort runs every job in its own confined process",
    study: "Cohort has no studies",
    job_folder_name: "Cohort keeps jobs by id",
    data_storage_format: "not used by Cohort",
    stats_pool_config: "not used by Cohort",
    from_hub_site: "not used by Cohort",
    edge_method: "not used by Cohort",
  },
};

/** The app each site runs: explicit names win over @ALL. */
export function appForSite(meta: JobMeta, site: string): string | undefined {
  let all: string | undefined;
  for (const [app, sites] of Object.entries(meta.deploy_map)) {
    if (sites.includes(site)) return app;
    if (sites.includes("@ALL")) all ??= app;
  }
  return all;
}

/** Sites named in the deploy map (without server/@ALL), and whether @ALL is used. */
export function deploySites(meta: JobMeta): { named: string[]; all: boolean } {
  const named = new Set<string>();
  let all = false;
  for (const sites of Object.values(meta.deploy_map)) {
    for (const s of sites) {
      if (s === "@ALL") all = true;
      else if (s !== "server") named.add(s);
    }
  }
  return { named: [...named].sort(), all };
}
