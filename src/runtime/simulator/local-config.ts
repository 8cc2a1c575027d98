/**
 * The simulator's `-l <folder>`: per-site `local/` folders as a deployed site would have them
 * (`<folder>/<site>/local/resources.json`, `privacy.json`, `authorization.json`; `X.json` wins over
 * `X.json.default`, FLARE's rule). What applies in one process is applied (the site's resources for
 * the job's resource_spec); the rest is read and validated so mistakes show up before deployment.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { readLocalJson, ConfigErrorCode } from "../../config/index.js";
import { siteResourcesSchema } from "../site/resources.js";
import { SimulatorErrorCode } from "./errors.js";

/** FLARE's resource_manager args (GPUResourceManager), as participant.ts reads them. */
const resourceManagerArgs = z.object({ num_of_gpus: z.number().int().min(0).default(0), mem_per_gpu_in_GiB: z.number().min(0).default(0) });

/** Privacy and authorization policies arrive with later issues: only their shape is checked here. */
const policySchema = z.record(z.string(), z.unknown());

export interface SiteLocalConfig {
  readonly site: string;
  /** Files read, for the log. */
  readonly files: readonly string[];
  readonly gpus: number;
  readonly memPerGpuGiB: number;
  readonly maxConcurrentJobs: number;
  /** The site's `job_data_paths`, when it sets them. */
  readonly jobDataPaths?: readonly string[];
  /** Read and valid, not yet applied (privacy filters and authorization arrive with later issues). */
  readonly notApplied: readonly string[];
}

/** Defaults for a site without a folder under `-l` (what provisioning writes as *.json.default). */
export function defaultSiteConfig(site: string): SiteLocalConfig {
  return { site, files: [], gpus: 0, memPerGpuGiB: 0, maxConcurrentJobs: 2, notApplied: [] };
}

/** Reads `<root>/<site>/local/` for one participant (a site or "server"). */
export function readSiteLocalConfig(root: string, site: string): SiteLocalConfig {
  const dir = join(root, site);
  if (!existsSync(join(dir, "local"))) return defaultSiteConfig(site);
  const files: string[] = [];
  const notApplied: string[] = [];
  const resources = readLocalJson(dir, "resources", siteResourcesSchema);
  if (resources) files.push(resources.file);
  for (const name of ["privacy", "authorization"]) {
    const policy = readLocalJson(dir, name, policySchema);
    if (policy) {
      files.push(policy.file);
      notApplied.push(policy.file);
    }
  }
  const rm = resourceManagerArgs.safeParse(resources?.value.components.find((c) => c.id === "resource_manager")?.args ?? {});
  if (!rm.success) {
    const issue = rm.error.issues[0];
    throw new CohortError(
      ConfigErrorCode.Invalid,
      `${resources?.file ?? dir}: components[id=resource_manager].args.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`,
      { file: resources?.file, field: "resource_manager" },
    );
  }
  const paths = resources?.value.job_data_paths;
  for (const p of paths ?? []) {
    if (!existsSync(p) || !statSync(p).isDirectory()) {
      throw new CohortError(
        ConfigErrorCode.Invalid,
        `${resources?.file ?? dir}: job_data_paths: ${JSON.stringify(p)} is not a folder; give the folders this site's jobs may read`,
        { file: resources?.file, field: "job_data_paths", value: p },
      );
    }
  }
  return {
    site,
    files,
    gpus: rm.data.num_of_gpus,
    memPerGpuGiB: rm.data.mem_per_gpu_in_GiB,
    maxConcurrentJobs: resources?.value.max_concurrent_jobs ?? 2,
    ...(paths ? { jobDataPaths: paths } : {}),
    notApplied,
  };
}

/** Reads every simulated site's local config; names folders under `root` that match no participant. */
export function readLocalConfigs(root: string, sites: readonly string[]): { configs: Map<string, SiteLocalConfig>; server: SiteLocalConfig; unused: string[] } {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new CohortError(
      SimulatorErrorCode.Usage,
      `-l ${root}: not a folder; give a folder holding <site>/local/ folders (e.g. ${join(root, "site-1", "local", "resources.json")})`,
      { file: root },
    );
  }
  const configs = new Map(sites.map((s) => [s, readSiteLocalConfig(root, s)] as const));
  const known = new Set([...sites, "server"]);
  const unused = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !known.has(e.name))
    .map((e) => e.name)
    .sort();
  return { configs, server: readSiteLocalConfig(root, "server"), unused };
}
