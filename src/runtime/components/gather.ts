/**
 * One broadcast of a task to some sites, as FLARE's controllers do it: results are collected as
 * they arrive; the broadcast ends when every site answered or failed, or `waitAfterMinMs` after
 * `minResponses` results, or when the job is aborted. A site that fails or times out is reported
 * through `onFailure` and left out of this broadcast only.
 */
import { CohortError } from "../../errors/index.js";
import { decode, FLModel } from "../../wire/index.js";
import type { ServerJobContext } from "./registry.js";
import { WorkflowErrorCode } from "./errors.js";

export interface SiteResult {
  readonly site: string;
  readonly model: FLModel;
}

/** A day: "no limit" for tasks whose timeout is 0, still a bound for setTimeout. */
export const NO_LIMIT_MS = 24 * 3600 * 1000;

export interface BroadcastOptions {
  readonly sites: readonly string[];
  readonly taskName: string;
  readonly payload: Uint8Array;
  /** Per-site timeout (ms). */
  readonly timeoutMs: number;
  readonly minResponses: number;
  readonly waitAfterMinMs: number;
  /** Called when a site fails (the default warns that it is dropped from this round). */
  readonly onFailure?: (site: string, err: Error) => void;
}

export function broadcastAndGather(ctx: ServerJobContext, o: BroadcastOptions): Promise<SiteResult[]> {
  const sites = [...o.sites];
  return new Promise((resolve) => {
    const results: SiteResult[] = [];
    let settled = 0;
    let graceTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(graceTimer);
      ctx.signal.removeEventListener("abort", finish);
      resolve([...results]);
    };
    ctx.signal.addEventListener("abort", finish);
    const check = (): void => {
      if (settled === sites.length) finish();
      else if (results.length >= o.minResponses && !graceTimer) graceTimer = setTimeout(finish, o.waitAfterMinMs);
    };
    const onFailure = o.onFailure ?? ((site: string, err: Error) => ctx.warn(`${o.taskName} at ${site} failed, dropped from this round: ${err.message}`));
    for (const site of sites) {
      ctx
        .sendTask(site, o.taskName, o.payload, o.timeoutMs)
        .then((bytes) => {
          const model = decode(bytes);
          if (!(model instanceof FLModel))
            throw new CohortError(WorkflowErrorCode.BadResult, `${site} answered ${o.taskName} with something that is not an FLModel`, { site });
          ctx.recordMetrics?.(site, o.taskName, model);
          if (!done) results.push({ site, model });
        })
        .catch((err: Error) => onFailure(site, err))
        .finally(() => {
          settled++;
          check();
        });
    }
    if (sites.length === 0) finish();
  });
}
