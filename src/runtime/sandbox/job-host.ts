/**
 * Hosting one job's app: builds its components from the app config (registered built-ins, or the
 * app's custom/ code) and runs the server workflows or the site executors. A job child process
 * (job-child.ts) wires this to its IPC channel; the simulator (simulator/) wires the server's
 * sendTask straight to the sites' executors in one process. Both run the same component code.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CohortError } from "../../errors/index.js";
import type { InitMessage } from "./child-protocol.js";
import {
  componentFor,
  type ClientJobContext,
  type ComponentDefinition,
  type Executor,
  type JobContextBase,
  type ServerJobContext,
  type ServerJobListener,
  type Workflow,
} from "../components/registry.js";
import "../components/builtins.js";
import { JobMetricsLog } from "../components/metrics-log.js";
import { checkPeerTopic, PeerInbox, type PeerMessenger } from "../peer/inbox.js";
import type { ComponentConfig } from "../jobs/definition.js";
import { decode, DXO, encode, FLModel, Shareable, Tensor } from "../../wire/index.js";
import {
  applyFilterChain,
  assertNoSecretKey,
  HE_FILTER_PATHS,
  PrivacyErrorCode,
  siteFilterSpecs,
  type ChainedFilter,
  type FilterDirection,
  type ModelFilter,
  type PrivacySpend,
} from "../../privacy/index.js";
import { PeerErrorCode } from "../peer/errors.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { taskRouter } from "../jobs/task-patterns.js";

/** What a job host is told about the job: the IPC init message without its envelope. */
export type JobHostInit = Omit<InitMessage, "type" | "token">;

/** How a hosted app talks to the world around it. */
export interface JobHostIo {
  /** Aborts the job: workflows stop at their next check. */
  readonly signal: AbortSignal;
  log(line: string): void;
  warn(line: string): void;
  /** Job output went past a bound (the site audits it). */
  outputLimit?(what: string): void;
  /** Charges a DP filter's spend to the site's privacy budget (rejects when refused); none: not charged. */
  charge?(taskName: string, spend: PrivacySpend): Promise<void>;
}

export interface ServerJobIo extends JobHostIo {
  sendTask: ServerJobContext["sendTask"];
  progress: ServerJobContext["progress"];
}

/** A built server app: its workflows, run one after another. */
export interface ServerJobHost {
  readonly ctx: ServerJobContext;
  run(): Promise<void>;
}

/** How a site app reaches the job's other sites (none: peer messages are refused). */
export interface SiteJobIo extends JobHostIo {
  peerSend?(to: string, topic: string, payload: Uint8Array, timeoutMs: number): Promise<void>;
}

/** A built site app: its executors by task name (exact names, then fnmatch patterns such as "swarm_*" or "*"). */
export interface SiteJobHost {
  readonly ctx: ClientJobContext;
  executorFor(taskName: string): Executor | undefined;
  /** A message from another site of the job (opened by the site process); throws when not taken. */
  deliverPeer(from: string, topic: string, payload: Uint8Array): void;
}

/** Loads a BYOC component from the app's custom/ folder: `module.Export` → custom/module.js. */
async function customComponent(appDir: string, path: string): Promise<ComponentDefinition | undefined> {
  const dot = path.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const modulePath = path.slice(0, dot).replace(/\./g, "/");
  for (const ext of [".js", ".mjs"]) {
    const file = join(appDir, "custom", modulePath + ext);
    if (!existsSync(file)) continue;
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const ctor = mod[path.slice(dot + 1)];
    if (typeof ctor !== "function") return undefined;
    return { paths: [path], kind: "component", create: (args) => new (ctor as new (a: Record<string, unknown>) => unknown)(args) };
  }
  return undefined;
}

/** Builds each configured component into `registry` under its id (or path). */
async function build(appDir: string, configs: readonly ComponentConfig[], ctx: JobContextBase, registry: Map<string, unknown>): Promise<void> {
  for (const c of configs) {
    const path = c.path ?? c.name ?? "";
    const def = componentFor(path) ?? (await customComponent(appDir, path));
    if (!def)
      throw new CohortError(RuntimeErrorCode.UnknownComponent, `component ${JSON.stringify(path)} is not registered and not in the job's custom/ code`, {
        path,
      });
    registry.set(c.id ?? path, def.create(c.args, ctx));
  }
}

/** Builds one component on its own (a workflow or an executor), outside the app's registry. */
async function buildOne(appDir: string, config: ComponentConfig, ctx: JobContextBase): Promise<unknown> {
  const tmp = new Map<string, unknown>();
  await build(appDir, [config], ctx, tmp);
  return [...tmp.values()][0];
}

/** Builds a filter component: site filters only from the registry, job filters also from custom/. */
async function buildFilter(appDir: string, config: ComponentConfig, ctx: JobContextBase, source: "site" | "job"): Promise<ChainedFilter> {
  const label = config.path ?? config.name ?? "";
  const f = (source === "site" ? componentFor(label)?.create(config.args, ctx) : await buildOne(appDir, config, ctx)) as ModelFilter | undefined;
  if (typeof f?.filter !== "function")
    throw new CohortError(
      PrivacyErrorCode.Filter,
      `${source} filter ${JSON.stringify(label)} ${source === "site" ? "is not a registered filter" : "is not a filter"}`,
      { filter: label },
    );
  return { label, source, filter: f };
}

type FilterEntries = { tasks: readonly string[]; filters: readonly ComponentConfig[] }[];

/**
 * The filter chains of an app (flare-digest §7.2): the site's scope filters (init.privacy), then
 * the job's filters for the task. `apply` runs the chain for a task and direction on a payload.
 */
async function filterChains(init: JobHostInit, ctx: JobContextBase, io: JobHostIo, job: { in: FilterEntries; out: FilterEntries }) {
  const site = init.privacy;
  const siteChain = async (d: FilterDirection): Promise<ChainedFilter[]> => {
    const out: ChainedFilter[] = [];
    for (const f of siteFilterSpecs(
      site ? { name: site.scope, properties: {}, task_data_filters: site.task_data_filters, task_result_filters: site.task_result_filters } : undefined,
      d,
    ))
      out.push(await buildFilter(init.appDir, { args: f.args, ...(f.path ? { path: f.path } : {}), ...(f.name ? { name: f.name } : {}) }, ctx, "site"));
    return out;
  };
  const jobChain = async (entries: FilterEntries) => {
    const out: { tasks: readonly string[]; filters: ChainedFilter[] }[] = [];
    for (const e of entries) {
      const filters: ChainedFilter[] = [];
      for (const f of e.filters) {
        // Under a site process, HE filters run there (they need the secret key the job never gets).
        if (init.gated && HE_FILTER_PATHS.has(f.path ?? f.name ?? "")) continue;
        filters.push(await buildFilter(init.appDir, f, ctx, "job"));
      }
      out.push({ tasks: e.tasks, filters });
    }
    return out;
  };
  // The job's chain for a task: the entry naming it, else the first pattern matching it (FLARE's rule, task-patterns.ts).
  const jobRouter = async (entries: FilterEntries, list: string) =>
    taskRouter(
      (await jobChain(entries)).map((e) => ({ tasks: e.tasks, value: e.filters })),
      { list },
    );
  const chains = {
    in: { site: await siteChain("in"), job: await jobRouter(job.in, "task filters (in)") },
    out: { site: await siteChain("out"), job: await jobRouter(job.out, "task filters (out)") },
  };
  const chainFor = (taskName: string, d: FilterDirection): ChainedFilter[] => [...chains[d].site, ...(chains[d].job.route(taskName) ?? [])];
  const toModel = (payload: Uint8Array, what: string): FLModel => {
    const m = decode(payload);
    if (!(m instanceof FLModel))
      throw new CohortError(PrivacyErrorCode.Filter, `${what} is not an FLModel: privacy filters cannot apply, so it does not leave ${init.site}`, {});
    return m;
  };
  return {
    active: (taskName: string, d: FilterDirection): boolean => chainFor(taskName, d).length > 0,
    async apply(taskName: string, d: FilterDirection, payload: Uint8Array, reference?: FLModel): Promise<{ bytes: Uint8Array; model?: FLModel }> {
      const chain = chainFor(taskName, d);
      if (chain.length === 0) return { bytes: payload };
      const model = await applyFilterChain(chain, toModel(payload, `${d === "in" ? "the data" : "the result"} of task ${taskName}`), {
        site: init.site,
        jobId: init.jobId,
        taskName,
        direction: d,
        ...(reference ? { reference } : {}),
        charge: (spend) => io.charge?.(taskName, spend) ?? Promise.resolve(),
        ...(init.he ? { ckks: init.he } : {}),
        log: (line) => io.log(line),
      });
      return { bytes: encode(model), model };
    },
    toModel,
  };
}

function contextBase(init: JobHostInit, io: JobHostIo, registry: Map<string, unknown>): JobContextBase {
  return {
    jobId: init.jobId,
    jobName: init.jobName,
    site: init.site,
    sites: init.sites,
    runDir: init.runDir,
    appDir: init.appDir,
    signal: io.signal,
    wire: { encode, decode, FLModel, DXO, Tensor, Shareable },
    log: (line) => io.log(line),
    warn: (line) => io.warn(line),
    outputLimit: (what) => io.outputLimit?.(what),
    component<T>(id: string): T {
      if (!registry.has(id)) throw new CohortError(RuntimeErrorCode.UnknownComponent, `no component with id ${JSON.stringify(id)} in this app`, { id });
      return registry.get(id) as T;
    },
  };
}

/** Builds a server app (components, then workflows); `run()` runs the workflows in order. */
export async function buildServerJob(init: JobHostInit, io: ServerJobIo): Promise<ServerJobHost> {
  const cfg = init.server;
  if (!cfg) throw new CohortError(RuntimeErrorCode.BadJob, "server app without config_fed_server.json", {});
  // The server side never holds a CKKS secret key (it aggregates ciphertexts with none).
  assertNoSecretKey(init.he, `job ${init.jobId} at the server`);
  const registry = new Map<string, unknown>();
  // At the server, task data filters apply to data going out and result filters to results coming in.
  let filters: Awaited<ReturnType<typeof filterChains>> | undefined;
  const ctx: ServerJobContext = {
    ...contextBase(init, io, registry),
    resume: init.resume,
    sendTask: async (site, taskName, payload, timeoutMs) => {
      if (!filters) return io.sendTask(site, taskName, payload, timeoutMs);
      const data = await filters.apply(taskName, "out", payload);
      const result = await io.sendTask(site, taskName, data.bytes, timeoutMs);
      return (await filters.apply(taskName, "in", result, data.model)).bytes;
    },
    progress: (round, totalRounds, metrics, sites) => {
      io.progress(round, totalRounds, metrics, sites);
      for (const l of listeners) l.onRoundMetrics?.(round, metrics);
    },
    recordMetrics: (site, taskName, model) => {
      for (const entry of metricsLog.record(site, taskName, model)) for (const l of listeners) l.onMetric?.(entry);
    },
  };
  const metricsLog = new JobMetricsLog(init.runDir, (line) => io.warn(line));
  await build(init.appDir, cfg.components, ctx, registry);
  const listeners = [...registry.values()].filter(
    (c): c is ServerJobListener => typeof c === "object" && c !== null && ("onRoundMetrics" in c || "onMetric" in c),
  );
  if (cfg.task_data_filters.length || cfg.task_result_filters.length)
    filters = await filterChains({ ...init, privacy: undefined, he: undefined }, ctx, io, { in: cfg.task_result_filters, out: cfg.task_data_filters });
  const workflows: Workflow[] = [];
  for (const w of cfg.workflows) {
    const wf = (await buildOne(init.appDir, w, ctx)) as Workflow | undefined;
    if (typeof wf?.run !== "function") throw new CohortError(RuntimeErrorCode.BadJob, `workflow ${w.path ?? w.name} is not a workflow`, {});
    workflows.push(wf);
  }
  return {
    ctx,
    async run() {
      for (const wf of workflows) await wf.run(ctx);
    },
  };
}

/** Builds a site app (components, then executors by task). */
export async function buildSiteJob(init: JobHostInit, io: SiteJobIo): Promise<SiteJobHost> {
  const cfg = init.client;
  if (!cfg) throw new CohortError(RuntimeErrorCode.BadJob, "client app without config_fed_client.json", {});
  const registry = new Map<string, unknown>();
  const inbox = new PeerInbox({ site: init.site, peers: init.sites, signal: io.signal });
  const peers: PeerMessenger = {
    async send(site, topic, payload, timeoutMs = 600_000) {
      checkPeerTopic(topic);
      if (!init.sites.includes(site))
        throw new CohortError(PeerErrorCode.NotAPeer, `${site} is not a site of job ${init.jobId} (${init.sites.join(", ")})`, { site });
      // To itself: straight into its own inbox, a copy as over the network.
      if (site === init.site) return inbox.deliver(site, topic, payload.slice());
      if (!io.peerSend) throw new CohortError(PeerErrorCode.Unavailable, "peer messages are not available to this job", {});
      return io.peerSend(site, topic, payload, timeoutMs);
    },
    receive: (site, topic, timeoutMs, signal) => inbox.receive(site, topic, timeoutMs, signal),
    discard: (match) => inbox.discard(match),
  };
  let runTask: (taskName: string, payload: Uint8Array) => Promise<Uint8Array> = () => Promise.reject(new Error("the app is still being built"));
  const ctx: ClientJobContext = { ...contextBase(init, io, registry), peers, runTask: (t, p) => runTask(t, p) };
  await build(init.appDir, cfg.components, ctx, registry);
  const built: { tasks: readonly string[]; value: Executor }[] = [];
  const controlOnly = new Set<Executor>();
  for (const e of cfg.executors) {
    const ex = (await buildOne(init.appDir, e.executor, ctx)) as Executor | undefined;
    if (typeof ex?.execute !== "function")
      throw new CohortError(RuntimeErrorCode.BadJob, `executor ${e.executor.path ?? e.executor.name} is not an executor`, {});
    built.push({ tasks: e.tasks, value: ex });
    if (componentFor(e.executor.path ?? e.executor.name ?? "")?.controlTasksOnly === true) controlOnly.add(ex);
  }
  // Exact task names win, then the first pattern that matches (FLARE's TaskRouter, task-patterns.ts).
  const executors = taskRouter(built, { list: "executors" });
  const filters = await filterChains(init, ctx, io, { in: cfg.task_data_filters, out: cfg.task_result_filters });
  const filtered = (ex: Executor): Executor => ({
    async execute(taskName, payload, c) {
      if (!filters.active(taskName, "in") && !filters.active(taskName, "out")) return ex.execute(taskName, payload, c);
      const data = await filters.apply(taskName, "in", payload);
      let reference = data.model;
      try {
        reference ??= filters.toModel(data.bytes, "task data");
      } catch {
        // not an FLModel: result filters see no reference
      }
      const result = await ex.execute(taskName, data.bytes, c);
      return (await filters.apply(taskName, "out", result, reference)).bytes;
    },
  });
  const executorFor = (taskName: string): Executor | undefined => {
    const ex = executors.route(taskName);
    return ex ? (controlOnly.has(ex) ? ex : filtered(ex)) : undefined;
  };
  runTask = (taskName, payload) => {
    const ex = executorFor(taskName);
    if (!ex) return Promise.reject(new CohortError(RuntimeErrorCode.NoExecutor, `${init.site}: no executor for task ${taskName}`, { site: init.site }));
    return ex.execute(taskName, payload, ctx);
  };
  return { ctx, executorFor, deliverPeer: (from, topic, payload) => inbox.deliver(from, topic, payload) };
}
