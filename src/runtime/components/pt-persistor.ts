/**
 * FLARE's PTFileModelPersistor without Python: Cohort's server never runs Python and cannot unpickle
 * `.pt` files safely, so the initial weights come from a safetensors file in the job
 * (`initial_weights_file`, a path inside the app folder; FLARE's PyTorch recipes exported by the
 * `nvflare` shim write it), and the global model is kept as safetensors (FLARE's file names with a
 * `.safetensors` extension, in `<run>/models/`), which `cohort_flare.safetensors.load_file` reads
 * back into torch. FLARE's `model: {path: "net.Net"}` alone is refused: building a Python class
 * needs Python on the server.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";
import type { WireRecord } from "../../wire/index.js";
import { runFolderName } from "./arg-schemas.js";
import { WorkflowErrorCode } from "./errors.js";
import type { GlobalModelPersistor, ModelInventory } from "./persistor.js";
import { encodeSafetensors, parseSafetensors } from "./safetensors.js";

export const PT_FILE_MODEL_PERSISTOR = "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor";
/** Bytes of an initial weights file (a job carries it; larger models are for a later format). */
export const MAX_INITIAL_WEIGHTS_BYTES = 1024 * 1024 * 1024;

export const ptPersistorArgs = z
  .object({
    /** Cohort's: the initial weights, a safetensors file inside the app folder (e.g. custom/initial_model.safetensors). */
    initial_weights_file: z.string().min(1).max(1024).optional(),
    /** Cohort's: the round metric that picks the best model (higher is better). */
    best_metric: z.string().min(1).default("accuracy"),
    model: z.unknown().optional(),
    exclude_vars: z.string().nullish(),
    global_model_file_name: runFolderName.default("FL_global_model.pt"),
    best_global_model_file_name: runFolderName.default("best_FL_global_model.pt"),
    source_ckpt_file_full_name: z.string().nullish(),
    filter_id: z.string().nullish(),
    load_weights_only: z.boolean().optional(),
    allow_numpy_conversion: z.boolean().optional(),
  })
  .strict();
export type PtPersistorArgs = z.infer<typeof ptPersistorArgs>;

const refuse = (message: string, details: Record<string, unknown> = {}): CohortError =>
  new CohortError(WorkflowErrorCode.Config, `FLARE's PTFileModelPersistor: ${message}`, details);

/** FLARE's file name with the .safetensors extension (FL_global_model.pt -> FL_global_model.safetensors). */
const safetensorsName = (name: string): string => `${name.replace(/\.(pt|pth|ckpt)$/i, "")}.safetensors`;

/** `file` resolved inside `appDir`, refusing absolute paths, `..` and links that lead outside. */
export function fileInApp(appDir: string, file: string, field: string): string {
  const parts = file.split(/[\\/]/);
  if (isAbsolute(file) || parts.includes("..") || file.includes("\0"))
    throw refuse(`${field} ${JSON.stringify(file)} must be a path inside the app folder (no absolute path, no ..)`, { [field]: file });
  const path = join(appDir, file);
  if (!existsSync(path)) throw refuse(`${field} ${JSON.stringify(file)} is not in the app folder`, { [field]: file });
  const real = realpathSync(path);
  const root = realpathSync(appDir);
  const rel = relative(root, real);
  if (rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel) || lstatSync(path).isSymbolicLink())
    throw refuse(`${field} ${JSON.stringify(file)} leads outside the app folder through a link`, { [field]: file });
  if (!statSync(real).isFile()) throw refuse(`${field} ${JSON.stringify(file)} is not a file`, { [field]: file });
  return real;
}

export class PTFileModelPersistor implements GlobalModelPersistor, ModelInventory {
  private readonly dir: string;
  private readonly globalFile: string;
  private readonly bestFile: string;
  private best = Number.NEGATIVE_INFINITY;
  private finished = false;

  constructor(
    private readonly a: PtPersistorArgs,
    runDir: string,
    private readonly appDir: string | undefined,
  ) {
    if (a.source_ckpt_file_full_name)
      throw refuse(
        `source_ckpt_file_full_name ${JSON.stringify(a.source_ckpt_file_full_name)}: Cohort never unpickles .pt checkpoints; save the weights as safetensors in the app folder and name them in initial_weights_file`,
        { source_ckpt_file_full_name: a.source_ckpt_file_full_name },
      );
    if (a.exclude_vars) throw refuse(`exclude_vars is not supported: leave the excluded tensors out of initial_weights_file`, { exclude_vars: a.exclude_vars });
    if (a.filter_id) throw refuse(`filter_id is not supported: use the job's task filters`, { filter_id: a.filter_id });
    if (a.initial_weights_file === undefined)
      throw refuse(
        `${a.model !== undefined ? `model ${JSON.stringify(a.model).slice(0, 200)} names a Python model class, which Cohort cannot build: its server never runs Python. ` : ""}` +
          `Give the initial weights as a safetensors file in the app folder with the argument initial_weights_file (e.g. "custom/initial_model.safetensors"); ` +
          `FLARE's PyTorch FedAvgRecipe exported through Cohort's nvflare shim writes it (docs/flare-compat.md)`,
        { model: a.model ?? null },
      );
    this.dir = join(runDir, "models");
    mkdirSync(this.dir, { recursive: true });
    this.globalFile = join(this.dir, safetensorsName(a.global_model_file_name));
    this.bestFile = join(this.dir, safetensorsName(a.best_global_model_file_name));
  }

  load(resume: boolean): { params: WireRecord } {
    if (resume && existsSync(this.globalFile)) return { params: parseSafetensors(readFileSync(this.globalFile), this.globalFile).params };
    const field = "initial_weights_file";
    const file = this.a.initial_weights_file ?? "";
    if (this.appDir === undefined) throw refuse(`${field} needs the job's app folder, which this context does not have`, { [field]: file });
    const path = fileInApp(this.appDir, file, field);
    const size = statSync(path).size;
    if (size > MAX_INITIAL_WEIGHTS_BYTES)
      throw refuse(`${field} ${JSON.stringify(file)} has ${size} bytes, over ${MAX_INITIAL_WEIGHTS_BYTES}`, { [field]: file, size });
    // Errors name the file as the job names it, never the server's copy.
    return { params: parseSafetensors(readFileSync(path), file).params };
  }

  save(round: number, params: WireRecord): void {
    writeDurable(this.globalFile, encodeSafetensors(params, { round: String(round) }, "PTFileModelPersistor"), 0o644, { fsync: false });
  }

  /** Called with the metrics of the global model of `round` (the one saved last). */
  noteMetrics(round: number, metrics: Record<string, number>): void {
    const value = metrics[this.a.best_metric];
    if (value === undefined || !(value > this.best) || !existsSync(this.globalFile)) return;
    this.best = value;
    writeDurable(this.bestFile, readFileSync(this.globalFile), 0o644, { fsync: false });
    writeDurable(join(this.dir, "best.json"), JSON.stringify({ round: round + 1, [this.a.best_metric]: value }), 0o644, { fsync: false });
  }

  finish(params: WireRecord, metrics: Record<string, number>): void {
    writeDurable(this.globalFile, encodeSafetensors(params, { final: "true" }, "PTFileModelPersistor"), 0o644, { fsync: false });
    writeDurable(join(this.dir, "final_metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`, 0o644, { fsync: false });
    this.finished = true;
  }

  /** The saved models by FLARE's file names (`FL_global_model.pt`, `best_FL_global_model.pt`), as FLARE's PTFileModelLocator names them. */
  savedModels(): Map<string, string> {
    const out = new Map<string, string>();
    if (existsSync(this.globalFile)) out.set(this.a.global_model_file_name, this.globalFile);
    if (existsSync(this.bestFile)) out.set(this.a.best_global_model_file_name, this.bestFile);
    return out;
  }

  /** The final model (after `finish`) as `global_model` and the best one as `best_model`, as ModelPersistor names them. */
  modelInventory(): string[] {
    const names: string[] = [];
    if (this.finished) names.push("global_model");
    if (existsSync(this.bestFile)) names.push("best_model");
    return names;
  }

  modelNamed(name: string): WireRecord {
    if (!this.modelInventory().includes(name))
      throw new CohortError(
        WorkflowErrorCode.BadModel,
        `PTFileModelPersistor has no model named ${JSON.stringify(name.slice(0, 200))} (it has ${this.modelInventory().join(", ") || "none"})`,
        { name: name.slice(0, 200) },
      );
    const file = name === "global_model" ? this.globalFile : this.bestFile;
    return parseSafetensors(readFileSync(file), file).params;
  }
}
