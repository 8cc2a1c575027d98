import { fork, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import type { Writable } from "node:stream";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { CohortError } from "../../errors/index.js";
import { fromChildSchema, type FromChild, type ToChild } from "./child-protocol.js";

import {
  chownTree,
  escapeControl,
  heapLimitMb,
  MAX_JOB_OUTPUT_BYTES,
  OutputRelay,
  gpuDeviceNodes,
  sandboxCommand,
  userNamespaceSeccompProgram,
  type JobConfinement,
} from "./index.js";
import { RuntimeErrorCode } from "../jobs/errors.js";

type Distributive<T> = T extends unknown ? Omit<T, "token"> : never;
export type ToChildBody = Distributive<ToChild>;

export interface JobChildOptions {
  readonly jobId: string;
  /** Folders the child may read (its app folder, data folders); never the kit's startup/. */
  readonly readPaths: readonly string[];
  /** The only folder the child may write. */
  readonly writePath: string;
  /**
   * Lets the child start processes: only for jobs whose components need to (an external training
   * command, which makes the job bring-your-own-code). They run inside the same sandbox.
   */
  readonly allowChildProcess?: boolean;
  /** bubblewrap and limits (tools undefined: Node's permission model only). */
  readonly confinement: JobConfinement;
  /**
   * The GPU device ids reserved for the job: CUDA_VISIBLE_DEVICES, and inside bubblewrap only
   * these /dev/nvidiaN nodes (with nvidiactl, nvidia-uvm). Undefined: no GPU setting at all.
   */
  readonly gpus?: readonly number[];
  readonly onMessage: (m: FromChild) => void;
  readonly onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
  readonly log: (line: string) => void;
  /** The job's output went past a limit (once per job and stream): the caller audits it. */
  readonly onOutputLimit?: (what: string) => void;
}

/**
 * Drops paths inside other listed paths: Node 20's permission tree mishandles nested grants (a
 * folder plus a path below it can deny the folder, or abort the process).
 */
export function outermostPaths(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths.map((p) => resolve(p)))].sort();
  const out: string[] = [];
  for (const p of sorted) if (!out.some((q) => p === q || p.startsWith(q.endsWith(sep) ? q : q + sep))) out.push(p);
  return out;
}

let bundled: string | undefined;

/**
 * Where the job child's code lives: dist/runtime/sandbox/job-child.js for the compiled CLI. Under tsx
 * (development, tests) the TypeScript entry is bundled once per process with esbuild into
 * node_modules/.cache, because tsx itself needs worker threads and child processes, which a job
 * child must not have.
 */
function codeLocation(): { entry: string; root: string } {
  const here = fileURLToPath(import.meta.url);
  // The package root (this file is <root>/{src,dist}/runtime/sandbox/job-process.*).
  const root = join(dirname(here), "..", "..", "..");
  if (!here.endsWith(".ts")) return { entry: join(dirname(here), "job-child.js"), root };
  if (!bundled) {
    const require = createRequire(import.meta.url);
    const esbuild = require("esbuild") as { buildSync(o: Record<string, unknown>): unknown };
    const dir = join(root, "node_modules", ".cache", "cohort");
    mkdirSync(dir, { recursive: true });
    const out = join(dir, `job-child-${process.pid}.mjs`);
    esbuild.buildSync({
      entryPoints: [join(dirname(here), "job-child.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile: out,
      logLevel: "error",
    });
    bundled = out;
    process.once("exit", () => rmSync(out, { force: true }));
  }
  return { entry: bundled, root };
}

/** From /proc/<pid>/stat: parent, process group and start time (clock ticks since boot); undefined when gone. */
function procStat(pid: number): { ppid: number; pgrp: number; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), pgrp: Number(f[2]), start: f[19] ?? "" };
  } catch {
    return undefined;
  }
}

/**
 * Starts a job's child process: under bubblewrap when the site has it (sandbox/bwrap.ts: own
 * namespaces, no network, the job's uid, OS limits), and always under Node's permission model as
 * a second layer: it may read only the code, its job folder and the data paths, write only its run
 * folder, and start no processes unless a component needs to. It talks to this process over the
 * IPC channel with a job-scoped token; a crash or a hostile job ends the child, never the site.
 */
export class JobChild {
  private readonly child: ChildProcess;
  /** Under bubblewrap: its PID namespace ends every process of the job with the child. */
  private confined = false;
  private logBytes = 0;
  private outputLimited = false;
  private readonly token = randomBytes(24).toString("base64url");
  private exited = false;
  /** Script process groups the child started (checked: its children, group leaders), by pid → start time. */
  private readonly scripts = new Map<number, string>();

  constructor(private readonly o: JobChildOptions) {
    const code = codeLocation();
    const modules = join(code.root, "node_modules");
    // The permission model checks resolved paths: a symlinked node_modules (a git worktree sharing
    // another checkout's, pnpm) is granted where it really is, or no module would load.
    const realModules = existsSync(modules) ? realpathSync(modules) : modules;
    const codePaths = [
      join(code.root, "dist"),
      modules,
      ...(realModules !== modules ? [realModules] : []),
      join(code.root, "package.json"),
      join(code.root, "python"),
      join(code.root, "examples", "data"),
    ].filter((p) => existsSync(p));
    const readPaths = [...o.readPaths, ...o.confinement.extraReadPaths].filter((p) => existsSync(p));
    const reads = outermostPaths([...codePaths, ...readPaths, o.writePath]);
    const heapMb = heapLimitMb(o.confinement.limits);
    const nodeArgs = [
      "--experimental-permission",
      // One flag per path: Node 20 does not apply a comma-separated list to folders.
      ...reads.map((r) => `--allow-fs-read=${r}`),
      `--allow-fs-write=${o.writePath}`,
      `--max-old-space-size=${heapMb}`,
      "--no-warnings=ExperimentalWarning",
      ...(o.allowChildProcess ? ["--allow-child-process"] : []),
    ];
    // A minimal environment: no kit paths, keys or tokens of the site.
    const env: Record<string, string> = {
      COHORT_JOB_TOKEN: this.token,
      COHORT_JOB_ID: o.jobId,
      NODE_ENV: process.env["NODE_ENV"] ?? "production",
      ...(o.gpus ? { CUDA_VISIBLE_DEVICES: o.gpus.join(",") } : {}),
    };
    const tools = o.confinement.tools;
    if (tools) {
      this.confined = true;
      const user = o.confinement.user;
      // The job's uid owns its run folder (and only that): a root site's files stay root's.
      if (process.getuid?.() === 0) chownTree(o.writePath, user.uid, user.gid);
      const nodeExe = realpathSync(process.execPath);
      const seccomp = userNamespaceSeccompProgram();
      const cmd = sandboxCommand(
        {
          readOnly: [...codePaths, ...readPaths, nodeExe],
          writable: [o.writePath],
          cwd: o.writePath,
          // The IPC channel is fd 3 (its index in stdio below); bubblewrap's --clearenv would drop
          // the variables Node sets for it, so they are set again inside.
          env: {
            ...env,
            PATH: "/usr/local/bin:/usr/bin:/bin",
            HOME: "/tmp",
            TMPDIR: "/tmp",
            LANG: "C.UTF-8",
            NODE_CHANNEL_FD: "3",
            NODE_CHANNEL_SERIALIZATION_MODE: "advanced",
          },
          command: [nodeExe, ...nodeArgs, code.entry],
          limits: o.confinement.limits,
          devices: gpuDeviceNodes(o.gpus ?? []),
          user,
          seccompFd: seccomp ? 4 : undefined,
        },
        tools,
      );
      this.child = spawn(cmd.file, cmd.args, {
        stdio: ["ignore", "pipe", "pipe", "ipc", ...(seccomp ? ["pipe" as const] : [])],
        serialization: "advanced",
        env: {},
      });
      if (seccomp) {
        const sink = this.child.stdio[4] as Writable | null;
        sink?.on("error", () => undefined);
        sink?.end(seccomp);
      }
    } else {
      this.child = fork(code.entry, [], {
        execArgv: nodeArgs,
        serialization: "advanced",
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        env: { ...env, PATH: process.env["PATH"] ?? "/usr/bin:/bin" },
      });
    }
    const relay = (stream: NodeJS.ReadableStream | null, level: string): void => {
      const r = new OutputRelay({ prefix: `job ${o.jobId.slice(0, 8)} ${level}: `, log: o.log, onLimit: (what) => this.outputLimit(`${level}: ${what}`) });
      stream?.on("data", (d: Buffer) => r.write(d));
      stream?.on("end", () => r.end());
    };
    relay(this.child.stdout, "out");
    relay(this.child.stderr, "err");
    this.child.on("message", (raw: unknown) => {
      const parsed = fromChildSchema.safeParse(raw);
      if (!parsed.success || parsed.data.token !== this.token) {
        this.o.log(`job ${o.jobId.slice(0, 8)}: ignored a malformed or unauthenticated message from the job child`);
        return;
      }
      const m = parsed.data;
      if (m.type === "process.started" || m.type === "process.exited") return this.trackScript(m.type, m.pid);
      if (m.type === "output.limit") return this.outputLimit(escapeControl(m.what));
      if (m.type === "log") {
        // Log requests count against the same bound as the job's stdout and stderr.
        this.logBytes += m.line.length;
        if (this.logBytes > MAX_JOB_OUTPUT_BYTES) {
          this.outputLimit(`more than ${MAX_JOB_OUTPUT_BYTES} bytes of log messages`);
          return;
        }
        return this.o.onMessage({ ...m, line: escapeControl(m.line) });
      }
      this.o.onMessage(m);
    });
    this.child.on("exit", (code, signal) => {
      this.exited = true;
      this.killScripts();
      this.o.onExit(code, signal);
    });
    this.child.on("error", (err) => {
      if ((err as NodeJS.ErrnoException).code !== "EPIPE") this.o.log(`job ${o.jobId.slice(0, 8)}: child error: ${err.message}`);
    });
  }

  /** One report per job, whichever stream or channel went past its bound first. */
  private outputLimit(what: string): void {
    if (this.outputLimited) return;
    this.outputLimited = true;
    this.o.onOutputLimit?.(what);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Only a direct child of the job child leading its own group is recorded: a pid it made up is ignored. */
  private trackScript(event: "process.started" | "process.exited", pid: number): void {
    // Inside a PID namespace the pids are the namespace's own; its end takes every script along.
    if (this.confined) return;
    if (event === "process.exited") {
      this.scripts.delete(pid);
      return;
    }
    const st = procStat(pid);
    if (st && st.ppid === this.child.pid && st.pgrp === pid) this.scripts.set(pid, st.start);
    else this.o.log(`job ${this.o.jobId.slice(0, 8)}: ignored a process report for pid ${pid} (not a script process group of this job)`);
  }

  /** After the child is gone (killed, crashed…): its scripts' process groups go too. Same start time: not a reused pid. */
  private killScripts(): void {
    for (const [pid, start] of this.scripts) {
      const st = procStat(pid);
      if (!st || st.start !== start || st.pgrp !== pid) continue;
      try {
        process.kill(-pid, "SIGKILL");
        this.o.log(`job ${this.o.jobId.slice(0, 8)}: killed script process group ${pid} left behind by the job process`);
      } catch {
        // already gone
      }
    }
    this.scripts.clear();
  }

  send(message: ToChildBody): void {
    if (this.exited || !this.child.connected)
      throw new CohortError(RuntimeErrorCode.Child, `job ${this.o.jobId} child is not running`, { jobId: this.o.jobId });
    // A child that exits between the check and the write: the exit handler reports it.
    this.child.send({ ...message, token: this.token }, (err) => {
      if (err) this.o.log(`job ${this.o.jobId.slice(0, 8)}: message to the job child not delivered (${err.message})`);
    });
  }

  /** Asks the child to stop, then kills it after `graceMs`. Resolves when it has exited. */
  async stop(reason: string, graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once("exit", () => r()));
    try {
      this.send({ type: "abort", reason });
    } catch {
      // already disconnected
    }
    const t = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(t);
  }
}
