import { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel } from "../../wire/index.js";
import { evaluate, trainLocal, type Params } from "../learn/models.js";
import { partitionIid, partitionNonIid } from "../learn/partition.js";
import { loadIdxDataset, type Dataset } from "../learn/idx.js";
import { findFashionMnist } from "../datasets/index.js";
import type { ClientJobContext, Executor } from "./registry.js";
import { modelArgs } from "./model-spec.js";
import { TrainerErrorCode } from "./errors.js";

export const trainerArgs = modelArgs.extend({
  epochs: z.number().int().min(1).max(100).default(1),
  batch_size: z.number().int().min(1).max(4096).default(32),
  learning_rate: z.number().positive().max(10).default(0.05),
  momentum: z.number().min(0).max(0.999).default(0),
  /** Folder of IDX files; default Debian's Fashion-MNIST, else the bundled subset. */
  data_dir: z.string().optional(),
  /** How the training set is split across the job's sites (a stand-in for each site's own data). */
  partition: z.enum(["non_iid", "iid"]).default("non_iid"),
  dominant_classes: z.number().int().min(1).default(2),
  dominant_fraction: z.number().min(0).max(1).default(0.8),
  /** Cap on this site's training samples (keeps demos fast). */
  max_train_samples: z.number().int().positive().optional(),
  partition_seed: z.number().int().default(7),
});
export type TrainerArgs = z.infer<typeof trainerArgs>;

interface SiteData {
  readonly train: Dataset;
  readonly test: Dataset;
  readonly trainIdx: Uint32Array;
  readonly testIdx: Uint32Array;
}

/**
 * The built-in site trainer: the site's share of an IDX dataset (Fashion-MNIST by default, split
 * non-IID across the job's sites), the built-in softmax/MLP models. For `train` it first evaluates
 * the received global model on the site's held-out share (that is the global accuracy the server
 * reports), then trains locally and returns its weights with its sample count. `validate` only
 * evaluates.
 */
export class FashionMnistTrainer implements Executor {
  private data: SiteData | undefined;

  constructor(private readonly a: TrainerArgs) {}

  private load(ctx: ClientJobContext): SiteData {
    if (this.data) return this.data;
    const dir = this.a.data_dir ?? findFashionMnist().dir;
    const train = loadIdxDataset(dir, "train");
    const test = loadIdxDataset(dir, "test");
    const sites = [...ctx.sites].sort();
    const me = sites.indexOf(ctx.site);
    if (me < 0) throw new CohortError(TrainerErrorCode.Site, `${ctx.site} is not among the job's sites (${sites.join(", ")})`, {});
    const parts =
      this.a.partition === "iid"
        ? partitionIid(train.labels, sites.length, { seed: this.a.partition_seed })
        : partitionNonIid(train.labels, sites.length, {
            dominantClasses: this.a.dominant_classes,
            dominantFraction: this.a.dominant_fraction,
            seed: this.a.partition_seed,
          });
    let trainIdx = parts[me] ?? new Uint32Array();
    if (this.a.max_train_samples && trainIdx.length > this.a.max_train_samples) trainIdx = trainIdx.slice(0, this.a.max_train_samples);
    // The held-out test set is split evenly: the sites' weighted mean is the accuracy on all of it.
    const testIdx = partitionIid(test.labels, sites.length, { seed: 11 })[me] ?? new Uint32Array();
    ctx.log(`data: ${trainIdx.length} training and ${testIdx.length} test samples from ${dir}`);
    this.data = { train, test, trainIdx, testIdx };
    return this.data;
  }

  async execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array> {
    const global = decode(payload);
    if (!(global instanceof FLModel)) throw new CohortError(TrainerErrorCode.Task, `task ${taskName} did not carry an FLModel`, {});
    const d = this.load(ctx);
    const params = global.params as Params;
    const spec = this.a.model;
    const ev = evaluate(spec, params, { images: d.test.images, labels: d.test.labels, indices: d.testIdx, features: d.test.features, classes: d.test.classes });
    const metrics = { accuracy: ev.accuracy, loss: ev.loss };
    if (taskName !== "train") {
      return encode(new FLModel({ params: {}, paramsType: "FULL", metrics, meta: { eval_samples: ev.count }, currentRound: global.currentRound }));
    }
    const round = global.currentRound ?? 0;
    const r = trainLocal(
      spec,
      params,
      { images: d.train.images, labels: d.train.labels, indices: d.trainIdx, features: d.train.features, classes: d.train.classes },
      {
        epochs: this.a.epochs,
        batchSize: this.a.batch_size,
        learningRate: this.a.learning_rate,
        momentum: this.a.momentum,
        seed: this.a.seed * 1000 + round,
      },
    );
    ctx.log(`round ${round + 1}: global accuracy here ${ev.accuracy.toFixed(4)}; trained on ${r.numSamples} samples, loss ${r.loss.toFixed(4)}`);
    await Promise.resolve();
    return encode(
      new FLModel({
        params: r.params,
        paramsType: "FULL",
        metrics: { ...metrics, train_loss: r.loss },
        meta: { NUM_STEPS_CURRENT_ROUND: r.numSamples, eval_samples: ev.count },
        currentRound: round,
      }),
    );
  }
}

/** Returns the received model unchanged (for benchmarks: only the platform is timed). */
export class NoOpTrainer implements Executor {
  async execute(taskName: string, payload: Uint8Array): Promise<Uint8Array> {
    const global = decode(payload);
    if (!(global instanceof FLModel)) throw new CohortError(TrainerErrorCode.Task, `task ${taskName} did not carry an FLModel`, {});
    await Promise.resolve();
    return encode(
      new FLModel({
        params: taskName === "train" ? global.params : {},
        paramsType: "FULL",
        metrics: { accuracy: 0 },
        meta: { NUM_STEPS_CURRENT_ROUND: 1, eval_samples: 1 },
        currentRound: global.currentRound,
      }),
    );
  }
}
