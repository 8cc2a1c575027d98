/**
 * Runs the site's own training program (any language; Python with the cohort_flare module, or an
 * unchanged FLARE script through the `nvflare` shim) as a separate process and relays tasks to it
 * over the Client API channel (docs/protocol.md §3). FLARE's Client API executors map onto it
 * (flare-client-executors.ts). Starting a process makes the job bring-your-own-code: the
 * component is registered with `startsProcesses`, which is the only way a job child may spawn.
 */
import { isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { encode } from "../../wire/index.js";
import { findFashionMnist } from "../datasets/index.js";
import { MAX_CHANNEL_MESSAGE_BYTES } from "../client-api/channel.js";
import { clientApiTaskArgs, finishResult, LastModel, readTask, withDataDir } from "../client-api/task-args.js";
import { cohortPythonDir, customDirOf } from "../client-api/app-dir.js";
import { diffFromTask } from "../client-api/conform.js";
import { ScriptProcess } from "../client-api/script-process.js";
import { TaskLoggedValues } from "../client-api/logged-values.js";
import type { ClientJobContext, Executor, JobContextBase } from "./registry.js";
import { ClientApiErrorCode } from "../client-api/errors.js";

export const externalProcessArgs = clientApiTaskArgs.extend({
  /** argv, no shell; `python3`/`python` as the first word means `interpreter`. Runs in the app's custom/ folder. */
  command: z.array(z.string().min(1).max(4096)).min(1).max(256).default(["python3", "train.py"]),
  interpreter: z.string().min(1).default("/usr/bin/python3"),
  /** Seconds between asking the script to stop and killing it. */
  stop_grace: z.number().min(0).max(60).default(2),
  /** FLARE's launch_once: keep one process for the whole job (false: one process per task). */
  launch_once: z.boolean().default(true),
  /** Extra environment variables for the script (never COHORT_*; the site's own variables are not passed). */
  env: z.record(z.string().regex(/^(?!COHORT_)[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name not starting with COHORT_"), z.string()).default({}),
  /** Folders added to PYTHONPATH (relative to custom/), after Cohort's python/ folder and its `nvflare` shim. */
  python_path: z.array(z.string()).default([]),
  /** FLARE's params_transfer_type: DIFF turns a FULL train result into its difference from the task's model (a DIFF result stays as sent). */
  params_transfer_type: z.enum(["FULL", "DIFF"]).default("FULL"),
  max_message_mb: z.number().int().min(1).max(2046).default(2046),
  /**
   * FLARE's params_exchange_format: the wire carries numpy arrays either way; "pytorch" makes the
   * Python Client API hand the script torch tensors; "auto" (FLARE's executors without the argument,
   * whose default is pytorch) does so where the script's Python has torch.
   */
  params_exchange_format: z.enum(["numpy", "pytorch", "auto"]).default("numpy"),
});
export type ExternalProcessArgs = z.infer<typeof externalProcessArgs>;

const PATH_FALLBACK = "/usr/local/bin:/usr/bin:/bin";
export { MAX_LOGGED_BYTES } from "../client-api/logged-values.js";

export class ExternalProcessExecutor implements Executor {
  private proc: ScriptProcess | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly last = new LastModel();
  private readonly logged = new TaskLoggedValues();
  private stopped = false;
  private readonly label: string;

  constructor(
    private readonly a: ExternalProcessArgs,
    ctx: JobContextBase,
  ) {
    this.label = a.command.find((w, i) => i > 0 && !w.startsWith("-")) ?? a.command[0] ?? "script";
    ctx.signal.addEventListener("abort", () => this.shutdown(String(ctx.signal.reason ?? "job ended")), { once: true });
  }

  /** What the script gets and sends (FLARE's params_exchange_format). */
  get exchangeFormat(): ExternalProcessArgs["params_exchange_format"] {
    return this.a.params_exchange_format;
  }

  /** The running script's process id (tests check it is gone after an abort). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    // One task at a time: the script has one receive()/send() loop.
    const run = this.queue.then(() => this.runOne(taskName, payload, ctx));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runOne(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    if (this.stopped || ctx.signal.aborted) throw new CohortError(ClientApiErrorCode.Stopped, `task ${taskName}: the job is stopping`, {});
    const { model: task, kind } = readTask(taskName, payload, this.a);
    if (kind === "submit_model" && !this.a.submit_model_by_script) return encode(this.last.submit(ctx.site, this.a.train_task_name));
    const proc = this.ensureProcess(ctx);
    this.logged.reset();
    const where = `${this.label} at ${ctx.site}, task ${taskName}${task.currentRound !== null ? ` (round ${task.currentRound + 1})` : ""}`;
    try {
      const result = finishResult(this.a, task, kind, await proc.run(taskName, kind, task, this.a.task_timeout * 1000), this.logged.metrics, where);
      this.last.note(kind, result);
      const asDiff = this.a.params_transfer_type === "DIFF" && kind === "train" && result.paramsType !== "DIFF" && Object.keys(task.params).length > 0;
      return encode(this.logged.withSeries(asDiff ? diffFromTask(task, result, where) : result));
    } catch (err) {
      if (err instanceof CohortError)
        throw new CohortError(err.code, err.message.startsWith(this.label) ? `${err.message} (${where})` : `${where}: ${err.message}`, err.details);
      throw err;
    } finally {
      if (!this.a.launch_once) {
        proc.stop("task done (launch_once is false)", this.a.stop_grace * 1000);
        this.proc = undefined;
      }
    }
  }

  private ensureProcess(ctx: ClientJobContext): ScriptProcess {
    if (this.proc?.alive) return this.proc;
    const cwd = customDirOf(ctx);
    const [first = "", ...rest] = this.a.command;
    const file = first === "python3" || first === "python" ? this.a.interpreter : first.includes("/") && !isAbsolute(first) ? resolve(cwd, first) : first;
    // python/ (cohort_flare), then the `nvflare` shim for unchanged FLARE scripts (python/flare_shim/README.md).
    const pythonPath = [cohortPythonDir(), join(cohortPythonDir(), "flare_shim"), ...this.a.python_path.map((p) => resolve(cwd, p))].join(":");
    // Only what the script needs: its channel, a PATH, Python's settings. No kit paths, keys or tokens.
    const env: Record<string, string> = {
      PATH: process.env["PATH"] ?? PATH_FALLBACK,
      LANG: "C.UTF-8",
      PYTHONPATH: pythonPath,
      PYTHONUNBUFFERED: "1",
      PYTHONDONTWRITEBYTECODE: "1",
      ...this.a.env,
      COHORT_CLIENT_API_FD: "3",
      // The GPUs the site reserved for the job (set by the site in the job process): the job cannot widen them.
      ...(process.env["CUDA_VISIBLE_DEVICES"] !== undefined ? { CUDA_VISIBLE_DEVICES: process.env["CUDA_VISIBLE_DEVICES"] } : {}),
      // Read by cohort_flare.params_format: torch is imported only when this says pytorch.
      COHORT_PARAMS_EXCHANGE_FORMAT: this.a.params_exchange_format,
    };
    const config = withDataDir(this.a.config, () => findFashionMnist().dir);
    ctx.log(`starting ${[file, ...rest].join(" ")} in ${cwd}`);
    this.proc = new ScriptProcess({
      argv: [file, ...rest],
      cwd,
      env,
      label: this.label,
      hello: { site: ctx.site, job_id: ctx.jobId, job_name: ctx.jobName, sites: [...ctx.sites].sort(), config },
      maxMessageBytes: Math.min(MAX_CHANNEL_MESSAGE_BYTES, this.a.max_message_mb * 1024 * 1024),
      log: (line) => ctx.log(line),
      onOutputCut: (what) => ctx.outputLimit?.(what),
      onLog: (key, value, step, writer) => {
        this.logged.note(key, value, step);
        const about = [step !== undefined ? `step ${step}` : "", writer ? `writer ${writer}` : ""].filter(Boolean).join(", ");
        ctx.log(`${this.label} metric ${key}=${String(value)}${about ? ` (${about})` : ""}`);
      },
    });
    const started = this.proc;
    void started.exited.then(() => {
      if (this.proc === started && !this.stopped) ctx.log(`${this.label} (pid ${started.pid ?? "?"}) ended`);
    });
    return this.proc;
  }

  private shutdown(reason: string): void {
    this.stopped = true;
    this.proc?.stop(reason, this.a.stop_grace * 1000);
  }
}
