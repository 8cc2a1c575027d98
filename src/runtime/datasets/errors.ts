/** Error codes of runtime/datasets/; callers switch on `err.code`, never on messages. */
export const DatasetErrorCode = {
  /** The dataset folder named by the environment does not hold the files. */
  NotFound: "ERR_DATA_NOT_FOUND",
} as const;
export type DatasetErrorCode = (typeof DatasetErrorCode)[keyof typeof DatasetErrorCode];
