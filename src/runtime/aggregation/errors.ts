/** Error codes of runtime/aggregation/ (folding site updates into the global model); callers switch on `err.code`. */
export const AggregationErrorCode = {
  /** An update failed validation (names, shapes, finiteness, norm bound) and was left out of the round. */
  Rejected: "ERR_AGGREGATE_REJECTED",
  /** The aggregator was built or called with arguments it cannot use. */
  BadArgument: "ERR_AGGREGATE_BAD_ARGUMENT",
  /** An update's params type (FULL or DIFF) is not the one the round takes. */
  ParamsType: "ERR_AGGREGATE_PARAMS_TYPE",
  /** No update was accepted in the round: there is nothing to average. */
  Empty: "ERR_AGGREGATE_EMPTY",
} as const;
export type AggregationErrorCode = (typeof AggregationErrorCode)[keyof typeof AggregationErrorCode];
