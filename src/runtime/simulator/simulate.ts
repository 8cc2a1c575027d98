/**
 * `cohort simulator`: the server and every site of a job in this one process, without certificates,
 * sockets or kits, but with the same component code as a deployment: the job is packed, unpacked and
 * checked as a submission is, each app is built by job-host.ts (as in a job child), and the
 * server's sendTask hands each site a private copy of the wire-encoded task (as the transport
 * would) and its executor's result back.
 */
import { appendFileSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { CohortError, isCohortError } from "../../errors/index.js";
import { packFolder, unpackArchive } from "../jobs/archive.js";
import { checkComponents, usesHomomorphicEncryption } from "../jobs/component-check.js";
import {
  CLIENT_CONTEXT_FILE,
  generateCkksContexts,
  PrivacyErrorCode,
  resolveScope,
  SERVER_CONTEXT_FILE,
  SitePrivacy,
  unavailableReason,
  type PrivacyScope,
  type SerializedCkksContext,
} from "../../privacy/index.js";
import { authorize } from "../../authz/index.js";
import { AuditLog } from "../../audit/index.js";
import { startsProcesses } from "../jobs/component-check.js";
import { writePrivateKeyFile } from "../../pki/index.js";
import { appForSite, deploySites, loadJobFolder, type JobDefinition } from "../jobs/definition.js";
import { buildServerJob, buildSiteJob, type SiteJobHost } from "../sandbox/job-host.js";
import type { JobStatus } from "../jobs/store.js";
import { SiteResources } from "../site/resources.js";
import { defaultSiteConfig, readLocalConfigs, type SiteLocalConfig } from "./local-config.js";
import { prepareSimulatorWorkspace, type SimulatorLayout } from "./workspace.js";
import { TaskPool } from "./task-pool.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { SimulatorErrorCode } from "./errors.js";

export type LogLevel = "info" | "warn" | "error";

export interface SimulatedRound {
  readonly round: number;
  readonly totalRounds: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly sites: readonly string[];
  readonly seconds: number;
}

export interface SimulationOptions {
  /** The job folder (meta.json and apps), as `submit_job` takes it. */
  readonly jobDir: string;
  /** Site names (`-n 3` is site-1..site-3). */
  readonly sites: readonly string[];
  /** The simulator's folder (created, or emptied if the simulator made it). */
  readonly workspace: string;
  /** `-l`: a folder of per-site `local/` folders (`<dir>/<site>/local/resources.json`…). */
  readonly localConfigDir?: string;
  /** FLARE's `-gpu`: GPU ids every site without its own resource_manager offers the job's resource_spec. */
  readonly gpus?: readonly number[];
  /**
   * Who submits the job, for the sites' authorization.json (a deployment takes it from the job's
   * signature). Default: `admin@cohort.sim`, org `cohort_sim`, role `project_admin`; each site's org is the submitter's.
   */
  readonly submitter?: { readonly name: string; readonly org: string; readonly role: string };
  /** Site tasks executing at once (default: every site, as in a deployment). */
  readonly threads?: number;
  readonly signal?: AbortSignal;
  /** Every log line (they also go to `<workspace>/log.txt`). */
  readonly onLog?: (participant: string, level: LogLevel, line: string) => void;
  readonly onRound?: (round: SimulatedRound) => void;
}

export interface SimulationResult {
  readonly status: JobStatus;
  readonly reason?: string;
  readonly jobId: string;
  readonly jobName: string;
  /** Sites the job ran on. */
  readonly sites: readonly string[];
  readonly rounds: readonly SimulatedRound[];
  readonly workspace: string;
  readonly logFile: string;
  /** The server's run folder: models/global_model.cohort, best_model.cohort, final_metrics.json. */
  readonly modelsDir: string;
  readonly seconds: number;
}

const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

/** `-n 3` → site-1, site-2, site-3 (FLARE's simulator names). */
export function siteNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `site-${i + 1}`);
}

/** Checks `-c` names: site names as provisioning allows them, distinct, not "server". */
export function checkSiteNames(sites: readonly string[]): void {
  if (sites.length === 0) throw new CohortError(SimulatorErrorCode.Usage, "no sites: give -n <count> or -c site-a,site-b", {});
  const seen = new Set<string>();
  for (const s of sites) {
    if (!SITE_NAME.test(s) || s === "server")
      throw new CohortError(SimulatorErrorCode.Usage, `site name ${JSON.stringify(s)}: use letters, digits, '-' and '_' (not "server")`, { value: s });
    if (seen.has(s)) throw new CohortError(SimulatorErrorCode.Usage, `site ${s} is named twice`, { value: s });
    seen.add(s);
  }
}

/** The scheduler's decision, made once: in one process nothing changes between attempts. */
function schedule(
  def: JobDefinition,
  simulated: readonly string[],
  local: ReadonlyMap<string, SiteLocalConfig>,
  jobId: string,
): { ok: true; sites: string[] } | { ok: false; reason: string } {
  const meta = def.meta;
  const { named, all } = deploySites(meta);
  const wanted = all ? [...simulated] : named.filter((s) => simulated.includes(s));
  const missing = meta.mandatory_clients.filter((s) => !simulated.includes(s));
  if (missing.length > 0) return { ok: false, reason: `mandatory sites not simulated: ${missing.join(", ")} (add them with -c)` };
  if (wanted.length < meta.min_clients)
    return { ok: false, reason: `${wanted.length} of the job's sites simulated (${wanted.join(", ") || "none"}), min_clients is ${meta.min_clients}` };
  const refused: string[] = [];
  const ok: string[] = [];
  for (const site of wanted) {
    const c = local.get(site) ?? defaultSiteConfig(site);
    // The same check a deployed site answers the scheduler with (FLARE's GPUResourceManager, ListResourceManager).
    const verdict = new SiteResources(c.capacity).check(jobId, meta.resource_spec[site] ?? {});
    if (verdict.ok) ok.push(site);
    else refused.push(`${site}: ${verdict.reason ?? "refused"}`);
  }
  if (refused.length > 0 && (ok.length < meta.min_clients || meta.mandatory_clients.some((m) => refused.some((r) => r.startsWith(`${m}:`))))) {
    return { ok: false, reason: `not enough sites with the resources: ${refused.join("; ")}` };
  }
  return { ok: true, sites: ok.sort() };
}

/** The simulator's submitter when none is given. */
export const SIMULATOR_SUBMITTER = { name: "admin@cohort.sim", org: "cohort_sim", role: "project_admin" } as const;

/**
 * A site's deploy-time policy checks, as a deployed site makes them (job-deployment.ts): the job's
 * privacy scope (a scope naming a filter Cohort lacks refuses it), then the submitter's rights in
 * the site's authorization.json (`submit_job`, and `byoc` for jobs bringing their own code).
 */
function siteDeployCheck(
  c: SiteLocalConfig,
  def: JobDefinition,
  submitter: NonNullable<SimulationOptions["submitter"]>,
): { ok: true; scope: PrivacyScope | undefined } | { ok: false; reason: string } {
  try {
    const scope = resolveScope(c.privacy, def.meta.scope, c.site);
    const app = appForSite(def.meta, c.site);
    const job = app ? def.apps.get(app) : undefined;
    const byoc = job ? job.byoc || (job.client ? startsProcesses(job.client) : false) : false;
    if (c.authz) {
      for (const right of byoc ? ["submit_job", "byoc"] : ["submit_job"]) {
        const d = authorize(c.authz.policy, { right, user: submitter, submitter, siteOrg: submitter.org });
        if (!d.allowed)
          return { ok: false, reason: `NOT_AUTHORIZED by ${c.site}: ${right} for ${submitter.name} (${submitter.role}, ${submitter.org}): ${d.reason}` };
      }
    }
    return { ok: true, scope };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

class SimulationLog {
  private fd: number | undefined;

  constructor(
    readonly file: string,
    private readonly sink: SimulationOptions["onLog"],
  ) {
    this.fd = openSync(file, "a", 0o640);
  }

  write(participant: string, level: LogLevel, line: string): void {
    const text = `${new Date().toISOString()} [${participant}] ${level === "info" ? "" : `${level}: `}${line}\n`;
    // A script still printing after the run ended is written by path: its closed descriptor's number
    // may already belong to another file or socket of this process.
    if (this.fd === undefined) appendFileSync(this.file, text);
    else writeSync(this.fd, text);
    this.sink?.(participant, level, line);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Runs a job to its end in this process; resolves with its status (never rejects for job failures). */
export async function runSimulation(o: SimulationOptions): Promise<SimulationResult> {
  const started = performance.now();
  checkSiteNames(o.sites);
  // Refused before anything is written: a broken job or -l folder leaves the workspace alone.
  const local = o.localConfigDir ? readLocalConfigs(o.localConfigDir, o.sites, o.gpus) : undefined;
  const submitted = loadJobFolder(o.jobDir);
  checkComponents(submitted);
  const layout = prepareSimulatorWorkspace(o.workspace);
  const log = new SimulationLog(layout.log, o.onLog);
  for (const w of submitted.warnings) log.write("simulator", "warn", w);
  const jobId = randomUUID();
  const rounds: SimulatedRound[] = [];
  let sites: string[] = [];
  const finish = (status: JobStatus, reason?: string): SimulationResult => {
    const result: SimulationResult = {
      status,
      ...(reason ? { reason } : {}),
      jobId,
      jobName: submitted.meta.name,
      sites,
      rounds: [...rounds].sort((a, b) => a.round - b.round),
      workspace: layout.root,
      logFile: layout.log,
      modelsDir: join(layout.runDir("server"), "models"),
      seconds: (performance.now() - started) / 1000,
    };
    log.write("simulator", status === "FINISHED:COMPLETED" ? "info" : "error", `job ${jobId} ${status}${reason ? `: ${reason}` : ""}`);
    log.close();
    writeFileSync(layout.summary, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  try {
    log.write("simulator", "info", `job ${submitted.meta.name} (${jobId}) with ${o.sites.join(", ")}; workspace ${layout.root}`);
    if (local) {
      for (const c of [local.server, ...local.configs.values()]) {
        if (c.files.length > 0)
          log.write(
            c.site,
            "info",
            `local config: ${c.files.join(", ")} (GPUs ${c.capacity.gpuIds.length}, max_concurrent_jobs ${c.capacity.maxJobs}${c.jobDataPaths ? `, job_data_paths ${c.jobDataPaths.join(", ")}` : ""})`,
          );
        if (c.jobDataPaths)
          log.write(c.site, "info", "job_data_paths: checked to exist; the simulator runs no sandbox, a deployed site's job children may read only these");
        if (c.privacy) log.write(c.site, "info", `${c.privacy.file}: applied as at a deployed site (scopes ${[...c.privacy.scopes.keys()].join(", ")})`);
        for (const scope of c.privacy?.unavailable.keys() ?? [])
          log.write(c.site, "warn", `privacy scope '${scope}' refuses jobs: ${c.privacy ? unavailableReason(c.privacy, scope) : ""}`);
        if (c.authz) log.write(c.site, "info", `${c.authz.file}: applied as at a deployed site`);
      }
      for (const u of local.unused) log.write("simulator", "warn", `-l ${o.localConfigDir}: folder ${u} matches no simulated site`);
    }
    const configs = local?.configs ?? new Map(o.sites.map((s) => [s, defaultSiteConfig(s, o.gpus)] as const));
    const verdict = schedule(submitted, o.sites, configs, jobId);
    if (!verdict.ok) return finish("FINISHED:CAN_NOT_SCHEDULE", verdict.reason);
    // Each site's own deploy checks (privacy scope, authorization): a refusing site is left out, as in a deployment.
    const scopes = new Map<string, PrivacyScope | undefined>();
    const refusals: string[] = [];
    for (const site of verdict.sites) {
      const r = siteDeployCheck(configs.get(site) ?? defaultSiteConfig(site, o.gpus), submitted, o.submitter ?? SIMULATOR_SUBMITTER);
      if (r.ok) scopes.set(site, r.scope);
      else {
        refusals.push(`${site}: ${r.reason}`);
        log.write(site, "warn", `job ${jobId} refused at deploy: ${r.reason}`);
      }
    }
    sites = [...scopes.keys()];
    if (refusals.length > 0 && (sites.length < submitted.meta.min_clients || submitted.meta.mandatory_clients.some((m) => !scopes.has(m))))
      return finish("FINISHED:FAILED_TO_RUN", `sites refused the job: ${refusals.join("; ")}`);
    // Deployed as a submission is: packed, unpacked (same limits and refusals), loaded again.
    await unpackArchive(await packFolder(o.jobDir), layout.job);
    const def = loadJobFolder(layout.job, { shownAs: o.jobDir });
    checkComponents(def);
    return await run(def, layout, log, jobId, sites, rounds, o, finish, { scopes, configs });
  } catch (err) {
    if (!isCohortError(err)) log.write("simulator", "error", err instanceof Error ? (err.stack ?? err.message) : String(err));
    return finish("FINISHED:FAILED_TO_RUN", err instanceof Error ? err.message : String(err));
  }
}

/**
 * A job with HE components gets a throwaway CKKS key pair in `<workspace>/he/` (as HEBuilder would
 * write into kits): the sites' hosts get the client context, the server's host none.
 */
async function throwawayCkks(layout: SimulatorLayout, log: SimulationLog): Promise<SerializedCkksContext> {
  const keys = await generateCkksContexts();
  const dir = join(layout.root, "he");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivateKeyFile(join(dir, CLIENT_CONTEXT_FILE), `${JSON.stringify(keys.client)}\n`);
  writeFileSync(join(dir, SERVER_CONTEXT_FILE), `${JSON.stringify(keys.server)}\n`);
  log.write("simulator", "info", `HE: a throwaway CKKS key pair in ${dir} (sites hold the client context; the server none)`);
  return keys.client;
}

async function run(
  def: JobDefinition,
  layout: SimulatorLayout,
  log: SimulationLog,
  jobId: string,
  sites: readonly string[],
  rounds: SimulatedRound[],
  o: SimulationOptions,
  finish: (status: JobStatus, reason?: string) => SimulationResult,
  policy: { scopes: ReadonlyMap<string, PrivacyScope | undefined>; configs: ReadonlyMap<string, SiteLocalConfig> },
): Promise<SimulationResult> {
  const abort = new AbortController();
  const onAbort = (): void => abort.abort(o.signal?.reason ?? "aborted");
  o.signal?.addEventListener("abort", onAbort);
  const pool = new TaskPool(o.threads ?? sites.length, abort.signal);
  const base = { jobId, jobName: def.meta.name, sites: [...sites], resume: false };
  const hosts = new Map<string, SiteJobHost>();
  const audits: AuditLog[] = [];
  try {
    try {
      const he = usesHomomorphicEncryption(def) ? await throwawayCkks(layout, log) : undefined;
      for (const site of sites) {
        const app = appForSite(def.meta, site);
        const cfg = app ? def.apps.get(app)?.client : undefined;
        if (!app || !cfg) throw new CohortError(RuntimeErrorCode.Deploy, `no app with config_fed_client.json for ${site} in the deploy_map`, { site });
        mkdirSync(layout.runDir(site), { recursive: true, mode: 0o700 });
        // The site's scope filters run before the job's (FLARE's order; one process, no gate) and DP
        // spends are charged to the site's ledger in the simulator's workspace, audited there.
        const scope = policy.scopes.get(site);
        const sitePolicy = policy.configs.get(site)?.privacy;
        let privacy: SitePrivacy | undefined;
        if (scope && sitePolicy) {
          const audit = AuditLog.open(join(layout.root, site, "audit.log"), site);
          audits.push(audit);
          privacy = new SitePrivacy({
            site,
            policy: sitePolicy,
            ledgerFile: join(layout.root, site, "privacy_budget.json"),
            audit,
            log: (l) => log.write(site, "info", l),
          });
        }
        const io = {
          signal: abort.signal,
          log: (l: string) => log.write(site, "info", l),
          warn: (l: string) => log.write(site, "warn", l),
          // One process: peer messages go straight to the peer's inbox (a copy, as over the network);
          // a deployment seals them end to end and the server relays them.
          peerSend: async (to: string, topic: string, payload: Uint8Array) => {
            const peer = hosts.get(to);
            if (!peer) throw new CohortError(RuntimeErrorCode.JobNotFound, `job ${jobId} is not running at ${to}`, { jobId });
            peer.deliverPeer(site, topic, payload.slice());
          },
          ...(privacy && scope
            ? {
                charge: async (taskName: string, spend: Parameters<SitePrivacy["charge"]>[3]) => {
                  const r = privacy.charge(jobId, scope.name, taskName, spend);
                  if (!r.allowed) throw new CohortError(PrivacyErrorCode.Budget, r.reason, { site });
                },
              }
            : {}),
        };
        hosts.set(
          site,
          await buildSiteJob(
            {
              ...base,
              role: "client",
              site,
              appDir: join(layout.job, app),
              runDir: layout.runDir(site),
              client: cfg,
              ...(he ? { he } : {}),
              ...(scope
                ? {
                    privacy: {
                      scope: scope.name,
                      task_data_filters: scope.task_data_filters,
                      task_result_filters: scope.task_result_filters,
                      ...(scope.budget ? { budget: scope.budget } : {}),
                    },
                  }
                : {}),
            },
            io,
          ),
        );
        log.write(site, "info", `job ${jobId} (${def.meta.name}) deployed, app ${app}`);
      }
    } catch (err) {
      return finish("FINISHED:FAILED_TO_RUN", (err as Error).message);
    }
    const serverApp = appForSite(def.meta, "server");
    const serverCfg = serverApp ? def.apps.get(serverApp)?.server : undefined;
    if (!serverApp || !serverCfg) return finish("FINISHED:FAILED_TO_RUN", "no server app");
    mkdirSync(layout.runDir("server"), { recursive: true, mode: 0o700 });
    let roundStart = performance.now();
    const server = await buildServerJob(
      { ...base, role: "server", site: "server", appDir: join(layout.job, serverApp), runDir: layout.runDir("server"), server: serverCfg },
      {
        signal: abort.signal,
        log: (l) => log.write("server", "info", l),
        warn: (l) => log.write("server", "warn", l),
        sendTask: (site, taskName, payload, timeoutMs) => {
          const host = hosts.get(site);
          if (!host) return Promise.reject(new CohortError(RuntimeErrorCode.JobNotFound, `job ${jobId} is not running at ${site}`, { jobId }));
          // Each site gets its own copy, as over the network: no site sees another's buffer.
          const copy = payload.slice();
          return pool.run(timeoutMs, `${taskName} at ${site}`, async () => {
            const ex = host.executorFor(taskName);
            if (!ex) throw new CohortError(RuntimeErrorCode.NoExecutor, `${site}: no executor for task ${taskName}`, { site });
            try {
              return (await ex.execute(taskName, copy, host.ctx)).slice();
            } catch (err) {
              throw new CohortError(isCohortError(err) ? err.code : RuntimeErrorCode.TaskFailed, `${site}: ${(err as Error).message}`, { site });
            }
          });
        },
        progress: (round, totalRounds, metrics, roundSites) => {
          const now = performance.now();
          const r: SimulatedRound = { round, totalRounds, metrics: { ...metrics }, sites: [...roundSites], seconds: (now - roundStart) / 1000 };
          roundStart = now;
          const at = rounds.findIndex((x) => x.round === round);
          if (at >= 0) rounds.splice(at, 1);
          rounds.push(r);
          log.write(
            "server",
            "info",
            `round ${round}/${totalRounds} ${Object.entries(metrics)
              .map(([k, v]) => `${k} ${v.toFixed(4)}`)
              .join(" ")}`,
          );
          o.onRound?.(r);
        },
      },
    );
    log.write("server", "info", `job ${jobId} (${def.meta.name}) running on ${sites.join(", ")}`);
    try {
      await server.run();
    } catch (err) {
      log.write("server", "error", err instanceof Error ? (err.stack ?? err.message) : String(err));
      return finish(abort.signal.aborted ? "FINISHED:ABORTED" : "FINISHED:EXECUTION_EXCEPTION", (err as Error).message);
    }
    return abort.signal.aborted ? finish("FINISHED:ABORTED", String(abort.signal.reason)) : finish("FINISHED:COMPLETED");
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
    abort.abort("simulation ended");
    for (const a of audits) a.close();
  }
}
