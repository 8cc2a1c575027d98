/**
 * Entry of a job child process (started by JobChild under Node's permission model). It builds the
 * job's components from the app config and runs the server workflows or the site executors,
 * talking only to its parent over IPC with the job token from its environment.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CohortError, isCohortError } from "../errors/index.js";
import { toChildSchema, type FromChild, type InitMessage } from "./child-protocol.js";
import { componentFor, type ClientJobContext, type ComponentDefinition, type Executor, type JobContextBase, type ServerJobContext, type Workflow } from "./components/registry.js";
import "./components/builtins.js";
import type { ComponentConfig } from "./job-def.js";
import { decode, DXO, encode, FLModel, Shareable, Tensor } from "../wire/index.js";

type Distributive<T> = T extends unknown ? Omit<T, "token"> : never;

const token = process.env["COHORT_JOB_TOKEN"] ?? "";
const send = (m: Distributive<FromChild>): void => {
  process.send?.({ ...m, token });
};
const log = (line: string): void => send({ type: "log", level: "info", line });
const warn = (line: string): void => send({ type: "log", level: "warn", line });

const abort = new AbortController();
const pendingTasks = new Map<string, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
let taskCounter = 0;
let executors: Map<string, Executor> | undefined;
let clientCtx: ClientJobContext | undefined;

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

async function build(init: InitMessage, configs: readonly ComponentConfig[], ctx: JobContextBase, registry: Map<string, unknown>): Promise<void> {
  for (const c of configs) {
    const path = c.path ?? c.name ?? "";
    const def = componentFor(path) ?? (await customComponent(init.appDir, path));
    if (!def) throw new CohortError("ERR_JOB_UNKNOWN_COMPONENT", `component ${JSON.stringify(path)} is not registered and not in the job's custom/ code`, { path });
    registry.set(c.id ?? path, def.create(c.args, ctx));
  }
}

async function start(init: InitMessage): Promise<void> {
  const registry = new Map<string, unknown>();
  const base: JobContextBase = {
    jobId: init.jobId,
    jobName: init.jobName,
    site: init.site,
    sites: init.sites,
    runDir: init.runDir,
    signal: abort.signal,
    wire: { encode, decode, FLModel, DXO, Tensor, Shareable },
    log,
    warn,
    component<T>(id: string): T {
      if (!registry.has(id)) throw new CohortError("ERR_JOB_UNKNOWN_COMPONENT", `no component with id ${JSON.stringify(id)} in this app`, { id });
      return registry.get(id) as T;
    },
  };
  if (init.role === "server") {
    const cfg = init.server;
    if (!cfg) throw new CohortError("ERR_JOB_INVALID", "server app without config_fed_server.json", {});
    const ctx: ServerJobContext = {
      ...base,
      resume: init.resume,
      sendTask(site, taskName, payload, timeoutMs) {
        const taskId = `${++taskCounter}`;
        return new Promise<Uint8Array>((resolve, reject) => {
          pendingTasks.set(`${taskId}@${site}`, { resolve, reject });
          send({ type: "task.send", taskId, site, taskName, payload, timeoutMs });
        });
      },
      progress(round, totalRounds, metrics, sites) {
        send({ type: "progress", round, totalRounds, metrics, sites: [...sites] });
      },
    };
    await build(init, cfg.components, ctx, registry);
    const workflows: Workflow[] = [];
    for (const w of cfg.workflows) {
      const tmp = new Map<string, unknown>();
      await build(init, [w], ctx, tmp);
      const wf = [...tmp.values()][0] as Workflow;
      if (typeof wf?.run !== "function") throw new CohortError("ERR_JOB_INVALID", `workflow ${w.path ?? w.name} is not a workflow`, {});
      workflows.push(wf);
    }
    send({ type: "ready" });
    for (const wf of workflows) await wf.run(ctx);
    send({ type: "done", status: abort.signal.aborted ? "FINISHED:ABORTED" : "FINISHED:COMPLETED" });
    return;
  }
  const cfg = init.client;
  if (!cfg) throw new CohortError("ERR_JOB_INVALID", "client app without config_fed_client.json", {});
  await build(init, cfg.components, base, registry);
  executors = new Map();
  for (const e of cfg.executors) {
    const tmp = new Map<string, unknown>();
    await build(init, [e.executor], base, tmp);
    const ex = [...tmp.values()][0] as Executor;
    if (typeof ex?.execute !== "function") throw new CohortError("ERR_JOB_INVALID", `executor ${e.executor.path ?? e.executor.name} is not an executor`, {});
    for (const t of e.tasks) executors.set(t, ex);
  }
  clientCtx = base;
  send({ type: "ready" });
}

function runTask(taskId: string, taskName: string, payload: Uint8Array): void {
  const ex = executors?.get(taskName) ?? executors?.get("*");
  if (!ex || !clientCtx) {
    send({ type: "task.failed", taskId, code: "ERR_JOB_NO_EXECUTOR", message: `no executor for task ${taskName}` });
    return;
  }
  ex.execute(taskName, payload, clientCtx).then(
    (result) => send({ type: "task.done", taskId, payload: result }),
    (err: Error) => send({ type: "task.failed", taskId, code: isCohortError(err) ? err.code : "ERR_JOB_TASK_FAILED", message: err.message }),
  );
}

function fail(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  send({ type: "log", level: "error", line: err instanceof Error ? (err.stack ?? message) : message });
  send({ type: "done", status: "FINISHED:EXECUTION_EXCEPTION", reason: message });
  setTimeout(() => process.exit(1), 100);
}

process.on("message", (raw: unknown) => {
  const parsed = toChildSchema.safeParse(raw);
  if (!parsed.success || parsed.data.token !== token) return;
  const m = parsed.data;
  switch (m.type) {
    case "init":
      start(m).catch(fail);
      break;
    case "task.run":
      runTask(m.taskId, m.taskName, m.payload);
      break;
    case "task.result":
    case "task.error": {
      const p = pendingTasks.get(`${m.taskId}@${m.site}`);
      pendingTasks.delete(`${m.taskId}@${m.site}`);
      if (m.type === "task.result") p?.resolve(m.payload);
      else p?.reject(new CohortError(m.code, m.message, { site: m.site }));
      break;
    }
    case "abort":
      abort.abort(m.reason);
      for (const p of pendingTasks.values()) p.reject(new CohortError("ERR_JOB_ABORTED", m.reason, {}));
      send({ type: "done", status: "FINISHED:ABORTED", reason: m.reason });
      setTimeout(() => process.exit(0), 100);
      break;
  }
});
process.on("disconnect", () => process.exit(0));
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
