import { CohortError, type ErrorDetails } from "../../errors/index.js";

/** Every code the learning modules throw; callers switch on these, so they never change meaning. */
export type LearnErrorCode = "ERR_DATA_BAD_IDX" | "ERR_DATA_NOT_FOUND" | "ERR_DATA_BAD_ARGUMENT" | "ERR_MODEL_BAD_ARGUMENT" | "ERR_MODEL_BAD_PARAMS";

/** The learning modules' error: a CohortError narrowed to the codes above. */
export class LearnError extends CohortError {
  declare readonly code: LearnErrorCode;

  constructor(code: LearnErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}
