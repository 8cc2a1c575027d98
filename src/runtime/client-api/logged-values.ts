/**
 * What training code logs during one task (`flare.log`, the tracking writers): the last number per
 * key joins the result's metrics, and every number with its step travels in the result's meta
 * (metrics-log.ts: the server stores it in metrics.jsonl) up to MAX_LOGGED_BYTES per task; the rest
 * reaches the site log only.
 */
import { FLModel } from "../../wire/index.js";
import { LOGGED_META_KEY } from "../components/metrics-log.js";

/** Per task, estimated as the site gate counts them (key + 18 bytes a value). */
export const MAX_LOGGED_BYTES = 32 * 1024;
type LoggedValue = [key: string, value: number, step: number | null];

export class TaskLoggedValues {
  private last = new Map<string, number>();
  private series: LoggedValue[] = [];
  private bytes = 0;

  /** Starts a new task. */
  reset(): void {
    this.last = new Map();
    this.series = [];
    this.bytes = 0;
  }

  note(key: string, value: unknown, step: number | undefined): void {
    if (typeof value !== "number" || !Number.isFinite(value)) return;
    this.last.set(key, value);
    const size = key.length + 18;
    if (this.bytes + size > MAX_LOGGED_BYTES) return;
    this.series.push([key, value, step ?? null]);
    this.bytes += size;
  }

  /** The last values, for results conformed with them (finishResult). */
  get metrics(): ReadonlyMap<string, number> {
    return this.last;
  }

  /** `result` with the task's series in its meta. */
  withSeries(result: FLModel): FLModel {
    if (this.series.length === 0) return result;
    const { params, paramsType, metrics, currentRound, totalRounds } = result;
    return new FLModel({ params, paramsType, metrics, meta: { ...result.meta, [LOGGED_META_KEY]: [...this.series] }, currentRound, totalRounds });
  }
}
