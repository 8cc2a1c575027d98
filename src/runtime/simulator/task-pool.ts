import { CohortError } from "../../errors/index.js";
import { RuntimeErrorCode } from "../jobs/errors.js";
import { SimulatorErrorCode } from "./errors.js";
import { TransportErrorCode } from "../../transport/index.js";

/**
 * Runs site tasks with at most `limit` executing at once (FLARE's simulator `-t threads`). A task's
 * timeout (the workflow's train_timeout) counts from when it starts executing, not while it
 * queues, so a small pool does not time out the sites it has not reached yet. Aborting rejects
 * what is queued or running.
 */
export class TaskPool {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  /** Aborts of the running tasks: one listener on the signal, however many sites run at once. */
  private readonly onAbort = new Set<() => void>();

  constructor(
    private readonly limit: number,
    private readonly signal: AbortSignal,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new CohortError(SimulatorErrorCode.Usage, `threads must be a whole number ≥ 1 (got ${limit})`, { value: limit });
    signal.addEventListener(
      "abort",
      () => {
        for (const f of [...this.onAbort]) f();
      },
      { once: true },
    );
  }

  run<T>(timeoutMs: number, what: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        if (this.signal.aborted) {
          reject(new CohortError(RuntimeErrorCode.Aborted, `${what}: ${String(this.signal.reason)}`, {}));
          this.next();
          return;
        }
        this.running++;
        let settled = false;
        const settle = (): boolean => {
          if (settled) return false;
          settled = true;
          clearTimeout(timer);
          this.onAbort.delete(onAbort);
          return true;
        };
        const onAbort = (): void => {
          if (settle()) reject(new CohortError(RuntimeErrorCode.Aborted, `${what}: ${String(this.signal.reason)}`, {}));
        };
        const timer = setTimeout(() => {
          if (settle()) reject(new CohortError(TransportErrorCode.Timeout, `${what}: no result within ${timeoutMs} ms`, {}));
        }, timeoutMs);
        this.onAbort.add(onAbort);
        task()
          .then(
            (v) => {
              if (settle()) resolve(v);
            },
            (e: unknown) => {
              if (settle()) reject(e instanceof Error ? e : new Error(String(e)));
            },
          )
          .finally(() => {
            // The slot frees when the executor really returns, even after a timeout: it still runs.
            this.running--;
            this.next();
          });
      };
      if (this.running < this.limit) start();
      else this.queue.push(start);
    });
  }

  private next(): void {
    if (this.running < this.limit) this.queue.shift()?.();
  }
}
