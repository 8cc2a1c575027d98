/**
 * FLARE's NPModelPersistor: a numpy model under the key `numpy_key`, from `initial_model` (a nested
 * list; FLARE's default [[1, 2, 3], [4, 5, 6], [7, 8, 9]]) as float32, saved after every round as
 * `<run>/<model_dir>/<model_name>` (default models/server.npy, what numpy.load reads), and read back
 * from there when the job resumes.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { runFolderName } from "./arg-schemas.js";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";
import { Tensor, type WireRecord } from "../../wire/index.js";
import { decodeNpy, encodeNpy } from "./npy.js";
import type { GlobalModelPersistor } from "./persistor.js";
import { WorkflowErrorCode } from "./errors.js";

/** FLARE's NPConstants.NUMPY_KEY. */
export const NUMPY_KEY = "numpy_key";
const DEFAULT_MODEL = [
  [1, 2, 3],
  [4, 5, 6],
  [7, 8, 9],
];
/** Elements an initial model written in the job config may hold (configs are small; models come from files). */
const MAX_INITIAL_ELEMENTS = 1 << 20;

export const npPersistorArgs = z.object({
  model_dir: runFolderName.default("models"),
  model_name: runFolderName.default("server.npy"),
  initial_model: z.unknown().optional(),
  /** The name newer FLARE versions give the initial model (job.export() writes it). */
  model: z.unknown().optional(),
});

/** A nested list of numbers (any depth, rectangular) as float32 data and its shape. */
export function tensorFromNested(value: unknown, field: string): Tensor<Float32Array> {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  const count = shape.reduce((a, d) => a * d, 1);
  if (shape.length === 0 || count === 0 || count > MAX_INITIAL_ELEMENTS)
    throw new CohortError(WorkflowErrorCode.BadModel, `${field} must be a non-empty nested list of numbers of at most ${MAX_INITIAL_ELEMENTS} elements`, {
      field,
    });
  const data = new Float32Array(count);
  let i = 0;
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new CohortError(WorkflowErrorCode.BadModel, `${field}${path} is ${JSON.stringify(v)}, not a finite number`, { field });
      data[i++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth])
      throw new CohortError(WorkflowErrorCode.BadModel, `${field}${path} must be a list of ${shape[depth]} (the model must be rectangular)`, { field });
    v.forEach((x, j) => walk(x, depth + 1, `${path}[${j}]`));
  };
  walk(value, 0, "");
  return new Tensor(data, shape);
}

export class NPModelPersistor implements GlobalModelPersistor {
  private readonly file: string;

  constructor(
    private readonly a: z.infer<typeof npPersistorArgs>,
    runDir: string,
  ) {
    const dir = join(runDir, a.model_dir);
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, a.model_name);
  }

  load(resume: boolean): { params: WireRecord } {
    // FLARE loads a saved model when there is one; a fresh run dir has none, so this is a resume.
    if (resume && existsSync(this.file)) {
      const { data, shape } = decodeNpy(readFileSync(this.file), this.file);
      return { params: { [NUMPY_KEY]: new Tensor(data, shape) } };
    }
    return {
      params: {
        [NUMPY_KEY]: tensorFromNested(
          this.a.model ?? this.a.initial_model ?? DEFAULT_MODEL,
          `NPModelPersistor args.${this.a.model !== undefined ? "model" : "initial_model"}`,
        ),
      },
    };
  }

  save(_round: number, params: WireRecord): void {
    const model = params[NUMPY_KEY];
    const data = model instanceof Tensor ? model.data : model;
    if (!(data instanceof Float32Array))
      throw new CohortError(
        WorkflowErrorCode.BadModel,
        `NPModelPersistor saves the float32 array under ${NUMPY_KEY}; the model has ${Object.keys(params).join(", ")}`,
        {},
      );
    writeDurable(this.file, encodeNpy(data, model instanceof Tensor ? model.shape : [data.length]), 0o644, { fsync: false });
  }

  noteMetrics(): void {}

  finish(params: WireRecord, metrics: Record<string, number>): void {
    this.save(-1, params);
    writeDurable(join(this.file, "..", "final_metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`, 0o644, { fsync: false });
  }
}
