/**
 * Real participant processes for integration tests: `cohort start <kit>` run through tsx, with
 * their output collected line by line, readiness waits, and a clean SIGTERM stop.
 */
import { spawn, type ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AdminSession } from "../../src/runtime/index.js";
import { provision } from "../../src/provision/index.js";
import { freePort, REPO_ROOT, tempDir, writeFile } from "./index.js";

export class CohortProcess {
  readonly lines: string[] = [];
  private readonly waiters: { re: RegExp; from: number; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  /** `nodeArgs` go to node before the CLI, e.g. a test-only `--import` preload. */
  constructor(args: readonly string[], env: Record<string, string> = {}, nodeArgs: readonly string[] = []) {
    this.child = spawn(process.execPath, ["--import", "tsx", ...nodeArgs, "src/cli/main.ts", ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let buffered = "";
    const onData = (chunk: Buffer): void => {
      // Only the new text is searched for line ends: a very long line (a job flooding its output)
      // costs its length once, not once per chunk.
      const text = chunk.toString("utf8");
      let start = 0;
      let nl: number;
      while ((nl = text.indexOf("\n", start)) >= 0) {
        const line = buffered + text.slice(start, nl);
        buffered = "";
        start = nl + 1;
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (this.lines.length > w.from && w.re.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
      buffered += text.slice(start);
    };
    this.child.stdout?.on("data", onData);
    this.child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  /** The process id (for /proc/<pid>/status). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  get output(): string {
    return this.lines.join("\n");
  }

  /** Number of lines so far: pass it as `from` to wait only for lines printed after now. */
  mark(): number {
    return this.lines.length;
  }

  /** Resolves with the first line from index `from` (already printed or to come) matching `re`. */
  waitFor(re: RegExp, timeoutMs = 20_000, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
      this.waiters.push({
        re,
        from,
        resolve: (line) => {
          clearTimeout(t);
          resolve(line);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(t);
        reject(new Error(`process exited (${code}) before a line matching ${re}; output:\n${this.output}`));
      });
    });
  }

  /** SIGTERM, then the exit code (SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }

  /** Sends a signal (e.g. SIGSTOP/SIGCONT to freeze a participant); no-op once it has exited. */
  signal(name: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(name);
  }
}

/**
 * A project for real processes: server `localhost` on a free 127.0.0.1 port, sites `site-1`
 * (org_a) and `site-2` (org_b), project admin `admin@nvidia.com`, with the given link scheme and
 * connection security. `extraServer` adds keys to the server's entry, `extraParticipants` lines.
 */
export async function provisionProject(
  scheme: string,
  security: string,
  options: { name?: string; extraServer?: string; extraParticipants?: string } = {},
): Promise<{ dir: string; projectFile: string; prodDir: string; port: number }> {
  const dir = tempDir("cohort-int-");
  const port = await freePort();
  const projectFile = writeFile(
    join(dir, "project.yml"),
    `api_version: 3
name: ${options.name ?? `int_${scheme}_${security}`}
connection_security: ${security}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${port}, host_names: [127.0.0.1]${options.extraServer ?? ""}}
  - {name: site-1, type: client, org: org_a, connect_to: 127.0.0.1}
  - {name: site-2, type: client, org: org_b, connect_to: 127.0.0.1}
${options.extraParticipants ?? ""}  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args: {scheme: ${scheme}}
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`,
  );
  const r = await provision({ projectFile, workspace: join(dir, "ws") });
  return { dir, projectFile, prodDir: r.prodDir, port };
}

/** The records of a participant's `audit.log` (one JSON object a line). */
export function auditRecords(kitDir: string): Record<string, unknown>[] {
  return readFileSync(join(kitDir, "audit.log"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Starts `cohort start <kit> --host 127.0.0.1` (servers) or `cohort start <kit>` (sites). */
export function startParticipantProcess(
  kitDir: string,
  options: { server?: boolean; env?: Record<string, string>; nodeArgs?: readonly string[] } = {},
): CohortProcess {
  return new CohortProcess(["start", kitDir, ...(options.server ? ["--host", "127.0.0.1"] : [])], options.env, options.nodeArgs);
}

export interface AdminCliResult {
  readonly code: number | null;
  /** The --json answer (empty when the command was refused: refusals print on stderr). */
  readonly json: Record<string, unknown>;
  readonly text: string;
}

/** `cohort admin <kit> -c <command> --json` as a real process. */
export async function adminCli(adminKit: string, command: string, timeoutMs = 120_000): Promise<AdminCliResult> {
  const { runCli } = await import("./index.js");
  const r = await runCli(["admin", adminKit, "-c", command, "--json", "--yes"], {}, { timeoutMs });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    // refusals print on stderr
  }
  return { code: r.code, json, text: r.stdout + r.stderr };
}

/**
 * Polls a job's meta through one in-process admin session (the TypeScript admin API) until
 * `done` holds; reconnects on the next poll when the server is restarting.
 */
export class JobWatcher {
  private session: AdminSession | undefined;

  /** `adminKit` is read at each poll (kits are provisioned in `before`); `context` adds to a failure. */
  constructor(
    private readonly adminKit: () => string,
    private readonly context: () => string = () => "",
  ) {}

  async wait(jobId: string, done: (status: string, meta: Record<string, unknown>) => boolean, timeoutMs = 120_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        this.session ??= await AdminSession.open(this.adminKit());
        const m = (await this.session.run(`get_job_meta ${jobId}`)) as Record<string, unknown>;
        last = m;
        if (done(String(m["status"]), m)) return m;
      } catch (err) {
        last = (err as Error).message;
        await this.close();
      }
      if (Date.now() > deadline) assert.fail(`job ${jobId} did not reach the expected state; last: ${JSON.stringify(last).slice(0, 2000)}\n${this.context()}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  /** Ends the session (a clean stop lets participants write their final audit checkpoints). */
  async close(): Promise<void> {
    await this.session?.close().catch(() => undefined);
    this.session = undefined;
  }
}
