/**
 * The filter pipeline (flare-digest §7.2): for a task and direction, the site's scope filters
 * first, then the job's filters for that task, applied in order. A filter that throws (or returns
 * something that is not an FLModel) stops the task: the unfiltered model never leaves.
 */
import { CohortError, isCohortError } from "../errors/index.js";
import { FLModel } from "../wire/index.js";
import type { FilterSpec, PrivacyScope } from "./policy.js";
import type { FilterContext, FilterDirection, ModelFilter } from "./types.js";
import { PrivacyErrorCode } from "./errors.js";

export interface ChainedFilter {
  readonly label: string;
  readonly source: "site" | "job";
  readonly filter: ModelFilter;
}

/** The scope's filters for a direction at a site: data filters come in, result filters go out ("inout" both). */
export function siteFilterSpecs(scope: PrivacyScope | undefined, direction: FilterDirection): FilterSpec[] {
  if (!scope) return [];
  const data = scope.task_data_filters.filter((f) => (f.direction ?? "in") !== "out" && direction === "in");
  const result = scope.task_result_filters.filter((f) => (f.direction ?? "out") !== "in" && direction === "out");
  const extra =
    direction === "in"
      ? scope.task_result_filters.filter((f) => f.direction === "in" || f.direction === "inout")
      : scope.task_data_filters.filter((f) => f.direction === "out" || f.direction === "inout");
  return [...data, ...result, ...extra];
}

export async function applyFilterChain(chain: readonly ChainedFilter[], model: FLModel, ctx: FilterContext): Promise<FLModel> {
  let m = model;
  for (const f of chain) {
    let out: unknown;
    try {
      out = await f.filter.filter(m, ctx);
    } catch (err) {
      const code = isCohortError(err) && err.code === PrivacyErrorCode.Budget ? PrivacyErrorCode.Budget : PrivacyErrorCode.Filter;
      throw new CohortError(
        code,
        `${f.source} filter ${f.label} refused ${ctx.direction === "in" ? "the data of" : "the result of"} task ${ctx.taskName} at ${ctx.site}: ${(err as Error).message}`,
        { filter: f.label, source: f.source },
        { cause: err },
      );
    }
    if (!(out instanceof FLModel))
      throw new CohortError(
        PrivacyErrorCode.Filter,
        `${f.source} filter ${f.label} returned something that is not an FLModel (task ${ctx.taskName} at ${ctx.site})`,
        { filter: f.label },
      );
    m = out;
  }
  return m;
}
