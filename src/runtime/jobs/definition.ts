import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { isJobSignatureFile } from "../../pki/index.js";
import { RuntimeErrorCode } from "./errors.js";
import { readJsonFile } from "../../config/index.js";

const siteName = z.string().regex(/^(@ALL|server|[A-Za-z0-9_-]+)$/, "must be server, @ALL or a site name");
const resourceSpec = z.record(
  z.string(),
  z.object({ num_of_gpus: z.number().int().min(0).optional(), mem_per_gpu_in_GiB: z.number().min(0).optional() }).catchall(z.unknown()),
);

export const metaSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "must be letters, digits, '.', '_' or '-' (FLARE's job_name rule)"),
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
}

export interface JobDefinition {
  readonly dir: string;
  readonly meta: JobMeta;
  readonly apps: ReadonlyMap<string, JobApp>;
  /** Derived, never trusted from meta: any app has custom code. */
  readonly byoc: boolean;
}

/** Loads and validates a job folder. */
export function loadJobFolder(dir: string): JobDefinition {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CohortError(RuntimeErrorCode.BadJob, `${dir}: not a job folder`, { file: dir });
  const metaFile = join(dir, "meta.json");
  if (!existsSync(metaFile))
    throw new CohortError(RuntimeErrorCode.BadJob, `${metaFile}: missing; a job folder needs meta.json (name, deploy_map, min_clients)`, { file: metaFile });
  const meta = readJsonFile(metaFile, metaSchema, { code: RuntimeErrorCode.BadJob });
  const apps = new Map<string, JobApp>();
  for (const name of Object.keys(meta.deploy_map)) {
    const appDir = join(dir, name);
    if (!existsSync(appDir))
      throw new CohortError(RuntimeErrorCode.BadJob, `${metaFile}: deploy_map names app ${JSON.stringify(name)} but ${appDir} does not exist`, {
        file: metaFile,
        field: `deploy_map.${name}`,
      });
    const sites = meta.deploy_map[name] ?? [];
    const serverFile = join(appDir, "config", "config_fed_server.json");
    const clientFile = join(appDir, "config", "config_fed_client.json");
    // FLARE's @ALL means the server and every site.
    const toServer = appForSite(meta, "server") === name;
    const toClients = sites.some((s) => s !== "server");
    if (toServer && !existsSync(serverFile))
      throw new CohortError(RuntimeErrorCode.BadJob, `app ${name} is deployed to the server but ${serverFile} is missing`, { file: serverFile });
    if (toClients && !existsSync(clientFile))
      throw new CohortError(RuntimeErrorCode.BadJob, `app ${name} is deployed to sites but ${clientFile} is missing`, { file: clientFile });
    const customDir = join(appDir, "custom");
    const byoc = existsSync(customDir) && readdirSync(customDir).some((n) => !isJobSignatureFile(n));
    apps.set(name, {
      name,
      ...(toServer ? { server: readJsonFile(serverFile, serverConfigSchema, { code: RuntimeErrorCode.BadJob }) } : {}),
      ...(toClients ? { client: readJsonFile(clientFile, clientConfigSchema, { code: RuntimeErrorCode.BadJob }) } : {}),
      byoc,
    });
  }
  const explicit = Object.values(meta.deploy_map).filter((s) => s.includes("server")).length;
  const servers = explicit > 0 ? explicit : Object.values(meta.deploy_map).filter((s) => s.includes("@ALL")).length;
  if (servers !== 1)
    throw new CohortError(RuntimeErrorCode.BadJob, `${metaFile}: deploy_map must deploy exactly one app to "server" (found ${servers})`, {
      file: metaFile,
      field: "deploy_map",
    });
  return { dir, meta, apps, byoc: [...apps.values()].some((a) => a.byoc) };
}

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
