/**
 * The POC's participant processes: `cohort start <kit>` launched detached (they outlive `poc
 * start`), found again by PID, and stopped by PID. A recorded PID counts as ours only while the
 * process's command line still names its kit, so a PID the OS reused is never signalled.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** How to run this same CLI: the compiled one, or src/cli/main.ts under tsx in development. */
export function cliCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const root = join(dirname(here), "..", "..", "..");
  if (here.endsWith(".ts")) return ["--import", import.meta.resolve("tsx"), join(root, "src", "cli", "main.ts")];
  return [join(dirname(here), "..", "..", "cli", "main.js")];
}

/**
 * Starts `cohort start <kit> [args]` in its own process group, output to `<kit>/start.out`.
 * `cli`: node arguments that run the CLI (default: this CLI, see cliCommand()).
 */
export function spawnParticipant(
  kit: string,
  args: readonly string[],
  cli: readonly string[] = cliCommand(),
  env: Readonly<Record<string, string>> = {},
): number {
  const out = openSync(join(kit, "start.out"), "a", 0o640);
  try {
    const child = spawn(process.execPath, [...cli, "start", kit, ...args], {
      detached: true,
      stdio: ["ignore", out, out],
      cwd: kit,
      ...(Object.keys(env).length > 0 ? { env: { ...process.env, ...env } } : {}),
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start a process for ${kit}`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The process exists and is not a zombie (an exited child its parent has not reaped yet). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return !existsSync("/proc/self");
  }
}

/** True when `pid` runs and is `cohort start <kit>` (where /proc shows command lines). */
export function isOurs(pid: number, kit: string): boolean {
  if (!exists(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(kit);
  } catch {
    // No /proc (macOS): the PID alone.
    return !existsSync("/proc/self");
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. `cohort start` stops
 * its job children itself; they also exit when their parent's IPC channel closes.
 */
export async function stopProcess(pid: number, kit: string, graceMs: number): Promise<"not running" | "stopped" | "killed"> {
  if (!isOurs(pid, kit)) return "not running";
  const signal = (s: NodeJS.Signals): void => {
    try {
      process.kill(pid, s);
    } catch {
      // gone already
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  // Done when the participant and its process group (its job children) are all gone.
  const running = (): boolean => exists(pid) || groupExists(pid);
  while (running()) {
    if (Date.now() > deadline) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        signal("SIGKILL");
      }
      // Bounded: an orphaned zombie (a PID 1 that does not reap) must not hang `poc stop`.
      const end = Date.now() + 5_000;
      while (exists(pid) && Date.now() < end) await sleep(20);
      return "killed";
    }
    await sleep(20);
  }
  return "stopped";
}

/** A live (not zombie) process is in the group; /proc when there is one, else kill(-pgid, 0). */
function groupExists(pgid: number): boolean {
  if (!existsSync("/proc/self")) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // After "comm)": state ppid pgrp …
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state !== "Z" && Number(pgrp) === pgid) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

/** Resolves true when a TCP connection to host:port is refused (nothing listens), within `timeoutMs`. */
export function portRefuses(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (refused: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(refused);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once("connect", () => done(false));
    s.once("error", (err: NodeJS.ErrnoException) => done(err.code === "ECONNREFUSED"));
  });
}
