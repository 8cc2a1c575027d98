/**
 * One external training process: started without a shell in its own process group, with a minimal
 * environment and the Client API channel on fd 3 (a Unix socket pair); its stdout/stderr lines go
 * to the site log. Tasks are sent one at a time and answered, failed (the script's error, a bad
 * message, its exit, a timeout) or cancelled (job stop). Killing is by process group, so helper
 * processes the script started go too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Duplex } from "node:stream";
import { CohortError } from "../../errors/index.js";
import type { FLModel } from "../../wire/index.js";
import { CHANNEL_VERSION, FrameReader, frameParts, parseFromScript, type TaskKind, type ToScript } from "./channel.js";
import { ClientApiErrorCode } from "./errors.js";
import { eachLine } from "../sandbox/output.js";

export interface ScriptProcessOptions {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Record<string, string>;
  /** Shown in log lines and errors (e.g. "train.py"). */
  readonly label: string;
  readonly hello: Omit<Extract<ToScript, { type: "hello" }>, "type" | "version">;
  readonly maxMessageBytes: number;
  readonly log: (line: string) => void;
  /** The script's output went past a bound (a line cut): reported once. */
  readonly onOutputCut?: (what: string) => void;
  /** A metric or note the script logged with log(key, value), with its step and the writer that sent it (FLARE's tracking writers). */
  readonly onLog: (key: string, value: number | string | boolean, step: number | undefined, writer: string | undefined) => void;
}

interface Pending {
  readonly id: string;
  readonly resolve: (m: FLModel) => void;
  readonly reject: (e: Error) => void;
}

const STDERR_TAIL = 20;

/** Every script still running in this process: killed when it exits (a job child exits soon after an abort). */
const live = new Set<ScriptProcess>();
let exitHook = false;
function track(p: ScriptProcess): void {
  live.add(p);
  if (exitHook) return;
  exitHook = true;
  process.once("exit", () => {
    for (const q of live) q.kill("SIGKILL");
  });
}
const MAX_LOG_LINE = 1000;

/**
 * Told when a script process starts and ends: the job child reports them to its site process,
 * which kills a script's process group left behind if the job child itself dies (SIGKILL, OOM)
 * before it could.
 */
let observer: ((event: "started" | "exited", pid: number) => void) | undefined;
export function observeScriptProcesses(fn: (event: "started" | "exited", pid: number) => void): void {
  observer = fn;
}

export class ScriptProcess {
  readonly child: ChildProcess;
  private readonly channel: Duplex;
  private readonly reader: FrameReader;
  private pending: Pending | undefined;
  private readonly stderrTail: string[] = [];
  private exitInfo: string | undefined;
  private broken: CohortError | undefined;
  readonly exited: Promise<void>;
  private taskCounter = 0;

  constructor(private readonly o: ScriptProcessOptions) {
    const [file, ...args] = o.argv;
    if (!file) throw new CohortError(ClientApiErrorCode.Config, "the command is empty", {});
    this.reader = new FrameReader(o.maxMessageBytes);
    this.child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ["ignore", "pipe", "pipe", "pipe"], detached: true, shell: false });
    track(this);
    const pid = this.child.pid;
    if (pid !== undefined) observer?.("started", pid);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        live.delete(this);
        if (pid !== undefined) observer?.("exited", pid);
        this.exitInfo = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        // A pending task fails once the output has drained (its last stderr lines explain why),
        // or shortly after, if something the script started keeps the pipes open.
        const report = (): void => {
          clearTimeout(late);
          this.fail(new CohortError(ClientApiErrorCode.Exited, `${o.label} ${this.exitInfo}${this.pendingNote()}${this.tail()}`, { code, signal }));
          resolve();
        };
        const late = setTimeout(report, 300);
        this.child.once("close", report);
      });
      this.child.once("error", (err) => {
        live.delete(this);
        this.exitInfo = `could not be started (${err.message})`;
        this.fail(
          new CohortError(
            ClientApiErrorCode.Exited,
            `${o.label} could not be started: ${err.message}; check the command (${o.argv.join(" ")}) and the interpreter path`,
            {},
          ),
        );
        resolve();
      });
    });
    const channel = this.child.stdio[3];
    if (!channel || !("write" in channel)) throw new CohortError(ClientApiErrorCode.Config, "no channel to the training process", {});
    this.channel = channel as Duplex;
    this.channel.on("error", () => undefined); // EPIPE after an exit: the exit handler reports it
    this.channel.on("data", (chunk: Buffer) => this.onData(chunk));
    const bounds = { maxLineChars: MAX_LOG_LINE, maxPendingChars: 64 * 1024, onCut: (what: string) => this.cut(`${o.label} wrote ${what}`) };
    eachLine(this.child.stdout, (l) => o.log(`${o.label}: ${l}`), bounds);
    eachLine(
      this.child.stderr,
      (l) => {
        this.stderrTail.push(l);
        if (this.stderrTail.length > STDERR_TAIL) this.stderrTail.shift();
        o.log(`${o.label} stderr: ${l}`);
      },
      bounds,
    );
    this.write({ type: "hello", version: CHANNEL_VERSION, ...o.hello });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined && this.broken === undefined;
  }

  /** Sends one task and resolves with the script's result; rejects on its error, exit or `timeoutMs`. */
  run(taskName: string, kind: TaskKind, model: FLModel, timeoutMs: number): Promise<FLModel> {
    if (!this.alive)
      return Promise.reject(this.broken ?? new CohortError(ClientApiErrorCode.Exited, `${this.o.label} ${this.exitInfo ?? "is not running"}`, {}));
    if (this.pending) return Promise.reject(new CohortError(ClientApiErrorCode.Protocol, `${this.o.label} is still busy with another task`, {}));
    const id = `${++this.taskCounter}`;
    return new Promise<FLModel>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const clear = (): void => {
        clearTimeout(timer);
        if (this.pending?.id === id) this.pending = undefined;
      };
      this.pending = {
        id,
        resolve: (m) => {
          clear();
          resolve(m);
        },
        reject: (e) => {
          clear();
          reject(e);
        },
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          const err = new CohortError(
            ClientApiErrorCode.Timeout,
            `${this.o.label} did not answer task ${taskName} within ${Math.round(timeoutMs / 1000)} s; it was stopped (the next task starts it again)`,
            { task: taskName, timeoutMs },
          );
          this.fail(err);
          this.kill("SIGKILL");
        }, timeoutMs);
      }
      try {
        this.write({ type: "task", task_id: id, task_name: taskName, kind, model });
      } catch (err) {
        this.pending?.reject(err as Error);
      }
    });
  }

  /** Asks the script to stop (its receive() returns nothing), then signals its process group. */
  stop(reason: string, graceMs: number): void {
    if (this.exitInfo !== undefined) return;
    try {
      this.write({ type: "stop", reason });
    } catch {
      // channel already closed
    }
    this.broken = new CohortError(ClientApiErrorCode.Stopped, `${this.o.label} stopped: ${reason}`, {});
    this.fail(this.broken);
    this.kill("SIGTERM");
    const t = setTimeout(() => this.kill("SIGKILL"), graceMs);
    t.unref();
  }

  /** Signals the whole process group (the script and anything it started). Safe to call late. */
  kill(signal: NodeJS.Signals): void {
    if (this.exitInfo !== undefined || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  private write(message: ToScript): void {
    for (const part of frameParts(message)) this.channel.write(part);
  }

  private onData(chunk: Buffer): void {
    if (this.broken) return;
    let bodies: Uint8Array[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      this.protocolError(err as CohortError);
      return;
    }
    for (const body of bodies) {
      let m: ReturnType<typeof parseFromScript>;
      try {
        m = parseFromScript(body);
      } catch (err) {
        this.protocolError(err as CohortError);
        return;
      }
      switch (m.type) {
        case "ready":
          if (m.version !== CHANNEL_VERSION)
            this.protocolError(
              new CohortError(
                ClientApiErrorCode.Protocol,
                `${this.o.label} speaks Client API channel version ${m.version}, this site ${CHANNEL_VERSION}; use the cohort_flare module of this Cohort release`,
                {},
              ),
            );
          break;
        case "log":
          this.o.onLog(m.key, typeof m.value === "string" ? m.value.slice(0, MAX_LOG_LINE) : m.value, m.step ?? undefined, m.writer ?? undefined);
          break;
        case "result":
        case "error": {
          const p = this.pending;
          if (!p || p.id !== m.task_id) {
            this.o.log(`${this.o.label}: ignored a ${m.type} for task ${JSON.stringify(m.task_id)}, which is not the task it was given`);
            break;
          }
          if (m.type === "result") p.resolve(m.model);
          else p.reject(new CohortError(ClientApiErrorCode.ScriptError, `${this.o.label} reported an error: ${m.message.slice(0, MAX_LOG_LINE)}`, {}));
          break;
        }
      }
    }
  }

  /** A stream that is out of step cannot be resynchronised: fail the task and end the process. */
  private protocolError(err: CohortError): void {
    const e = new CohortError(err.code, `${this.o.label}: ${err.message}; the process was stopped`, err.details);
    this.broken = e;
    this.fail(e);
    this.kill("SIGKILL");
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }

  private pendingNote(): string {
    return this.pending ? " before answering its task" : "";
  }

  private tail(): string {
    const t = this.stderrTail.slice(-5).join(" | ");
    return t ? `; last stderr: ${t.slice(-MAX_LOG_LINE)}` : "";
  }

  private cutReported = false;
  private cut(what: string): void {
    if (this.cutReported) return;
    this.cutReported = true;
    this.o.onOutputCut?.(what);
  }
}
