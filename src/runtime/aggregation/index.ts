/** Aggregation: site updates folded into the global model as they arrive (bounded memory). */
export { WeightedAggregator } from "./weighted-average.js";
export type { AggregatorOptions, ModelUpdate, Rejection, AggregateResult, StagingSlot, ParamShapes, Params } from "./weighted-average.js";
export { AggregationErrorCode } from "./errors.js";
export { applyAggregate, flattenParams, paramsTypeOf, restoreShapes, DATA_KIND_PARAMS_TYPE } from "./model-params.js";
export type { ParamsType, TensorShapes } from "./model-params.js";
