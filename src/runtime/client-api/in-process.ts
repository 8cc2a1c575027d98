/**
 * One run of an in-process training function: tasks handed over by the executor wait in
 * `receive()`, the function's `send()` answers them. One task at a time (the executor queues).
 */
import { CohortError } from "../../errors/index.js";
import { FLModel, type FLModelInit } from "../../wire/index.js";
import type { JobContextBase } from "../components/registry.js";
import type { TaskKind } from "./channel.js";
import type { ClientApi, ClientApiSystemInfo } from "./types.js";
import { ClientApiErrorCode } from "./errors.js";

interface Task {
  readonly name: string;
  readonly kind: TaskKind;
  readonly model: FLModel;
  readonly resolve: (m: FLModel) => void;
  readonly reject: (e: Error) => void;
}

export class InProcessSession implements ClientApi {
  readonly FLModel = FLModel;
  private current: Task | undefined;
  private waiter: ((t: Task | undefined) => void) | undefined;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly ctx: JobContextBase,
    private readonly config: Readonly<Record<string, unknown>>,
    private readonly onLog: (key: string, value: number | string | boolean, step: number | undefined) => void,
  ) {}

  get wire(): JobContextBase["wire"] {
    return this.ctx.wire;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** Hands a task to the function; resolves with what it sends. */
  deliver(name: string, kind: TaskKind, model: FLModel): Promise<FLModel> {
    if (this.stopped) return Promise.reject(new CohortError(ClientApiErrorCode.Stopped, "the training function has stopped", {}));
    return new Promise<FLModel>((resolve, reject) => {
      const task: Task = {
        name,
        kind,
        model,
        resolve: (m) => {
          if (this.current === task) this.current = undefined;
          resolve(m);
        },
        reject: (e) => {
          if (this.current === task) this.current = undefined;
          reject(e);
        },
      };
      this.current = task;
      const w = this.waiter;
      this.waiter = undefined;
      w?.(task);
    });
  }

  /** Ends this run: receive() returns undefined; a task still waiting fails with `err`. */
  stop(err: Error): void {
    this.stopped = true;
    this.abort.abort(err.message);
    this.current?.reject(err);
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
  }

  init(): void {}

  async receive(timeoutMs?: number): Promise<FLModel | undefined> {
    if (this.current) return this.current.model;
    if (this.stopped) return undefined;
    const task = await new Promise<Task | undefined>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.waiter = (t) => {
        clearTimeout(timer);
        resolve(t);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiter = undefined;
          resolve(undefined);
        }, timeoutMs);
      }
    });
    return task?.model;
  }

  send(model: FLModel | FLModelInit): void {
    const task = this.current;
    if (!task) throw new CohortError(ClientApiErrorCode.BadResult, "send(): there is no task to answer; call receive() first", {});
    let m: FLModel;
    try {
      m = model instanceof FLModel ? model : new FLModel(model);
    } catch (err) {
      task.reject(new CohortError(ClientApiErrorCode.BadResult, `send(): not a valid FLModel (${(err as Error).message})`, {}));
      return;
    }
    if (m.currentRound === null && task.model.currentRound !== null)
      m = new FLModel({
        params: m.params,
        paramsType: m.paramsType,
        metrics: m.metrics,
        meta: m.meta,
        currentRound: task.model.currentRound,
        totalRounds: m.totalRounds,
      });
    task.resolve(m);
  }

  isRunning(): boolean {
    return !this.stopped;
  }

  isTrain(): boolean {
    return this.current?.kind === "train";
  }

  isEvaluate(): boolean {
    return this.current?.kind === "evaluate";
  }

  isSubmitModel(): boolean {
    return this.current?.kind === "submit_model";
  }

  getTaskName(): string | undefined {
    return this.current?.name;
  }

  getTaskKind(): TaskKind | undefined {
    return this.current?.kind;
  }

  getSiteName(): string {
    return this.ctx.site;
  }

  getJobId(): string {
    return this.ctx.jobId;
  }

  getConfig(): Readonly<Record<string, unknown>> {
    return this.config;
  }

  systemInfo(): ClientApiSystemInfo {
    return { siteName: this.ctx.site, jobId: this.ctx.jobId, jobName: this.ctx.jobName, sites: [...this.ctx.sites].sort() };
  }

  log(key: string, value: number | string | boolean, step?: number): void {
    this.onLog(String(key).slice(0, 128), value, step);
  }

  print(line: string): void {
    this.ctx.log(String(line).slice(0, 2000));
  }
}
