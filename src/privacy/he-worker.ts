/**
 * HE filters for the site process, on a worker thread (issue 14: the CKKS secret key never enters
 * a job process, and encryption never runs on the site's event loop). The site starts one runner
 * with its client context; each call hands an encoded FLModel to the worker (its buffer moved, not
 * copied) and gets the encoded result back. Calls run one at a time in order; a crash, a time-out
 * or close() rejects the running call with a CohortError, and the next queued call starts a new
 * worker. The worker keeps the site process alive only while a call runs.
 */
import { mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { CohortError } from "../errors/index.js";
import { parseFilterArgs } from "./filters.js";
import { ckksContextSchema, type SerializedCkksContext } from "./he-context.js";
import { HeErrorCode } from "./errors.js";
import { HE_COMPONENTS, HE_FILTER_PATHS, heEncryptorArgs } from "./he-filters.js";
import type { HeApplyReply, HeApplyRequest, HeFilterKind, HeWorkerData } from "./he-worker-thread.js";
import type { FilterDirection } from "./types.js";
import { PrivacyErrorCode } from "./errors.js";

export type { HeFilterKind } from "./he-worker-thread.js";

/** A job's HE filter as its app config names it. */
export interface HeFilterSpec {
  readonly path: string;
  readonly args?: Record<string, unknown>;
}

/** Whose task a call filters (the encryptor's `aggregation_weights` are looked up by site). */
export interface HeCallContext {
  readonly site: string;
  readonly jobId: string;
  readonly taskName: string;
}

export interface HeApplyOptions {
  /** This call's time limit (default: the runner's). */
  readonly timeoutMs?: number;
  /**
   * Move `model`'s buffer to the worker instead of copying it (default true). Only a Uint8Array
   * that spans its whole ArrayBuffer is moved; the caller must not use it afterwards (it is
   * detached). Any other view is copied.
   */
  readonly transferInput?: boolean;
}

export interface HeFilterWorkerOptions {
  /**
   * Time limit of a call, from when the worker starts it; past it the worker is ended and the call
   * rejects with ERR_PRIVACY_HE_TIMEOUT. Default: 30 s + 12.5 µs per input byte (50 µs per float32
   * parameter: ~30× the measured encryption cost, so only a hung worker reaches it).
   */
  readonly timeoutMs?: number;
  /**
   * Ends the worker after this long without a call, to give back its memory (node-seal's
   * WebAssembly heap: ~165 MB after a 1M-parameter model); the next call starts a new one and
   * loads the context again. Default 10 minutes; 0 keeps it until close().
   */
  readonly idleMs?: number;
}

export interface HeFilterRunner {
  /**
   * Runs the job's HE filter on an encoded FLModel and returns the encoded result: HEModelEncryptor
   * (its args) on "out" (results leaving the site), HEModelDecryptor on "in" (task data arriving).
   * Rejects with a CohortError: ERR_PRIVACY_FILTER (not an HE filter, wrong direction, bad args,
   * a refusal of the filter), ERR_PRIVACY_HE_INPUT (not an encoded FLModel),
   * ERR_PRIVACY_HE_NO_SECRET_KEY, ERR_PRIVACY_HE_CONTEXT, ERR_PRIVACY_HE_TIMEOUT,
   * ERR_PRIVACY_HE_WORKER (the worker crashed, or the runner is closed).
   */
  apply(direction: FilterDirection, filter: HeFilterSpec, model: Uint8Array, ctx: HeCallContext, options?: HeApplyOptions): Promise<Uint8Array>;
  /** Ends the worker; pending and later calls reject with ERR_PRIVACY_HE_WORKER. */
  close(): Promise<void>;
}

const ENCRYPTOR_PATHS: ReadonlySet<string> = new Set(HE_COMPONENTS.encryptor.paths);
const DECRYPTOR_PATHS: ReadonlySet<string> = new Set(HE_COMPONENTS.decryptor.paths);
/** The direction each HE filter runs in at a site. */
const DIRECTION: Record<HeFilterKind, FilterDirection> = { encryptor: "out", decryptor: "in" };

/** Which HE filter a component path names (Cohort's, FLARE's class path or the short name), if any. */
export function heFilterKind(path: string): HeFilterKind | undefined {
  return ENCRYPTOR_PATHS.has(path) ? "encryptor" : DECRYPTOR_PATHS.has(path) ? "decryptor" : undefined;
}

/** True when a component path names HEModelEncryptor or HEModelDecryptor (not the server's HEAggregator). */
export function isHeFilterPath(path: string): boolean {
  return HE_FILTER_PATHS.has(path);
}

let bundled: string | undefined;

/**
 * The worker's code: dist/privacy/he-worker-thread.js when compiled. Under tsx (tests, development)
 * a worker thread cannot load TypeScript (Node 20 does not pass tsx's hooks to workers), so the
 * entry is bundled once per process with esbuild into node_modules/.cache, as job-process.ts does
 * for the job child.
 */
function workerEntry(): URL | string {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith(".ts")) return new URL("./he-worker-thread.js", import.meta.url);
  if (bundled) return bundled;
  const cache = join(dirname(here), "..", "..", "node_modules", ".cache", "cohort");
  mkdirSync(cache, { recursive: true });
  const out = join(cache, `he-worker-thread-${process.pid}.mjs`);
  const esbuild = createRequire(import.meta.url)("esbuild") as { buildSync(o: Record<string, unknown>): unknown };
  esbuild.buildSync({
    entryPoints: [join(dirname(here), "he-worker-thread.ts")],
    outfile: out,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
  });
  process.once("exit", () => rmSync(out, { force: true }));
  return (bundled = out);
}

interface Call {
  readonly request: Omit<HeApplyRequest, "id">;
  readonly transfer: boolean;
  readonly timeoutMs: number;
  readonly resolve: (model: Uint8Array) => void;
  readonly reject: (err: CohortError) => void;
}

/** One worker thread and the call it runs. `ending` says why the site ended it (else: a crash). */
interface Slot {
  readonly worker: Worker;
  call?: { id: number; call: Call; timer?: NodeJS.Timeout };
  idle?: NodeJS.Timeout;
  ending?: CohortError;
  lastError?: Error;
}

const isWhole = (b: Uint8Array): boolean => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
/** A copy in its own buffer (not `slice()`: on a Node Buffer that is a view of the same memory). */
function copyOf(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.byteLength);
  out.set(b);
  return out;
}

const DEFAULT_IDLE_MS = 10 * 60_000;

function defaultTimeout(bytes: number): number {
  return 30_000 + bytes * 0.0125;
}

/** A timer length from an option: positive and at most what setTimeout takes. */
function milliseconds(ms: number | undefined, field: string): number | undefined {
  if (ms === undefined) return undefined;
  if (!(ms > 0) || ms > 2_147_483_647)
    throw new CohortError(PrivacyErrorCode.Filter, `HE worker: ${field} must be a positive number of milliseconds up to 2^31-1 (got ${ms})`, {
      field,
      value: ms,
    });
  return ms;
}

function encryptorArgs(raw: Record<string, unknown> | undefined): Record<string, unknown> {
  const args = parseFilterArgs("HEModelEncryptor", heEncryptorArgs, raw ?? {});
  if (typeof args.encrypt_layers === "string") {
    try {
      new RegExp(args.encrypt_layers);
    } catch (cause) {
      throw new CohortError(PrivacyErrorCode.Filter, `HEModelEncryptor args.encrypt_layers: not a regular expression (${(cause as Error).message})`, {
        filter: "HEModelEncryptor",
        field: "encrypt_layers",
      });
    }
  }
  return args;
}

class HeWorkerRunner implements HeFilterRunner {
  private slot: Slot | undefined;
  private readonly queue: Call[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly context: SerializedCkksContext,
    private readonly timeoutMs: number | undefined,
    private readonly idleMs: number,
  ) {}

  get current(): Worker | undefined {
    return this.slot?.worker;
  }

  apply(direction: FilterDirection, filter: HeFilterSpec, model: Uint8Array, ctx: HeCallContext, options: HeApplyOptions = {}): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.closed) throw this.closedError();
      const kind = heFilterKind(filter.path);
      if (!kind)
        throw new CohortError(
          PrivacyErrorCode.Filter,
          `${JSON.stringify(filter.path)} is not an HE filter (expected one of ${[...HE_FILTER_PATHS].join(", ")})`,
          { path: filter.path },
        );
      const name = kind === "encryptor" ? "HEModelEncryptor" : "HEModelDecryptor";
      if (direction !== DIRECTION[kind]) {
        throw new CohortError(
          PrivacyErrorCode.Filter,
          `${name} at ${ctx.site} (job ${ctx.jobId}): runs on ${DIRECTION[kind] === "out" ? "results leaving the site (task_result_filters)" : "task data arriving at the site (task_data_filters)"}, not "${direction}"; fix: move it in the app's config_fed_client.json`,
          { path: filter.path, direction },
        );
      }
      if (!(model instanceof Uint8Array))
        throw new CohortError(
          HeErrorCode.Input,
          `${name} at ${ctx.site} (job ${ctx.jobId}): the model must be an encoded FLModel in a Uint8Array (got ${typeof model})`,
          {},
        );
      for (const k of ["site", "jobId", "taskName"] as const) {
        if (typeof ctx[k] !== "string")
          throw new CohortError(PrivacyErrorCode.Filter, `${name}: ctx.${k} must be a string (got ${typeof ctx[k]})`, { field: k });
      }
      // Validated here so that bad args fail without a round trip; the worker parses them again.
      // HEModelDecryptor's FLARE args (tenseal_context_file, data_kinds) are ignored, as in-process.
      const args = kind === "encryptor" ? encryptorArgs(filter.args) : {};
      const timeoutMs = milliseconds(options.timeoutMs, "timeoutMs") ?? this.timeoutMs ?? defaultTimeout(model.byteLength);
      const request = { type: "apply" as const, kind, direction, args, model, site: ctx.site, jobId: ctx.jobId, taskName: ctx.taskName };
      this.queue.push({ request, transfer: options.transferInput !== false, timeoutMs, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.queue.splice(0)) c.reject(this.closedError());
    const slot = this.slot;
    if (slot) await this.end(slot, this.closedError());
  }

  private closedError(): CohortError {
    return new CohortError(HeErrorCode.Worker, "the site's HE worker is closed", { reason: "closed" });
  }

  /** Starts the next queued call when the worker is free (a new worker if there is none). */
  private dispatch(): void {
    if (this.closed || this.slot?.call) return;
    const call = this.queue.shift();
    if (!call) return;
    let slot: Slot;
    try {
      slot = this.slot ?? this.spawn();
    } catch (cause) {
      call.reject(new CohortError(HeErrorCode.Worker, `the site's HE worker could not start: ${(cause as Error).message}`, { reason: "start" }, { cause }));
      this.dispatch();
      return;
    }
    const id = this.nextId++;
    const send = (model: Uint8Array): void => slot.worker.postMessage({ ...call.request, model, id } satisfies HeApplyRequest, [model.buffer as ArrayBuffer]);
    try {
      try {
        send(call.transfer && isWhole(call.request.model) ? call.request.model : copyOf(call.request.model));
      } catch {
        send(copyOf(call.request.model)); // a buffer Node will not move: send a copy
      }
    } catch (cause) {
      call.reject(
        new CohortError(HeErrorCode.Worker, `the site's HE worker could not be sent the call: ${(cause as Error).message}`, { reason: "send" }, { cause }),
      );
      this.dispatch();
      return;
    }
    if (slot.idle) clearTimeout(slot.idle);
    slot.call = { id, call };
    slot.call.timer = setTimeout(() => {
      const err = new CohortError(
        HeErrorCode.Timeout,
        `${call.request.kind === "encryptor" ? "HEModelEncryptor" : "HEModelDecryptor"} at ${call.request.site} (job ${call.request.jobId}, task ${call.request.taskName}): no answer from the HE worker in ${Math.round(call.timeoutMs)} ms; the worker was ended (it restarts on the next call)`,
        {
          reason: "timeout",
          timeoutMs: call.timeoutMs,
        },
      );
      void this.end(slot, err);
    }, call.timeoutMs);
    slot.call.timer.unref(); // the worker's ref keeps the process alive while the call runs
    slot.worker.ref();
  }

  private spawn(): Slot {
    // No inherited execArgv: the site's flags (e.g. --input-type, preloads) are not the worker's.
    const worker = new Worker(workerEntry(), { workerData: { context: this.context } satisfies HeWorkerData, execArgv: [] });
    const slot: Slot = { worker };
    worker.unref();
    worker.on("message", (reply: HeApplyReply) => {
      const running = slot.call;
      if (!running || running.id !== reply.id) return;
      this.settle(slot);
      if (reply.type === "done") running.call.resolve(reply.model);
      else running.call.reject(new CohortError(reply.error.code, reply.error.message, reply.error.details));
      this.dispatch();
    });
    worker.on("messageerror", (err) => {
      slot.lastError = err;
      void this.end(
        slot,
        new CohortError(HeErrorCode.Worker, `the site's HE worker sent an unreadable answer (${err.message}); the worker was ended`, {
          reason: "messageerror",
        }),
      );
    });
    worker.on("error", (err) => {
      slot.lastError = err;
    });
    worker.on("exit", (code) => {
      if (this.slot === slot) this.slot = undefined;
      const running = slot.call;
      this.settle(slot);
      if (running) {
        running.call.reject(
          slot.ending ??
            new CohortError(
              HeErrorCode.Worker,
              `the site's HE worker stopped (exit code ${code}${slot.lastError ? `: ${slot.lastError.message}` : ""}) during ${running.call.request.kind === "encryptor" ? "HEModelEncryptor" : "HEModelDecryptor"} at ${running.call.request.site} (job ${running.call.request.jobId}); the next call starts a new worker`,
              {
                reason: "crashed",
                exitCode: code,
              },
            ),
        );
      }
      this.dispatch();
    });
    this.slot = slot;
    return slot;
  }

  private settle(slot: Slot): void {
    if (slot.call?.timer) clearTimeout(slot.call.timer);
    slot.call = undefined;
    slot.worker.unref();
    if (this.idleMs > 0 && this.slot === slot && this.queue.length === 0) {
      slot.idle = setTimeout(() => void this.end(slot, new CohortError(HeErrorCode.Worker, "the site's HE worker was idle", { reason: "idle" })), this.idleMs);
      slot.idle.unref();
    }
  }

  /** Ends a worker on the site's decision: its running call rejects with `why`. */
  private async end(slot: Slot, why: CohortError): Promise<void> {
    slot.ending ??= why;
    if (slot.idle) clearTimeout(slot.idle);
    if (this.slot === slot) this.slot = undefined;
    await slot.worker.terminate();
  }
}

/** The runner's worker thread while one runs (tests and diagnostics; not part of the area's API). */
export function currentHeWorker(runner: HeFilterRunner): Worker | undefined {
  return runner instanceof HeWorkerRunner ? runner.current : undefined;
}

/**
 * Starts the site's HE filter runner with its CKKS client context (validated here; the worker
 * thread itself starts on the first call and loads node-seal then).
 */
export function startHeFilterWorker(context: SerializedCkksContext, options: HeFilterWorkerOptions = {}): HeFilterRunner {
  const r = ckksContextSchema.safeParse(context);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue?.path.join(".") || "(top)";
    throw new CohortError(
      HeErrorCode.Context,
      `HE worker: CKKS context: ${field}: ${issue?.message ?? "invalid"}; fix: give it the site's startup/client_context.ckks as read by readCkksContextFile`,
      { field },
    );
  }
  const idleMs = options.idleMs === 0 ? 0 : (milliseconds(options.idleMs, "idleMs") ?? DEFAULT_IDLE_MS);
  return new HeWorkerRunner(r.data, milliseconds(options.timeoutMs, "timeoutMs"), idleMs);
}
