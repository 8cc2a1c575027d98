/**
 * The simulator's `-l <folder>`: per-site `local/` folders as a deployed site would have them
 * (`<folder>/<site>/local/resources.json`, `privacy.json`, `authorization.json`; `X.json` wins over
 * `X.json.default`, FLARE's rule), read by the code a deployed site starts with
 * (participant/policy-files.ts): resources decide scheduling, privacy scopes filter, authorization decides.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LoadedPolicy } from "../../authz/index.js";
import { CohortError, isCohortError } from "../../errors/index.js";
import { ConfigErrorCode } from "../../config/index.js";
import type { PrivacyPolicy } from "../../privacy/index.js";
import { PolicyFilesErrorCode } from "../participant/errors.js";
import { loadSitePolicyFiles, problemLines } from "../participant/policy-files.js";
import { siteCapacity, type SiteCapacity } from "../site/resources.js";
import { SimulatorErrorCode } from "./errors.js";

export interface SiteLocalConfig {
  readonly site: string;
  /** Files read, for the log. */
  readonly files: readonly string[];
  /** GPUs, listed units and job slots, as a deployed site reads them. */
  readonly capacity: SiteCapacity;
  /** The site's `job_data_paths`, when it sets them. */
  readonly jobDataPaths?: readonly string[];
  /** local/privacy.json, read as a deployed site reads it (scopes naming filters Cohort lacks refuse jobs). */
  readonly privacy?: PrivacyPolicy;
  /** local/authorization.json (or .default), read as a deployed site reads it. */
  readonly authz?: LoadedPolicy;
}

/** Defaults for a site without a folder under `-l` (what provisioning writes as *.json.default). */
export function defaultSiteConfig(site: string, gpus: readonly number[] = []): SiteLocalConfig {
  return { site, files: [], capacity: { ...siteCapacity(undefined).capacity, gpuIds: gpus } };
}

/** Reads `<root>/<site>/local/` for one participant (a site or "server") with the code a deployed site starts with. */
export function readSiteLocalConfig(root: string, site: string, gpus: readonly number[] = []): SiteLocalConfig {
  const dir = join(root, site);
  if (!existsSync(join(dir, "local"))) return defaultSiteConfig(site, gpus);
  const loaded = loadSitePolicyFiles(dir, site === "server" ? "server" : "client", site);
  const files = [loaded.resources ? loaded.resourcesFile : undefined, loaded.privacy?.file, loaded.authz?.file].filter((f): f is string => f !== undefined);
  const paths = loaded.resources?.job_data_paths;
  for (const p of paths ?? []) {
    if (!existsSync(p) || !statSync(p).isDirectory()) {
      throw new CohortError(
        ConfigErrorCode.Invalid,
        `${loaded.resourcesFile ?? dir}: job_data_paths: ${JSON.stringify(p)} is not a folder; give the folders this site's jobs may read`,
        { file: loaded.resourcesFile, field: "job_data_paths", value: p },
      );
    }
  }
  return {
    site,
    files,
    // FLARE's -gpu: a site without its own resource_manager offers the simulator's GPUs.
    capacity: loaded.resources?.components.some((c) => c.id === "resource_manager") ? loaded.capacity : { ...loaded.capacity, gpuIds: gpus },
    ...(paths ? { jobDataPaths: paths } : {}),
    ...(loaded.privacy ? { privacy: loaded.privacy } : {}),
    ...(loaded.authz ? { authz: loaded.authz } : {}),
  };
}

/** Reads every simulated site's local config; names folders under `root` that match no participant. */
export function readLocalConfigs(
  root: string,
  sites: readonly string[],
  gpus: readonly number[] = [],
): { configs: Map<string, SiteLocalConfig>; server: SiteLocalConfig; unused: string[] } {
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new CohortError(
      SimulatorErrorCode.Usage,
      `-l ${root}: not a folder; give a folder holding <site>/local/ folders (e.g. ${join(root, "site-1", "local", "resources.json")})`,
      { file: root },
    );
  }
  // Every participant's problems in one error, as one site reports all of its files at once.
  const configs = new Map<string, SiteLocalConfig>();
  const problems: string[] = [];
  const read = (s: string): SiteLocalConfig | undefined => {
    try {
      return readSiteLocalConfig(root, s, gpus);
    } catch (err) {
      if (!isCohortError(err, PolicyFilesErrorCode.Invalid)) throw err;
      problems.push(...problemLines(err));
      return undefined;
    }
  };
  for (const s of sites) {
    const c = read(s);
    if (c) configs.set(s, c);
  }
  const server = read("server");
  if (problems.length > 0 || !server)
    throw new CohortError(
      PolicyFilesErrorCode.Invalid,
      `-l ${root}: ${problems.length} problem(s) in the sites' local/ policy files:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
      {
        file: root,
        problems,
      },
    );
  const known = new Set([...sites, "server"]);
  const unused = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !known.has(e.name))
    .map((e) => e.name)
    .sort();
  return { configs, server, unused };
}
