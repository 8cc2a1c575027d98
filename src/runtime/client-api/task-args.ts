/** Arguments and result handling shared by the in-process and external-process Client API executors. */
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, FLModel } from "../../wire/index.js";
import { taskKind, type TaskKind } from "./channel.js";
import { conformResult, withLoggedMetrics } from "./conform.js";
import { ClientApiErrorCode } from "./errors.js";
import { TrainerErrorCode } from "../components/errors.js";

export const clientApiTaskArgs = z.object({
  /** Seconds a task may take (0 = no limit); past it the task fails at this site. */
  task_timeout: z.number().min(0).default(0),
  /** Handed to the training code (get_config()/getConfig()); `data_dir` defaults to the site's Fashion-MNIST folder. */
  config: z.record(z.string(), z.unknown()).default({}),
  train_task_name: z.string().default("train"),
  evaluate_task_name: z.string().default("validate"),
  submit_model_task_name: z.string().default("submit_model"),
  /** false: the executor answers submit_model with the code's last trained model (FLARE scripts rarely handle it). */
  submit_model_by_script: z.boolean().default(false),
  /** Bring results to the task model's names, element types and shapes (refusing other counts). */
  conform_params: z.boolean().default(true),
});
export type ClientApiTaskArgs = z.infer<typeof clientApiTaskArgs>;

/** Decodes a task payload and classifies it. */
export function readTask(taskName: string, payload: Uint8Array, a: ClientApiTaskArgs): { model: FLModel; kind: TaskKind } {
  const model = decode(payload);
  if (!(model instanceof FLModel)) throw new CohortError(TrainerErrorCode.Task, `task ${taskName} did not carry an FLModel`, {});
  return { model, kind: taskKind(taskName, { train: a.train_task_name, evaluate: a.evaluate_task_name, submitModel: a.submit_model_task_name }) };
}

/** Remembers the last trained model, for submit_model (cross-site evaluation). */
export class LastModel {
  private model: FLModel | undefined;

  note(kind: TaskKind, result: FLModel): void {
    if (kind === "train" && Object.keys(result.params).length > 0)
      this.model = new FLModel({ params: result.params, paramsType: result.paramsType, meta: {}, currentRound: result.currentRound });
  }

  submit(site: string, trainTask: string): FLModel {
    if (!this.model)
      throw new CohortError(ClientApiErrorCode.BadResult, `${site} has no locally trained model to submit yet (no ${trainTask} task has completed)`, {});
    return this.model;
  }
}

/** The result as the site returns it: conformed to the task's model, with logged metrics merged. */
export function finishResult(
  a: ClientApiTaskArgs,
  task: FLModel,
  kind: TaskKind,
  result: FLModel,
  logged: ReadonlyMap<string, number>,
  where: string,
): FLModel {
  const conformed = a.conform_params ? conformResult(task, kind, result, where) : result;
  return withLoggedMetrics(conformed, logged);
}

/** `data_dir` for the code's config: the executor's, else the site's default dataset folder. */
export function withDataDir(config: Record<string, unknown>, find: () => string): Record<string, unknown> {
  const out = { ...config };
  if (out["data_dir"] === undefined) {
    try {
      out["data_dir"] = find();
    } catch {
      // no default dataset at this site: the code's own config must say where its data is
    }
  }
  return out;
}
