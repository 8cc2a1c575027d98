/** The demo's machine learning: Fashion-MNIST data, splits, the built-in models (aggregation is in runtime/aggregation/). */
export { loadIdxDataset, readIdxFile } from "./idx.js";
export { findFashionMnist, DEBIAN_FASHION_MNIST_DIR, BUNDLED_FASHION_MNIST_DIR } from "../datasets/index.js";
export type { Dataset, IdxLoadOptions } from "./idx.js";
export { partitionNonIid, partitionIid, dominantClassesOf } from "./partition.js";
export type { NonIidOptions } from "./partition.js";
export { initParams, paramShapes, trainLocal, evaluate, SUGGESTED_TRAINING } from "./models.js";
export type { ModelSpec, Params, TrainingData, EvaluationData, TrainOptions, TrainResult, Evaluation } from "./models.js";
export { LearnError } from "./errors.js";
export type { LearnErrorCode } from "./errors.js";
export { createRng } from "./random.js";
