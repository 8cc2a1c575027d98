/**
 * The site process's gate for one job: what job code sends out is a request the site checks, and
 * the site's own privacy policy is applied here, after job code is done, whatever job code did.
 *
 * - Task data (FLARE's order): the site's scope data filters, then the job's HE decryption; the
 *   job child gets plaintext and its own data filters run there.
 * - Results: only for a task the site handed out, once; names and sizes of the task's model; metrics
 *   bounded; then the site's scope result filters (DP charges to the site's ledger) and last the
 *   job's HE encryption. FLARE runs site result filters before the job's: here they run after job
 *   code on purpose, since job filters running after the site's could undo them.
 * - Peer messages leaving the site pass the same result filters (the reference is the last model
 *   the site handed the job).
 * The CKKS secret key is used here only: job children never receive a context.
 */
import type { z } from "zod";
import { CohortError } from "../../errors/index.js";
import { decode, encode, FLModel, Tensor } from "../../wire/index.js";
import {
  applyFilterChain,
  isHeFilterPath,
  PrivacyErrorCode,
  siteFilterSpecs,
  type ChainedFilter,
  type FilterDirection,
  type HeFilterRunner,
  type ModelFilter,
  type PrivacyScope,
  type PrivacySpend,
} from "../../privacy/index.js";
import { componentFor } from "../components/registry.js";
import "../components/builtins.js";
import type { ClientAppConfig, ComponentConfig } from "../jobs/definition.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { LOGGED_META_KEY } from "../components/metrics-log.js";
import { taskRouter, type TaskRouter } from "../jobs/task-patterns.js";

/** Metrics job code may attach to a result: numbers under short names, a bounded number per result and per job. */
export const METRIC_LIMITS = { keyLength: 64, perResult: 64, bytesPerJob: 1024 * 1024 } as const;
/** FLModel meta and a control task's result are small: larger ones are refused, not cut. */
const MAX_META_BYTES = 64 * 1024;
const MAX_CONTROL_RESULT_BYTES = 256 * 1024;

export interface SiteGateOptions {
  readonly site: string;
  readonly jobId: string;
  readonly app: ClientAppConfig;
  readonly scope: PrivacyScope | undefined;
  /** The site's HE worker (its thread holds the CKKS secret key), when the kit has a client context. */
  readonly he: HeFilterRunner | undefined;
  /** Charges a DP spend to the site's ledger; rejects when refused. */
  charge(taskName: string, spend: PrivacySpend): Promise<void>;
  log(line: string): void;
  /** Metrics dropped from one result (counted, then audited by the caller). */
  onMetricsDropped(taskName: string, dropped: number, why: string): void;
}

const isHeFilter = (c: ComponentConfig): boolean => isHeFilterPath(c.path ?? c.name ?? "");

/** The app's executor entry and filter chains by task name, matched as the job child matches them (exact names, then patterns: task-patterns.ts). */
interface TaskRoutes {
  readonly executor: TaskRouter<ClientAppConfig["executors"][number]>;
  readonly filters: Record<FilterDirection, TaskRouter<readonly ComponentConfig[]>>;
}

function taskRoutes(app: ClientAppConfig): TaskRoutes {
  const chains = (list: "task_data_filters" | "task_result_filters") =>
    taskRouter(
      app[list].map((e) => ({ tasks: e.tasks, value: e.filters })),
      { list },
    );
  return {
    executor: taskRouter(
      app.executors.map((e) => ({ tasks: e.tasks, value: e })),
      { list: "executors" },
    ),
    filters: { in: chains("task_data_filters"), out: chains("task_result_filters") },
  };
}

/** Builds a filter from the registry only: custom code never runs in the site process. */
function registryFilter(c: { path?: string | undefined; name?: string | undefined; args: Record<string, unknown> }, source: "site" | "job"): ChainedFilter {
  const label = c.path ?? c.name ?? "";
  const def = componentFor(label);
  // Registered filters take only their args (no job context): none is built with job state here.
  const f = def?.kind === "filter" ? (def.create(c.args, undefined as never) as ModelFilter) : undefined;
  if (typeof f?.filter !== "function")
    throw new CohortError(PrivacyErrorCode.Filter, `${source} filter ${JSON.stringify(label)} is not a registered filter`, { filter: label });
  return { label, source, filter: f };
}

function elementCount(v: unknown): string {
  if (v instanceof Tensor) return `${v.dtype}[${v.shape.join(",")}]`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (Array.isArray(v)) return `array(${v.length})`;
  return typeof v;
}

/** A result's parameters must be among the task's, each of the same type and size (a subset is fine: ExcludeVars). */
export function checkResultShape(result: FLModel, reference: FLModel | undefined, what: string): void {
  if (!reference || Object.keys(reference.params).length === 0) return;
  for (const [name, v] of Object.entries(result.params)) {
    if (name.startsWith("he_packed:")) continue;
    if (!(name in reference.params))
      throw new CohortError(RuntimeErrorCode.ResultRefused, `${what}: parameter ${JSON.stringify(name.slice(0, 200))} is not in the task's model`, {
        name: name.slice(0, 200),
      });
    const want = elementCount(reference.params[name]);
    const got = elementCount(v);
    if (want !== got) throw new CohortError(RuntimeErrorCode.ResultRefused, `${what}: parameter ${name} is ${got}, the task's model has ${want}`, { name });
  }
}

export class SiteJobGate {
  private metricBytes = 0;
  /** The last model the site handed the job (task data or a peer's model): the reference for peer updates. */
  private lastModelIn: FLModel | undefined;

  private constructor(
    private readonly o: SiteGateOptions,
    private readonly site: { in: ChainedFilter[]; out: ChainedFilter[] },
    private readonly routes: TaskRoutes,
  ) {}

  static build(o: SiteGateOptions): SiteJobGate {
    const spec = (d: FilterDirection): ChainedFilter[] => siteFilterSpecs(o.scope, d).map((f) => registryFilter(f, "site"));
    const gate = new SiteJobGate(o, { in: spec("in"), out: spec("out") }, taskRoutes(o.app));
    // HE filters of the job need the secret key: they run here; a site without a context refuses them now, not mid-round.
    const he = [...o.app.task_data_filters, ...o.app.task_result_filters].flatMap((e) => e.filters).filter(isHeFilter);
    if (he.length > 0 && !o.he)
      throw new CohortError(
        PrivacyErrorCode.Filter,
        `${o.site}: job ${o.jobId} uses ${he[0]?.path ?? he[0]?.name} but this site's kit has no CKKS client context (startup/client_context.ckks from HEBuilder)`,
        {},
      );
    return gate;
  }

  /** The executor entry for a task, and whether it is a registered control-only executor (the swarm client). */
  private controlOnly(taskName: string): boolean {
    const entry = this.routes.executor.route(taskName);
    return entry ? componentFor(entry.executor.path ?? entry.executor.name ?? "")?.controlTasksOnly === true : false;
  }

  /** The job's HE filters for a task and direction: run on the site's HE worker, after the site's own filters. */
  private heFilters(taskName: string, d: FilterDirection): ComponentConfig[] {
    return (this.routes.filters[d].route(taskName) ?? []).filter(isHeFilter);
  }

  /** The site's filters, then the job's HE filters (on the worker thread, never this event loop). */
  private async pass(taskName: string, d: FilterDirection, model: FLModel, reference: FLModel | undefined): Promise<{ model: FLModel; bytes: Uint8Array }> {
    let m = await this.run(this.site[d], model, taskName, d, reference);
    const he = this.heFilters(taskName, d);
    if (he.length === 0) return { model: m, bytes: encode(m) };
    let bytes = encode(m);
    for (const f of he) {
      if (!this.o.he) throw new CohortError(PrivacyErrorCode.Filter, `${this.o.site} has no CKKS client context for ${f.path ?? f.name}`, {});
      bytes = await this.o.he.apply(d, { path: f.path ?? f.name ?? "", args: f.args }, bytes, { site: this.o.site, jobId: this.o.jobId, taskName });
    }
    m = decode(bytes) as FLModel;
    return { model: m, bytes };
  }

  private active(taskName: string, d: FilterDirection): boolean {
    return this.site[d].length > 0 || this.heFilters(taskName, d).length > 0;
  }

  private toModel(payload: Uint8Array, what: string): FLModel {
    let m: unknown;
    try {
      m = decode(payload);
    } catch (err) {
      throw new CohortError(RuntimeErrorCode.ResultRefused, `${what} is not wire data: ${(err as Error).message}`, {});
    }
    if (!(m instanceof FLModel))
      throw new CohortError(PrivacyErrorCode.Filter, `${what} is not an FLModel: privacy filters cannot apply, so it does not leave ${this.o.site}`, {});
    return m;
  }

  private async run(chain: ChainedFilter[], model: FLModel, taskName: string, d: FilterDirection, reference: FLModel | undefined): Promise<FLModel> {
    if (chain.length === 0) return model;
    return applyFilterChain(chain, model, {
      site: this.o.site,
      jobId: this.o.jobId,
      taskName,
      direction: d,
      ...(reference ? { reference } : {}),
      charge: (spend) => this.o.charge(taskName, spend),
      log: (line) => this.o.log(line),
    });
  }

  /** Task data from the server on its way to job code. `reference` is what the result will be checked and filtered against. */
  async taskIn(taskName: string, payload: Uint8Array): Promise<{ bytes: Uint8Array; reference: FLModel | undefined }> {
    if (this.controlOnly(taskName)) return { bytes: payload, reference: undefined };
    let model: FLModel | undefined;
    try {
      const m = decode(payload);
      model = m instanceof FLModel ? m : undefined;
    } catch {
      model = undefined;
    }
    if (!this.active(taskName, "in")) {
      if (model) this.lastModelIn = model;
      return { bytes: payload, reference: model };
    }
    const filtered = await this.pass(taskName, "in", model ?? this.toModel(payload, `the data of task ${taskName}`), undefined);
    this.lastModelIn = filtered.model;
    return { bytes: filtered.bytes, reference: filtered.model };
  }

  /** A result job code returned for a task the site handed out: checked, bounded, filtered. */
  async resultOut(taskName: string, payload: Uint8Array, reference: FLModel | undefined): Promise<Uint8Array> {
    const what = `the result of task ${taskName} at ${this.o.site}`;
    if (this.controlOnly(taskName)) return this.controlResult(taskName, payload, what);
    let model: FLModel;
    try {
      model = this.toModel(payload, what);
    } catch (err) {
      // Not a model and nothing to apply: a plain answer (e.g. a script's status) passes as is.
      if (!this.active(taskName, "out") && !(err instanceof CohortError && err.code === RuntimeErrorCode.ResultRefused)) return payload;
      throw err;
    }
    checkResultShape(model, reference, what);
    const bounded = this.bound(model, taskName, what);
    // Nothing changed and nothing to apply: the bytes job code sent go on as they are (no re-encoding of a large model).
    if (bounded === model && !this.active(taskName, "out")) return payload;
    return (await this.pass(taskName, "out", bounded, reference)).bytes;
  }

  /** A peer message from job code, leaving the site: the site's result filters apply as to a result. */
  async peerOut(to: string, topic: string, payload: Uint8Array): Promise<Uint8Array> {
    if (this.site.out.length === 0) return payload;
    const what = `a message for ${to} (${topic}) from ${this.o.site}`;
    const model = this.bound(this.toModel(payload, what), topic, what);
    return encode(await this.run(this.site.out, model, topic, "out", this.lastModelIn));
  }

  /** A peer's message handed to job code: a model becomes the reference for this site's next update. */
  peerIn(payload: Uint8Array): void {
    try {
      const m = decode(payload);
      if (m instanceof FLModel && Object.keys(m.params).length > 0) this.lastModelIn = m;
    } catch {
      // not a model: nothing to remember
    }
  }

  /** Metrics: numbers only, short names, a bounded count per result and bytes per job; meta bounded in size. */
  private bound(model: FLModel, taskName: string, what: string): FLModel {
    const metaBytes = encode(model.meta).byteLength;
    if (metaBytes > MAX_META_BYTES)
      throw new CohortError(RuntimeErrorCode.ResultRefused, `${what}: its meta holds ${metaBytes} bytes, more than ${MAX_META_BYTES}`, {});
    const logged = this.boundLogged(model.meta[LOGGED_META_KEY], taskName);
    if (logged !== model.meta[LOGGED_META_KEY]) model = withMeta(model, { ...model.meta, [LOGGED_META_KEY]: logged });
    if (!model.metrics) return model;
    const kept: Record<string, number> = {};
    let dropped = 0;
    let why = "";
    let count = 0;
    for (const [k, v] of Object.entries(model.metrics)) {
      const size = k.length + 9;
      const refusal =
        typeof v !== "number" || !Number.isFinite(v)
          ? "not a finite number"
          : k.length > METRIC_LIMITS.keyLength
            ? `name longer than ${METRIC_LIMITS.keyLength}`
            : count >= METRIC_LIMITS.perResult
              ? `more than ${METRIC_LIMITS.perResult} per result`
              : this.metricBytes + size > METRIC_LIMITS.bytesPerJob
                ? `more than ${METRIC_LIMITS.bytesPerJob} bytes of metrics in the job`
                : undefined;
      if (refusal) {
        dropped++;
        why ||= refusal;
        continue;
      }
      kept[k] = v as number;
      count++;
      this.metricBytes += size;
    }
    if (dropped === 0) return model;
    this.o.onMetricsDropped(taskName, dropped, why);
    return new FLModel({
      params: model.params,
      paramsType: model.paramsType,
      metrics: kept,
      meta: model.meta,
      currentRound: model.currentRound,
      totalRounds: model.totalRounds,
    });
  }

  /**
   * Values logged during a task ([key, value, step|null] in the result's meta): the same rules as
   * metrics — finite numbers under short names, within the job's metric bytes — and integer steps.
   */
  private boundLogged(raw: unknown, taskName: string): unknown {
    if (raw === undefined) return undefined;
    const entries = Array.isArray(raw) ? raw : [];
    const kept: [string, number, number | null][] = [];
    let why = Array.isArray(raw) ? "" : "not a list";
    for (const e of entries) {
      const [k, v, step] = Array.isArray(e) ? (e as unknown[]) : [];
      const size = typeof k === "string" ? k.length + 18 : 0;
      const refusal =
        typeof k !== "string" || typeof v !== "number" || !Number.isFinite(v) || (step !== null && !Number.isSafeInteger(step))
          ? "not [name, finite number, integer step or null]"
          : k.length > METRIC_LIMITS.keyLength
            ? `name longer than ${METRIC_LIMITS.keyLength}`
            : this.metricBytes + size > METRIC_LIMITS.bytesPerJob
              ? `more than ${METRIC_LIMITS.bytesPerJob} bytes of metrics in the job`
              : undefined;
      if (refusal) {
        why ||= refusal;
        continue;
      }
      kept.push([k as string, v as number, (step as number | null) ?? null]);
      this.metricBytes += size;
    }
    const dropped = entries.length - kept.length + (Array.isArray(raw) ? 0 : 1);
    if (dropped > 0) this.o.onMetricsDropped(taskName, dropped, `logged values: ${why}`);
    return dropped > 0 ? kept : raw;
  }

  /** A control-only executor's result must be what that executor answers (its registered schema), and small; only that is forwarded. */
  private controlResult(taskName: string, payload: Uint8Array, what: string): Uint8Array {
    if (payload.byteLength > MAX_CONTROL_RESULT_BYTES)
      throw new CohortError(
        RuntimeErrorCode.ResultRefused,
        `${what}: ${payload.byteLength} bytes, a control answer holds at most ${MAX_CONTROL_RESULT_BYTES}`,
        {},
      );
    const entry = this.routes.executor.route(taskName);
    const schema = componentFor(entry?.executor.path ?? entry?.executor.name ?? "")?.controlResultSchema;
    if (!schema) return payload;
    let value: unknown;
    try {
      value = decode(payload);
    } catch (err) {
      throw new CohortError(RuntimeErrorCode.ResultRefused, `${what} is not wire data: ${(err as Error).message}`, {});
    }
    const r = (schema as z.ZodType).safeParse(value);
    if (!r.success)
      throw new CohortError(RuntimeErrorCode.ResultRefused, `${what} is not the control executor's answer: ${r.error.issues[0]?.message ?? "invalid"}`, {});
    // Only what the schema describes goes on: extra fields (a model tucked beside the metrics) stay here.
    return encode(r.data);
  }
}

/** `model` with other meta (everything else unchanged). */
function withMeta(model: FLModel, meta: FLModel["meta"]): FLModel {
  return new FLModel({
    params: model.params,
    paramsType: model.paramsType,
    metrics: model.metrics,
    meta,
    currentRound: model.currentRound,
    totalRounds: model.totalRounds,
  });
}
