/**
 * FLARE's numpy family (nvflare.app_common.np) beside NPModelPersistor, with the numpy model layout
 * of np-persistor.ts (one float32 tensor with its shape under `numpy_key`):
 * - NPModelLocator (server): the server's models for CrossSiteModelEval's `model_locator_id`,
 *   `<run>/<model_dir>/<file>` for each name of `model_name` (FLARE's default: "server" →
 *   models/server.npy, what NPModelPersistor writes). Paths stay inside the server's run folder.
 * - NPTrainer (site): adds `delta` to every weight of a `train` task's model, keeps the result in
 *   `<run>/<model_dir>/<model_name>` and answers `submit_model` with it.
 * - NPValidator (site): a `validate` task's accuracy, FLARE's sum(w / max(w)) plus a random number
 *   in [0, 1) (FLARE's `epsilon` argument is unused there too).
 * - NPFormatter (server): the cross-site matrix as FLARE's formatter writes it, the text of a Python
 *   dict; CrossSiteModelEval logs it when its `formatter_id` names one.
 * Each class takes FLARE's arguments and refuses others, as FLARE's constructors do.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";
import { decode, encode, FLModel, Tensor, type WireRecord } from "../../wire/index.js";
import type { CrossSiteFormatter, CrossSiteMatrix, ServerModelLocator } from "./cross-site-eval.js";
import { TrainerErrorCode, WorkflowErrorCode } from "./errors.js";
import { widgetArgs } from "./flare-widgets.js";
import { NUMPY_KEY } from "./np-persistor.js";
import { decodeNpy, encodeNpy } from "./npy.js";
import { type ClientJobContext, type Executor, registerComponent } from "./registry.js";

const NP = "nvflare.app_common.np";

/** A path inside the job's run folder: relative, without `..` (FLARE joins it to the run folder as given). */
const inRunFolder = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((p, c) => {
    const why = isAbsolute(p) || p.startsWith("\\") ? "is an absolute path" : p.split(/[\\/]/).includes("..") ? "climbs out with '..'" : undefined;
    if (why) c.addIssue({ code: "custom", message: `${JSON.stringify(p)} ${why}: give a path inside the job's run folder` });
  });
const seconds = z.number().min(0).max(86_400);
const taskName = z.string().min(1).max(256);

/** `rel` in `runDir` with links resolved, refused when that leaves the run folder. */
function insideRunFolder(runDir: string, rel: string, who: string): string {
  const real = realpathSync(join(runDir, rel));
  if (!real.startsWith(realpathSync(runDir) + sep))
    throw new CohortError(WorkflowErrorCode.BadModel, `${who}: ${rel} leads outside the job's run folder (through a link): refused`, { path: rel });
  return real;
}

/** The file `rel` of the run folder (see insideRunFolder), or undefined when there is none. */
function fileInRunFolder(runDir: string, rel: string, who: string): string | undefined {
  if (!existsSync(join(runDir, rel))) return undefined;
  const real = insideRunFolder(runDir, rel, who);
  if (!statSync(real).isFile()) throw new CohortError(WorkflowErrorCode.BadModel, `${who}: ${rel} is not a file`, { path: rel });
  return real;
}

/** FLARE's arguments, and only those (its constructors refuse others): refusals name the class. */
function flareArgs<T>(schema: z.ZodType<T> & { readonly shape: object }, cls: string, args: Record<string, unknown>): T {
  const extra = Object.keys(args).filter((k) => !(k in schema.shape));
  if (extra.length > 0)
    throw new CohortError(WorkflowErrorCode.Config, `FLARE's ${cls} has no argument ${extra.map((k) => JSON.stringify(k)).join(", ")}`, { component: cls });
  return widgetArgs(schema, cls, args);
}

/** The model's `numpy_key` tensor as float32 data and shape; refused with FLARE's reasons (not WEIGHTS, no numpy_key). */
function numpyWeights(m: FLModel, who: string): { data: Float32Array; shape: readonly number[] } {
  if (m.paramsType === "DIFF") throw new CohortError(TrainerErrorCode.Task, `${who} takes a model of kind WEIGHTS (FULL); the task has a DIFF`, {});
  const v = m.params[NUMPY_KEY];
  const data = v instanceof Tensor ? v.data : v;
  if (!(data instanceof Float32Array || data instanceof Float64Array) || data.length === 0)
    throw new CohortError(
      TrainerErrorCode.Task,
      `${who}: the task's model has no float array under ${NUMPY_KEY} (it has ${Object.keys(m.params).join(", ") || "no parameters"})`,
      {},
    );
  return { data: Float32Array.from(data), shape: v instanceof Tensor ? v.shape : [data.length] };
}

function taskModel(payload: Uint8Array, who: string): FLModel {
  const m = decode(payload);
  if (!(m instanceof FLModel)) throw new CohortError(TrainerErrorCode.Task, `${who}: the task's data is not an FLModel`, {});
  return m;
}

const unknownTask = (who: string, name: string, known: readonly string[]): CohortError =>
  new CohortError(TrainerErrorCode.Task, `${who} has no task ${JSON.stringify(name)} (it runs ${known.join(", ")})`, { task: name });

/** FLARE's executors wait `sleep_time` seconds before each task (abort ends the wait). */
const pause = (s: number, signal: AbortSignal): Promise<void> => (s > 0 ? sleep(s * 1000, undefined, { signal }) : Promise.resolve());

export const npModelLocatorArgs = z.object({
  model_dir: inRunFolder.default("models"),
  model_name: z
    .union([inRunFolder, z.record(z.string().regex(/^[^\u0000-\u001f\u007f]{1,128}$/, "must be 1 to 128 printable characters"), inRunFolder)])
    .nullable()
    .default("server.npy"),
});

export class NPModelLocator implements ServerModelLocator {
  /** FLARE's NPModelLocator.SERVER_MODEL_NAME: the name a single file is evaluated under. */
  static readonly SERVER_MODEL_NAME = "server";
  private readonly files: ReadonlyMap<string, string>;

  constructor(
    private readonly a: z.infer<typeof npModelLocatorArgs>,
    private readonly runDir: string,
  ) {
    // FLARE: None means "server.npy", a str names the one "server" model, a dict names each model.
    const names = a.model_name ?? "server.npy";
    this.files = new Map(Object.entries(typeof names === "string" ? { [NPModelLocator.SERVER_MODEL_NAME]: names } : names));
  }

  getModelNames(): string[] {
    return [...this.files.keys()];
  }

  locateModel(name: string): WireRecord {
    const who = "NPModelLocator";
    const file = this.files.get(name);
    if (file === undefined) throw new CohortError(WorkflowErrorCode.Config, `${who} has no model named ${JSON.stringify(name)}`, { model: name });
    const rel = join(this.a.model_dir, file);
    const path = fileInRunFolder(this.runDir, rel, who);
    if (!path)
      throw new CohortError(
        WorkflowErrorCode.BadModel,
        `${who}: model ${name} (${rel}) is not in the server's run folder (NPModelPersistor writes models/server.npy)`,
        {
          model: name,
        },
      );
    const { data, shape } = decodeNpy(readFileSync(path), rel);
    return { [NUMPY_KEY]: new Tensor(data, shape) };
  }
}

export const npTrainerArgs = z.object({
  delta: z.number({ message: "delta must be a number (FLARE: float or int)" }).finite().default(1),
  sleep_time: seconds.default(0),
  train_task_name: taskName.default("train"),
  submit_model_task_name: taskName.default("submit_model"),
  model_name: inRunFolder.default("best_numpy.npy"),
  model_dir: inRunFolder.default("model"),
});

export class NPTrainer implements Executor {
  constructor(private readonly a: z.infer<typeof npTrainerArgs>) {}

  async execute(name: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    await pause(this.a.sleep_time, ctx.signal);
    if (name === this.a.train_task_name) return this.train(taskModel(payload, "NPTrainer"), ctx);
    if (name === this.a.submit_model_task_name) return this.submit(ctx);
    throw unknownTask("NPTrainer", name, [this.a.train_task_name, this.a.submit_model_task_name]);
  }

  private get localModel(): string {
    return join(this.a.model_dir, this.a.model_name);
  }

  private train(m: FLModel, ctx: ClientJobContext): Uint8Array {
    const { data, shape } = numpyWeights(m, "NPTrainer");
    // numpy adds a Python number to a float32 array in float32 (NEP 50).
    const delta = Math.fround(this.a.delta);
    const trained = data.map((w) => w + delta);
    mkdirSync(join(ctx.runDir, this.a.model_dir), { recursive: true });
    // Written by rename (a link in its place is replaced, not followed), in a folder of the run folder.
    const dir = insideRunFolder(ctx.runDir, this.a.model_dir, "NPTrainer");
    writeDurable(join(dir, this.a.model_name), encodeNpy(trained, shape), 0o644, { fsync: false });
    ctx.log(`NPTrainer: added ${this.a.delta} to the model of round ${m.currentRound ?? "?"}, kept in ${this.localModel}`);
    return encode(
      new FLModel({
        params: { ...m.params, [NUMPY_KEY]: new Tensor(trained, shape) },
        paramsType: "FULL",
        currentRound: m.currentRound,
        meta: { NUM_STEPS_CURRENT_ROUND: 1 },
      }),
    );
  }

  private submit(ctx: ClientJobContext): Uint8Array {
    const path = fileInRunFolder(ctx.runDir, this.localModel, "NPTrainer");
    if (!path)
      throw new CohortError(
        TrainerErrorCode.NoModel,
        `NPTrainer at ${ctx.site} has no local model to submit (${this.localModel}): no train task has completed`,
        {},
      );
    const { data, shape } = decodeNpy(readFileSync(path), this.localModel);
    return encode(new FLModel({ params: { [NUMPY_KEY]: new Tensor(data, shape) }, paramsType: "FULL", meta: { model_owner: ctx.site } }));
  }
}

export const npValidatorArgs = z.object({
  /** Unused, as in FLARE (its NPValidator adds numpy.random.random()). */
  epsilon: z.number().finite().default(1),
  sleep_time: seconds.default(0),
  validate_task_name: taskName.default("validate"),
});

export class NPValidator implements Executor {
  constructor(
    private readonly a: z.infer<typeof npValidatorArgs>,
    private readonly random: () => number = Math.random,
  ) {}

  async execute(name: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    await pause(this.a.sleep_time, ctx.signal);
    if (name !== this.a.validate_task_name) throw unknownTask("NPValidator", name, [this.a.validate_task_name]);
    const m = taskModel(payload, "NPValidator");
    const { data } = numpyWeights(m, "NPValidator");
    const max = data.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
    if (max === 0) throw new CohortError(TrainerErrorCode.Task, "NPValidator: the model's largest weight is 0, so sum(w / max(w)) is not a number", {});
    const accuracy = data.reduce((sum, w) => sum + w / max, 0) + this.random();
    ctx.log(`NPValidator: ${String(m.meta["model_owner"] ?? "?")}'s model has accuracy ${accuracy}`);
    return encode(new FLModel({ metrics: { accuracy }, meta: {} }));
  }
}

/** Python's repr of a float: the shortest digits that read back, exponent form outside [1e-4, 1e16). */
function pyFloat(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
  const [mantissa = "", exp = "0"] = v.toExponential().split("e");
  const e = Number(exp);
  if (v !== 0 && (e < -4 || e >= 16)) return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  const s = String(v);
  return s.includes(".") ? s : `${s}.0`;
}

const pyStr = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const pyDict = (entries: [string, string][]): string => `{${entries.map(([k, v]) => `${pyStr(k)}: ${v}`).join(", ")}}`;

export class NPFormatter implements CrossSiteFormatter {
  /** FLARE's `f"{res}"` of {site: {model: metrics}}: sites with results, cells that hold metrics. */
  format(matrix: CrossSiteMatrix): string {
    const rows = Object.entries(matrix).filter(([, row]) => Object.keys(row).length > 0);
    return pyDict(
      rows.map(([site, row]) => [
        site,
        pyDict(
          Object.entries(row)
            .filter(([, cell]) => !("error" in cell))
            .map(([model, cell]) => [model, pyDict(Object.entries(cell).map(([k, v]) => [k, pyFloat(v as number)]))]),
        ),
      ]),
    );
  }
}

registerComponent({
  paths: [`${NP}.np_model_locator.NPModelLocator`],
  kind: "component",
  create: (args, ctx) => new NPModelLocator(flareArgs(npModelLocatorArgs, "NPModelLocator", args), ctx.runDir),
});
registerComponent({
  paths: [`${NP}.np_formatter.NPFormatter`],
  kind: "component",
  create: (args) => {
    flareArgs(z.object({}), "NPFormatter", args);
    return new NPFormatter();
  },
});
registerComponent({
  paths: [`${NP}.np_trainer.NPTrainer`],
  kind: "executor",
  create: (args) => new NPTrainer(flareArgs(npTrainerArgs, "NPTrainer", args)),
});
registerComponent({
  paths: [`${NP}.np_validator.NPValidator`],
  kind: "executor",
  create: (args) => new NPValidator(flareArgs(npValidatorArgs, "NPValidator", args)),
});
