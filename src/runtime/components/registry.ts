import type { ZodType } from "zod";
/**
 * The component registry: job configs name components by `path`; only registered paths are built
 * (FLARE's well-known class paths answer too where Cohort has an equivalent). Anything else is
 * refused at deploy, unless the job brings its own code (BYOC, custom/), authorised per site.
 */
import type * as wire from "../../wire/index.js";
import type { PeerMessenger } from "../peer/inbox.js";
import type { MetricEntry } from "./metrics-log.js";

/** What job code (built-in or custom/) gets to build messages: the wire API (FLModel, encode…). */
export type WireApi = Pick<typeof wire, "encode" | "decode" | "FLModel" | "DXO" | "Tensor" | "Shareable">;

export type ComponentKind = "workflow" | "executor" | "aggregator" | "persistor" | "filter" | "component";

export interface JobContextBase {
  readonly jobId: string;
  readonly jobName: string;
  readonly site: string;
  /** The sites the job runs on (not the server). */
  readonly sites: readonly string[];
  /** The job's writable run folder. */
  readonly runDir: string;
  /** The job's app folder (config/, custom/): read-only for the job. */
  readonly appDir?: string;
  readonly signal: AbortSignal;
  /** Custom code cannot import `cohort` from the job folder; it uses this. */
  readonly wire: WireApi;
  log(line: string): void;
  warn(line: string): void;
  /** Output of the job's code (a script's) went past a bound and was cut: the site audits it (once per job). */
  outputLimit?(what: string): void;
  /** Another component of the same app, by id. */
  component<T = unknown>(id: string): T;
}

export interface ServerJobContext extends JobContextBase {
  /** Resume from the last saved round (the server restarted during the job). */
  readonly resume: boolean;
  /** Sends a task to one site and resolves with its result payload. */
  sendTask(site: string, taskName: string, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  progress(round: number, totalRounds: number, metrics: Record<string, number>, sites: readonly string[]): void;
  /** Stores a result's metrics and logged values with the job (metrics.jsonl); workflows call it for every result. */
  recordMetrics?(site: string, taskName: string, model: wire.FLModel): void;
}

export interface ClientJobContext extends JobContextBase {
  /** Messages to and from the job's other sites: sealed end to end, relayed by the server (swarm). */
  readonly peers: PeerMessenger;
  /** Runs this app's executor for `taskName` here, through the site's and the job's filters, as a task from the server would. */
  runTask(taskName: string, payload: Uint8Array): Promise<Uint8Array>;
}

/**
 * A server component that follows the job (FLARE's widgets: model selectors, analytics receivers):
 * the job host calls these for every component that has them.
 */
export interface ServerJobListener {
  /** A round's global metrics, as the workflow reports them (round counted from 1). */
  onRoundMetrics?(round: number, metrics: Readonly<Record<string, number>>): void;
  /** One value from a site (metrics.jsonl's entry). */
  onMetric?(entry: MetricEntry): void;
}

export interface Workflow {
  run(ctx: ServerJobContext): Promise<void>;
}

export interface Executor {
  execute(taskName: string, payload: Uint8Array, ctx: ClientJobContext): Promise<Uint8Array>;
}

export interface ComponentDefinition {
  /** Cohort's name first, then FLARE's class paths it answers to. */
  readonly paths: readonly string[];
  readonly kind: ComponentKind;
  /** The component starts processes (e.g. an external training script): its job child may too. */
  readonly startsProcesses?: boolean;
  /**
   * A built-in executor whose tasks carry only control data and metrics, and whose model data
   * leaves the site only through tasks it runs with `ctx.runTask` (which apply the filters): the
   * swarm client. Its own task is not passed through the filters (they would refuse a non-model).
   * Custom code cannot claim this: it is read from the registry only.
   */
  readonly controlTasksOnly?: boolean;
  /** A control-only executor's answer: the site process refuses any other result for its tasks. */
  readonly controlResultSchema?: ZodType;
  create(args: Record<string, unknown>, ctx: JobContextBase): unknown;
}

const byPath = new Map<string, ComponentDefinition>();

export function registerComponent(def: ComponentDefinition): void {
  for (const p of def.paths) {
    if (byPath.has(p)) throw new Error(`component path ${p} is registered twice`);
    byPath.set(p, def);
  }
}

export function componentFor(path: string): ComponentDefinition | undefined {
  return byPath.get(path);
}

export function registeredComponentPaths(): string[] {
  return [...byPath.keys()].sort();
}
