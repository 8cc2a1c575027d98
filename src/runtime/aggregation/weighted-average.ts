/**
 * FedAvg's weighted mean, computed defensively and in bounded memory.
 *
 * Every update is validated completely (names, dtype, lengths, finite values, weight, optional L2
 * norm bound) *before* any of it is folded, so a rejected update never touches the model. At most K
 * updates are staged at once: `submit()` (or `reserve()`, for a runtime that wants to hold a slot
 * before it even reads an update off the wire) waits while K are in, so a round with 100 sites
 * holds K updates + the accumulator + the global model, not 100 updates: ≈ (K + 2) × one update.
 * Accepted updates are folded in place (acc += w·x) in slices, yielding to the event loop between
 * slices so that a 100 MB fold does not stall heartbeats, and so the next staged update can be
 * received and validated while this one folds. Folds run one at a time, in arrival order.
 *
 * Accumulator precision: float32 by default. Each fold rounds once per element (the product and
 * the sum are formed in double, then stored), so with N sites the relative error is at most about
 * N × 2⁻²⁴ (6 × 10⁻⁷ for 10 sites): far below the noise of SGD, and models are float32 anyway. It
 * keeps the accumulator the size of one update, which is what holds peak memory to K + 2 updates,
 * and it moves half the bytes of a float64 one, which makes folding faster. `accumulator:
 * "float64"` is there for very many sites or exact-comparison needs (one more update's worth of RAM).
 */
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { CohortError } from "../../errors/index.js";
import { AggregationErrorCode } from "./errors.js";

/** A model's parameters by name (flattened float32 arrays). */
export type Params = Record<string, Float32Array>;

export type ParamShapes = Record<string, number[]>;
export type ModelUpdate = { site: string; params: Params; weight: number };
export type Rejection = { site: string; reason: string; parameter?: string };
export type AggregateResult = { params: Params; totalWeight: number; accepted: string[]; rejected: Rejection[] };
/** A held staging place; submit() releases it, or call release() if the update never comes. */
export type StagingSlot = { release(): void };

export type AggregatorOptions = {
  /** K: updates staged at once (default 2). */
  maxStaged?: number;
  /** L2 bound on ‖params − global‖ when `global` is set, else on ‖params‖ (over all parameters together). */
  normBound?: number;
  /** The current global model, for update norms (see normBound). */
  global?: Params;
  /** Accumulator precision (default float32, see the file comment). */
  accumulator?: "float32" | "float64";
  /** Elements folded between event-loop yields (default 2²²: about 4 ms of work). */
  sliceElements?: number;
};

type Accumulator = Float32Array | Float64Array;

/**
 * Hot loops run over chunks of this many elements: V8 optimises a function called many times far
 * better than one long loop entered once (on-stack replacement), ~2× here on 100 MB updates.
 */
const CHUNK = 1 << 16;
type Expected = { name: string; length: number };

function badArgument(message: string, details: Record<string, unknown> = {}): CohortError {
  return new CohortError(AggregationErrorCode.BadArgument, message, details);
}

/**
 * Σ x² (or Σ (x − g)²) with eight independent sums; NaN/±Infinity anywhere make it non-finite.
 * Hot loops below are written once per array type on purpose: a loop that sees both Float32Array
 * and Float64Array becomes polymorphic in V8 and runs ~1.5× slower.
 */
function sumOfSquares(x: Float32Array, from: number, to: number): number {
  const n = to;
  const tail = from + ((to - from) & ~7);
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    s4 = 0,
    s5 = 0,
    s6 = 0,
    s7 = 0;
  let i = from;
  for (; i < tail; i += 8) {
    const a = x[i] as number,
      b = x[i + 1] as number,
      c = x[i + 2] as number,
      d = x[i + 3] as number;
    const e = x[i + 4] as number,
      f = x[i + 5] as number,
      g = x[i + 6] as number,
      h = x[i + 7] as number;
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
    s4 += e * e;
    s5 += f * f;
    s6 += g * g;
    s7 += h * h;
  }
  for (; i < n; i++) {
    const a = x[i] as number;
    s0 += a * a;
  }
  return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

function sumOfSquaredDifferences(x: Float32Array, y: Float32Array, from: number, to: number): number {
  const n = to;
  const tail = from + ((to - from) & ~3);
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0;
  let i = from;
  for (; i < tail; i += 4) {
    const a = (x[i] as number) - (y[i] as number),
      b = (x[i + 1] as number) - (y[i + 1] as number);
    const c = (x[i + 2] as number) - (y[i + 2] as number),
      d = (x[i + 3] as number) - (y[i + 3] as number);
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
  }
  for (; i < n; i++) {
    const a = (x[i] as number) - (y[i] as number);
    s0 += a * a;
  }
  return s0 + s1 + s2 + s3;
}

/** acc[from..to) += w · x[from..to), unrolled by eight (float32 accumulator). */
function foldInto32(acc: Float32Array, x: Float32Array, w: number, from: number, to: number): void {
  let i = from;
  const tail = from + ((to - from) & ~7);
  for (; i < tail; i += 8) {
    acc[i] = (acc[i] as number) + w * (x[i] as number);
    acc[i + 1] = (acc[i + 1] as number) + w * (x[i + 1] as number);
    acc[i + 2] = (acc[i + 2] as number) + w * (x[i + 2] as number);
    acc[i + 3] = (acc[i + 3] as number) + w * (x[i + 3] as number);
    acc[i + 4] = (acc[i + 4] as number) + w * (x[i + 4] as number);
    acc[i + 5] = (acc[i + 5] as number) + w * (x[i + 5] as number);
    acc[i + 6] = (acc[i + 6] as number) + w * (x[i + 6] as number);
    acc[i + 7] = (acc[i + 7] as number) + w * (x[i + 7] as number);
  }
  for (; i < to; i++) acc[i] = (acc[i] as number) + w * (x[i] as number);
}

/** The same for a float64 accumulator: a separate function, not a shared generic one, keeps each loop monomorphic (one typed-array kind), which V8 needs to keep the fold fast. */
function foldInto64(acc: Float64Array, x: Float32Array, w: number, from: number, to: number): void {
  let i = from;
  const tail = from + ((to - from) & ~7);
  for (; i < tail; i += 8) {
    acc[i] = (acc[i] as number) + w * (x[i] as number);
    acc[i + 1] = (acc[i + 1] as number) + w * (x[i + 1] as number);
    acc[i + 2] = (acc[i + 2] as number) + w * (x[i + 2] as number);
    acc[i + 3] = (acc[i + 3] as number) + w * (x[i + 3] as number);
    acc[i + 4] = (acc[i + 4] as number) + w * (x[i + 4] as number);
    acc[i + 5] = (acc[i + 5] as number) + w * (x[i + 5] as number);
    acc[i + 6] = (acc[i + 6] as number) + w * (x[i + 6] as number);
    acc[i + 7] = (acc[i + 7] as number) + w * (x[i + 7] as number);
  }
  for (; i < to; i++) acc[i] = (acc[i] as number) + w * (x[i] as number);
}

function describeNonFinite(x: Float32Array): string {
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    if (!Number.isFinite(v)) return `${v} at index ${i}`;
  }
  return "a non-finite value";
}

export class WeightedAggregator {
  readonly maxStaged: number;
  private readonly expected: Expected[];
  private readonly normBound: number | undefined;
  private readonly precision: "float32" | "float64";
  private readonly sliceElements: number;
  private global: Params | undefined;

  private acc: Map<string, Accumulator> | null = null;
  private totalWeight = 0;
  private accepted: string[] = [];
  private rejected: Rejection[] = [];
  private claimed = new Set<string>();
  private finished: AggregateResult | null = null;

  private staged = 0;
  private peak = 0;
  private readonly waiters: Array<() => void> = [];
  private pending = 0;
  private foldQueue: Promise<void> = Promise.resolve();

  constructor(shapes: ParamShapes, options: AggregatorOptions = {}) {
    this.expected = Object.entries(shapes).map(([name, shape]) => {
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
        throw badArgument(`shape of ${name} must be a list of non-negative integers`, { parameter: name });
      return { name, length: shape.reduce((a, b) => a * b, 1) };
    });
    if (this.expected.length === 0) throw badArgument("the model needs at least one parameter");
    this.maxStaged = options.maxStaged ?? 2;
    if (!Number.isInteger(this.maxStaged) || this.maxStaged < 1)
      throw badArgument(`maxStaged must be a positive integer, got ${options.maxStaged}`, { maxStaged: options.maxStaged });
    this.normBound = options.normBound;
    if (this.normBound !== undefined && !(this.normBound > 0 && Number.isFinite(this.normBound)))
      throw badArgument(`normBound must be a positive finite number, got ${this.normBound}`, { normBound: this.normBound });
    this.precision = options.accumulator ?? "float32";
    this.sliceElements = options.sliceElements ?? 1 << 22;
    if (!Number.isInteger(this.sliceElements) || this.sliceElements < 1)
      throw badArgument(`sliceElements must be a positive integer, got ${options.sliceElements}`);
    this.global = options.global === undefined ? undefined : this.checkedGlobal(options.global);
  }

  /** Instrumentation: updates staged now, the most ever staged at once, and submits waiting for a place. */
  get stats(): { staged: number; peakStaged: number; waiting: number } {
    return { staged: this.staged, peakStaged: this.peak, waiting: this.waiters.length };
  }

  /** Waits for a staging place (FIFO). Hold it while receiving an update, then pass it to submit(). */
  async reserve(): Promise<StagingSlot> {
    if (this.staged >= this.maxStaged) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.staged++;
    // A woken waiter inherits the place its releaser gave up, so `staged` is already counted.
    this.peak = Math.max(this.peak, this.staged);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiters.shift();
        if (next) next();
        else this.staged--;
      },
    };
  }

  /**
   * Validates `update` completely, then folds it into the running weighted sum. Resolves once
   * folded; rejects with ERR_AGGREGATE_REJECTED (details: site, reason, parameter) without touching
   * the accumulator. Waits for a staging place first unless given one from reserve().
   */
  async submit(update: ModelUpdate, slot?: StagingSlot): Promise<void> {
    this.pending++;
    const held = slot ?? (await this.reserve());
    try {
      if (this.finished) throw badArgument("this round's result was already taken; call reset() before submitting to the next round");
      const problem = this.validate(update);
      const site = typeof update?.site === "string" ? update.site : String(update?.site);
      if (problem) {
        const rejection: Rejection =
          problem.parameter === undefined ? { site, reason: problem.reason } : { site, reason: problem.reason, parameter: problem.parameter };
        this.rejected.push(rejection);
        throw new CohortError(AggregationErrorCode.Rejected, `update from ${site} rejected: ${problem.reason}`, rejection);
      }
      this.claimed.add(site);
      const fold = this.foldQueue.then(() => this.fold(update));
      this.foldQueue = fold.catch(() => undefined);
      await fold;
      this.totalWeight += update.weight;
      this.accepted.push(site);
    } finally {
      held.release();
      this.pending--;
    }
  }

  /** The weighted mean of the accepted updates. The returned arrays belong to the caller. */
  result(): AggregateResult {
    if (this.finished) return this.finished;
    if (this.pending > 0) throw badArgument(`${this.pending} submit(s) still in progress; await them before taking the result`);
    if (this.acc === null || this.accepted.length === 0) {
      throw new CohortError(AggregationErrorCode.Empty, `no update was accepted this round (${this.rejected.length} rejected); nothing to average`, {
        rejected: this.rejected,
      });
    }
    const params: Params = {};
    const total = this.totalWeight;
    for (const { name } of this.expected) {
      const acc = this.acc.get(name) as Accumulator;
      // A float32 accumulator becomes the result in place (no extra copy); a float64 one is narrowed.
      const out = acc instanceof Float32Array ? acc : new Float32Array(acc.length);
      for (let i = 0; i < acc.length; i++) out[i] = (acc[i] as number) / total;
      params[name] = out;
    }
    this.acc = null; // handed to the caller: the next round allocates its own
    this.finished = { params, totalWeight: total, accepted: [...this.accepted], rejected: [...this.rejected] };
    return this.finished;
  }

  /** Starts a new round (optionally against a new global model). */
  reset(options: { global?: Params } = {}): void {
    if (this.pending > 0) throw badArgument(`${this.pending} submit(s) still in progress; await them before reset()`);
    if (options.global !== undefined) this.global = this.checkedGlobal(options.global);
    if (this.acc) for (const a of this.acc.values()) a.fill(0);
    this.totalWeight = 0;
    this.accepted = [];
    this.rejected = [];
    this.claimed = new Set();
    this.finished = null;
  }

  private checkedGlobal(global: Params): Params {
    for (const { name, length } of this.expected) {
      const g = global[name];
      if (!(g instanceof Float32Array) || g.length !== length)
        throw badArgument(`global parameter ${name} must be a Float32Array of ${length} values`, { parameter: name });
    }
    return global;
  }

  /** The first thing wrong with `update`, or null when it may be folded. */
  private validate(update: ModelUpdate): { reason: string; parameter?: string } | null {
    if (typeof update !== "object" || update === null) return { reason: "update is not an object" };
    if (typeof update.site !== "string" || update.site.length === 0) return { reason: "site name missing" };
    if (this.claimed.has(update.site)) return { reason: "duplicate: this site already contributed to the round" };
    const weight = update.weight;
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) return { reason: `weight must be a finite number > 0, got ${String(weight)}` };
    const params = update.params;
    if (typeof params !== "object" || params === null) return { reason: "params missing" };
    const known = new Set(this.expected.map((e) => e.name));
    for (const name of Object.keys(params)) if (!known.has(name)) return { reason: `unexpected parameter ${name}`, parameter: name };
    for (const { name, length } of this.expected) {
      const x = params[name];
      if (x === undefined) return { reason: `missing parameter ${name}`, parameter: name };
      if (!(x instanceof Float32Array)) return { reason: `parameter ${name} must be float32 (Float32Array)`, parameter: name };
      if (x.length !== length) return { reason: `parameter ${name} has ${x.length} values, expected ${length}`, parameter: name };
    }
    const useGlobal = this.normBound !== undefined ? this.global : undefined;
    let squares = 0;
    for (const { name } of this.expected) {
      const x = params[name] as Float32Array;
      const g = useGlobal?.[name];
      let s = 0;
      for (let from = 0; from < x.length; from += CHUNK) {
        const to = Math.min(x.length, from + CHUNK);
        s += g === undefined ? sumOfSquares(x, from, to) : sumOfSquaredDifferences(x, g, from, to);
      }
      if (!Number.isFinite(s)) {
        // Float32 squares cannot overflow a double (3.4e38² × 2⁵³ elements < 1.8e308): non-finite means NaN/±Infinity.
        return { reason: `parameter ${name} holds ${describeNonFinite(x)}`, parameter: name };
      }
      squares += s;
    }
    if (this.normBound !== undefined) {
      const norm = Math.sqrt(squares);
      if (norm > this.normBound)
        return { reason: `L2 norm of the ${useGlobal ? "update (params − global)" : "params"} is ${norm.toPrecision(6)}, over the bound ${this.normBound}` };
    }
    return null;
  }

  private async fold(update: ModelUpdate): Promise<void> {
    if (this.acc === null) {
      const make = (n: number): Accumulator => (this.precision === "float64" ? new Float64Array(n) : new Float32Array(n));
      this.acc = new Map(this.expected.map(({ name, length }) => [name, make(length)]));
    }
    const w = update.weight;
    let sinceYield = 0;
    for (const { name, length } of this.expected) {
      const acc = this.acc.get(name) as Accumulator;
      const x = update.params[name] as Float32Array;
      for (let from = 0; from < length; from += this.sliceElements) {
        const to = Math.min(length, from + this.sliceElements);
        for (let at = from; at < to; at += CHUNK) {
          if (acc instanceof Float32Array) foldInto32(acc, x, w, at, Math.min(to, at + CHUNK));
          else foldInto64(acc, x, w, at, Math.min(to, at + CHUNK));
        }
        sinceYield += to - from;
        if (sinceYield >= this.sliceElements) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
    }
  }
}
