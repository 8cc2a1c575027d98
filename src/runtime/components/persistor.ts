import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { writeFileAtomic as writeDurable } from "../../pki/index.js";

/** Job children run under the permission model, where fsync is disabled: write-and-rename only. */
const writeFileAtomic = (path: string, data: string | Uint8Array): void => writeDurable(path, data, 0o644, { fsync: false });
import { decode, encode, FLModel, type WireRecord } from "../../wire/index.js";
import { initParams } from "../learn/models.js";
import { modelArgs, type ModelArgs } from "./model-spec.js";
import { WorkflowErrorCode } from "./errors.js";

export const persistorArgs = modelArgs.extend({
  /** The metric that picks the best model (higher is better). */
  best_metric: z.string().default("accuracy"),
});

type Params = Record<string, Float32Array>;

/**
 * What workflows need from a persistor (FLARE's ModelPersistor): the initial or resumed global
 * model, a save per round, the round metrics, and the final model. Parameters are flat float32
 * arrays or tensors (numpy-shaped models keep their shape).
 */
export interface GlobalModelPersistor {
  load(resume: boolean): { params: WireRecord; round?: number };
  save(round: number, params: WireRecord): void;
  noteMetrics(round: number, metrics: Record<string, number>): void;
  finish(params: WireRecord, metrics: Record<string, number>): void;
}

/** FLARE's model inventory (ModelPersistor.get_model_inventory / get): the models a persistor can hand out by name. */
export interface ModelInventory {
  modelInventory(): string[];
  /** The named model's parameters; throws with the reason when it cannot be read. */
  modelNamed(name: string): WireRecord;
}

export const isModelInventory = (c: unknown): c is ModelInventory =>
  typeof c === "object" && c !== null && typeof (c as ModelInventory).modelInventory === "function" && typeof (c as ModelInventory).modelNamed === "function";

/**
 * Saves the global model after every round (`models/global_model.cohort`, wire-encoded FLModel,
 * with `models/checkpoint.json` naming the round) and keeps the best one by `best_metric`
 * (`models/best_model.cohort`). A resumed job starts from the checkpoint.
 */
export class ModelPersistor implements GlobalModelPersistor, ModelInventory {
  private readonly dir: string;
  private best = -Infinity;

  constructor(
    private readonly a: z.infer<typeof persistorArgs>,
    runDir: string,
  ) {
    this.dir = join(runDir, "models");
    mkdirSync(this.dir, { recursive: true });
  }

  get modelArgs(): ModelArgs {
    return this.a;
  }

  load(resume: boolean): { params: Params; round?: number } {
    const ckpt = join(this.dir, "checkpoint.json");
    if (resume && existsSync(ckpt)) {
      const { round, best } = z.object({ round: z.number().int(), best: z.number().optional() }).parse(JSON.parse(readFileSync(ckpt, "utf8")));
      const model = decode(readFileSync(join(this.dir, "global_model.cohort")));
      if (model instanceof FLModel) {
        this.best = best ?? -Infinity;
        return { params: model.params as Params, round };
      }
    }
    return { params: initParams(this.a.model, this.a.features, this.a.classes, this.a.seed) };
  }

  save(round: number, params: WireRecord): void {
    writeFileAtomic(join(this.dir, "global_model.cohort"), encode(new FLModel({ params, paramsType: "FULL", currentRound: round, meta: {} })));
    writeFileAtomic(
      join(this.dir, "checkpoint.json"),
      JSON.stringify({ round, best: Number.isFinite(this.best) ? this.best : undefined, saved: new Date().toISOString() }),
    );
  }

  /** Called with the metrics of the global model of `round` (still the one on disk). */
  noteMetrics(round: number, metrics: Record<string, number>): void {
    const value = metrics[this.a.best_metric];
    if (value === undefined || value <= this.best) return;
    this.best = value;
    copyFileSync(join(this.dir, "global_model.cohort"), join(this.dir, "best_model.cohort"));
    writeFileAtomic(join(this.dir, "best.json"), JSON.stringify({ round: round + 1, [this.a.best_metric]: value }));
  }

  finish(params: WireRecord, metrics: Record<string, number>): void {
    writeFileAtomic(join(this.dir, "global_model.cohort"), encode(new FLModel({ params, paramsType: "FULL", metrics, meta: { final: true } })));
    writeFileAtomic(join(this.dir, "final_metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`);
  }

  /** The final model (after `finish`) as `global_model` and the best one as `best_model`, when this run has them. */
  modelInventory(): string[] {
    const names: string[] = [];
    const global = this.readModel("global_model");
    if (global?.meta["final"] === true) names.push("global_model");
    if (existsSync(join(this.dir, "best_model.cohort"))) names.push("best_model");
    return names;
  }

  modelNamed(name: string): WireRecord {
    if (!this.modelInventory().includes(name))
      throw new CohortError(
        WorkflowErrorCode.BadModel,
        `the persistor has no model named ${JSON.stringify(name.slice(0, 200))} (it has ${this.modelInventory().join(", ") || "none"})`,
        {
          name: name.slice(0, 200),
        },
      );
    return (this.readModel(name) as FLModel).params;
  }

  private readModel(name: string): FLModel | undefined {
    const file = join(this.dir, `${name}.cohort`);
    if (!existsSync(file)) return undefined;
    const m = decode(readFileSync(file));
    return m instanceof FLModel ? m : undefined;
  }
}
