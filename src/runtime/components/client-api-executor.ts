/**
 * FLARE's in-process Client API for TypeScript/JavaScript training code in the job's custom/
 * folder: `module` exports `export` (default `main`), a function that loops over
 * `flare.receive()` / `flare.send()` (src/runtime/client-api/types.ts). It runs inside the job
 * child, under its sandbox; nothing is started.
 */
import { existsSync } from "node:fs";
import { join, normalize, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { encode } from "../../wire/index.js";
import { findFashionMnist } from "../datasets/index.js";
import { TaskLoggedValues } from "../client-api/logged-values.js";

import { customDirOf } from "../client-api/app-dir.js";
import { InProcessSession } from "../client-api/in-process.js";
import { clientApiTaskArgs, finishResult, LastModel, readTask, withDataDir } from "../client-api/task-args.js";
import type { TrainingFunction } from "../client-api/types.js";
import type { ClientJobContext, Executor, JobContextBase } from "./registry.js";
import { ClientApiErrorCode } from "../client-api/errors.js";

export const clientApiExecutorArgs = clientApiTaskArgs.extend({
  /** A module in the app's custom/ folder: "train", "train.js" or "lib/train.mjs". */
  module: z
    .string()
    .min(1)
    .max(256)
    .refine((m) => !normalize(m).split(sep).includes("..") && !m.startsWith("/"), "must be a path inside custom/"),
  export: z
    .string()
    .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/)
    .default("main"),
});
export type ClientApiExecutorArgs = z.infer<typeof clientApiExecutorArgs>;

export class ClientApiExecutor implements Executor {
  private session: InProcessSession | undefined;
  private fn: TrainingFunction | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly last = new LastModel();
  private readonly logged = new TaskLoggedValues();

  constructor(
    private readonly a: ClientApiExecutorArgs,
    ctx: JobContextBase,
  ) {
    ctx.signal.addEventListener(
      "abort",
      () => this.session?.stop(new CohortError(ClientApiErrorCode.Stopped, `the job is stopping (${String(ctx.signal.reason ?? "ended")})`, {})),
      { once: true },
    );
  }

  execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    const run = this.queue.then(() => this.runOne(taskName, payload, ctx));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runOne(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    if (ctx.signal.aborted) throw new CohortError(ClientApiErrorCode.Stopped, `task ${taskName}: the job is stopping`, {});
    const { model: task, kind } = readTask(taskName, payload, this.a);
    if (kind === "submit_model" && !this.a.submit_model_by_script) return encode(this.last.submit(ctx.site, this.a.train_task_name));
    const session = await this.ensureSession(ctx);
    this.logged.reset();
    const where = `${this.a.module}.${this.a.export} at ${ctx.site}, task ${taskName}${task.currentRound !== null ? ` (round ${task.currentRound + 1})` : ""}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = session.deliver(taskName, kind, task);
      const timeout =
        this.a.task_timeout > 0
          ? new Promise<never>((_, reject) => {
              timer = setTimeout(() => {
                // The function cannot be killed in process: this run ends, the next task starts a new one.
                const err = new CohortError(
                  ClientApiErrorCode.Timeout,
                  `${where}: no answer within ${this.a.task_timeout} s; the training function was abandoned (the next task starts it again)`,
                  {},
                );
                session.stop(err);
                reject(err);
              }, this.a.task_timeout * 1000);
            })
          : undefined;
      const result = await (timeout ? Promise.race([answer, timeout]) : answer);
      const out = this.logged.withSeries(finishResult(this.a, task, kind, result, this.logged.metrics, where));
      this.last.note(kind, out);
      return encode(out);
    } catch (err) {
      if (err instanceof CohortError && !err.message.includes(where)) throw new CohortError(err.code, `${where}: ${err.message}`, err.details);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async load(ctx: ClientJobContext): Promise<TrainingFunction> {
    if (this.fn) return this.fn;
    const dir = customDirOf(ctx);
    const base = join(dir, this.a.module);
    const file = [base, `${base}.js`, `${base}.mjs`].find((f) => /\.m?js$/.test(f) && existsSync(f));
    if (!file)
      throw new CohortError(ClientApiErrorCode.Config, `module ${JSON.stringify(this.a.module)} not found in ${dir} (looked for .js and .mjs)`, {
        module: this.a.module,
      });
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      // Job code never sees Cohort's modules (it runs confined, outside the package): say what to use instead.
      // The package is @cohort-fl/cohort; job code may also try its command's name.
      const imported = /Cannot find package '(cohort|@cohort-fl\/cohort)'/.exec(String(err))?.[1];
      if (imported)
        throw new CohortError(
          ClientApiErrorCode.Config,
          `${file} imports "${imported}", which job code cannot load: use the \`flare\` argument of main() and ctx.wire (encode, decode, FLModel, DXO, Tensor, Shareable)`,
          { module: this.a.module },
          { cause: err },
        );
      throw err;
    }
    const fn = mod[this.a.export];
    if (typeof fn !== "function")
      throw new CohortError(
        ClientApiErrorCode.Config,
        `${file} does not export a function ${JSON.stringify(this.a.export)} (exports: ${Object.keys(mod).join(", ") || "none"})`,
        { module: this.a.module },
      );
    this.fn = fn as TrainingFunction;
    return this.fn;
  }

  /** The running training function, started on the first task and again after it ended. */
  private async ensureSession(ctx: ClientJobContext): Promise<InProcessSession> {
    if (this.session?.running) return this.session;
    const fn = await this.load(ctx);
    const config = withDataDir(this.a.config, () => findFashionMnist().dir);
    const session = new InProcessSession(ctx, config, (key, value, step) => {
      if (this.session === session) this.logged.note(key, value, step);
      ctx.log(`${this.a.module} metric ${key}=${String(value)}${step !== undefined ? ` (step ${step})` : ""}`);
    });
    this.session = session;
    const label = `${this.a.module}.${this.a.export}`;
    Promise.resolve()
      .then(() => fn(session))
      .then(
        () => session.stop(new CohortError(ClientApiErrorCode.Exited, `${label} returned before answering its task`, {})),
        (err: unknown) => {
          const message = err instanceof Error ? err.message : String(err);
          ctx.warn(`${label} failed: ${err instanceof Error ? (err.stack ?? message) : message}`.slice(0, 3000));
          session.stop(new CohortError(ClientApiErrorCode.ScriptError, `${label} threw: ${message}`.slice(0, 2000), {}));
        },
      );
    return session;
  }
}
