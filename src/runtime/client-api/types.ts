/**
 * The TypeScript Client API, as training code in a job's custom/ folder sees it: FLARE's
 * `nvflare.client` names in camelCase. Custom code cannot import Cohort, so it receives this
 * object; these types let it be written in TypeScript (`import type { ClientApi } from …`).
 */
import type { FLModel, FLModelInit } from "../../wire/index.js";
import type { WireApi } from "../components/registry.js";
import type { TaskKind } from "./channel.js";

export type { FLModel, FLModelInit, ParamsType } from "../../wire/index.js";
export type { TaskKind } from "./channel.js";

export interface ClientApiSystemInfo {
  readonly siteName: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly sites: readonly string[];
}

export interface ClientApi {
  /** FLARE's init(): nothing to connect in process; kept so scripts port unchanged. */
  init(): void;
  /**
   * The current task's model, waiting for the next task if there is none; `undefined` once the job
   * ends (or after `timeoutMs` without a task).
   */
  receive(timeoutMs?: number): Promise<FLModel | undefined>;
  /** Answers the current task (an FLModel or its fields; params as typed arrays or Tensors). */
  send(model: FLModel | FLModelInit): void;
  /** False once the job is ending. */
  isRunning(): boolean;
  isTrain(): boolean;
  isEvaluate(): boolean;
  isSubmitModel(): boolean;
  getTaskName(): string | undefined;
  getTaskKind(): TaskKind | undefined;
  getSiteName(): string;
  getJobId(): string;
  /** The executor's `config` argument (with `data_dir`, the site's dataset folder, by default). */
  getConfig(): Readonly<Record<string, unknown>>;
  systemInfo(): ClientApiSystemInfo;
  /** A metric (number: joins this task's result metrics, which the server reports) or a note; both reach the site log. */
  log(key: string, value: number | string | boolean, step?: number): void;
  /** Writes a line to the site log. */
  print(line: string): void;
  /** The FLModel class and the rest of the wire API (custom code cannot import Cohort). */
  readonly FLModel: typeof FLModel;
  readonly wire: WireApi;
  /** Aborted when the job ends. */
  readonly signal: AbortSignal;
}

/** What `module`'s `export` must be: a training loop over receive()/send(). */
export type TrainingFunction = (flare: ClientApi) => Promise<void> | void;
