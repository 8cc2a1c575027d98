/**
 * The mutation check's engine: copies the tree to a temporary folder, applies one named mutant at a
 * time there (never in the working tree), runs the area's test files against it and reports which
 * mutants the tests killed, which survived and which timed out.
 *
 * A mutant is a list of exact text edits. Each `find` must occur exactly once in its file, or the
 * run stops before any test runs: the lists stay in step with the code.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface Edit {
  /** Repository-relative path of the file to change. */
  readonly file: string;
  /** Text found exactly once in the file, whitespace aside (so formatting does not break it). */
  readonly find: string;
  readonly replace: string;
}

export interface Mutant {
  /** Unique within the area, kebab-case: names the bug it plants. */
  readonly name: string;
  /** The security hole this bug would be, in one line. */
  readonly hole: string;
  readonly edits: readonly Edit[];
}

export interface MutationArea {
  /** What the area covers (printed in the header). */
  readonly title: string;
  /** Test files run for each mutant, in this order (fast and direct first: a failure stops the run). */
  readonly tests: readonly string[];
  readonly mutants: readonly Mutant[];
}

/** Shorthand for the usual one-edit mutant. */
export function mutant(name: string, hole: string, file: string, find: string, replace: string): Mutant {
  return { name, hole, edits: [{ file, find, replace }] };
}

export type Outcome = "killed" | "survived" | "timeout";

export interface MutantResult {
  readonly name: string;
  readonly hole: string;
  readonly outcome: Outcome;
  /** The test file that failed or timed out (killed / timeout), and the tests that failed in it. */
  readonly by?: string;
  readonly failed?: readonly string[];
  /** Files that failed once but passed when run again with the same mutant (flaky, not counted). */
  readonly flaky?: readonly string[];
  readonly seconds: number;
  readonly diff: string;
}

/** A mutant ready to write: each changed file's original and mutated text, and the diff. */
export interface PlannedMutant {
  readonly files: readonly { readonly file: string; readonly original: string; readonly mutated: string }[];
  readonly diff: string;
}

/**
 * Where an anchor is in a file, whitespace aside (the formatter may wrap or indent the code it
 * names): every match as [index, length].
 */
function anchorMatches(text: string, find: string): [number, number][] {
  const pattern = [...find.replace(/\s+/g, "")].map((c) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("\\s*");
  const out: [number, number][] = [];
  for (const m of text.matchAll(new RegExp(pattern, "g"))) out.push([m.index ?? 0, m[0].length]);
  return out;
}

/** A short diff of one edit: the file, the line, the original lines and the mutated lines. */
function editDiff(file: string, text: string, e: Edit, at: number, length: number): string {
  const lineNo = text.slice(0, at).split("\n").length;
  const start = text.lastIndexOf("\n", at) + 1;
  const endAt = text.indexOf("\n", at + length);
  const end = endAt === -1 ? text.length : endAt;
  const before = text.slice(start, end);
  const after = text.slice(start, at) + e.replace + text.slice(at + length, end);
  const lines = (prefix: string, s: string): string[] => (s.length === 0 ? [] : s.split("\n").map((l) => `${prefix} ${l.trim()}`));
  return [`@@ ${file}:${lineNo}`, ...lines("-", before), ...lines("+", after)].join("\n");
}

/**
 * Applies a mutant's edits to the texts in `root` (in memory) and returns them, or throws naming
 * every edit whose anchor is missing, ambiguous or a no-op.
 */
export function planMutant(root: string, m: Mutant): PlannedMutant {
  const texts = new Map<string, string>();
  const originals = new Map<string, string>();
  const diffs: string[] = [];
  const problems: string[] = [];
  for (const e of m.edits) {
    const path = join(root, e.file);
    if (!existsSync(path)) {
      problems.push(`${e.file}: no such file`);
      continue;
    }
    const text = texts.get(e.file) ?? readFileSync(path, "utf8");
    if (!originals.has(e.file)) originals.set(e.file, text);
    const found = anchorMatches(text, e.find);
    const [match] = found;
    if (found.length !== 1 || match === undefined) {
      problems.push(`${e.file}: anchor ${JSON.stringify(e.find)} found ${found.length} times, whitespace aside (must be exactly once)`);
      continue;
    }
    if (e.find === e.replace) {
      problems.push(`${e.file}: replacement equals the anchor (no-op)`);
      continue;
    }
    const [at, length] = match;
    diffs.push(editDiff(e.file, text, e, at, length));
    texts.set(e.file, text.slice(0, at) + e.replace + text.slice(at + length));
  }
  if (problems.length > 0) throw new Error(`mutant ${m.name} does not apply:\n  ${problems.join("\n  ")}`);
  return { files: [...texts].map(([file, mutated]) => ({ file, original: originals.get(file) ?? "", mutated })), diff: diffs.join("\n") };
}

/** Checks every mutant of an area against the tree at `root`; returns the problems (empty: all apply). */
export function checkArea(root: string, area: MutationArea): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const m of area.mutants) {
    if (names.has(m.name)) problems.push(`duplicate mutant name ${m.name}`);
    names.add(m.name);
    try {
      planMutant(root, m);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const t of area.tests) if (!existsSync(join(root, t))) problems.push(`test file ${t} does not exist`);
  return problems;
}

/**
 * A copy of the tree's files (tracked and untracked, not ignored) in a new temporary folder, with
 * node_modules (and dist/, when built) linked from `root`: tests resolve REPO_ROOT to the copy.
 */
export function copyTree(root: string): string {
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (listed.status !== 0) throw new Error(`git ls-files failed in ${root}: ${listed.stderr}`);
  const copy = mkdtempSync(join(tmpdir(), "cohort-mutate-"));
  for (const file of listed.stdout.split("\0")) {
    if (file === "" || !existsSync(join(root, file))) continue; // deleted but not yet staged
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    copyFileSync(join(root, file), join(copy, file));
  }
  for (const shared of ["node_modules", "dist"]) if (existsSync(join(root, shared))) symlinkSync(join(root, shared), join(copy, shared), "dir");
  return copy;
}

export interface TestRun {
  readonly outcome: "pass" | "fail" | "timeout";
  readonly seconds: number;
  /** Names of the failing tests (from the TAP report). */
  readonly failed: readonly string[];
  /** The last lines of the output (for a baseline that fails). */
  readonly tail: string;
}

/** The test process running now (killed, with its process group, on Ctrl-C). */
let running: ChildProcess | undefined;

export function killRunning(): void {
  const child = running;
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Runs one test file in `root` with node:test + tsx, in its own process group, bounded by `timeoutMs`. */
export function runTestFile(root: string, file: string, timeoutMs: number): Promise<TestRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=tap", file], {
      cwd: root,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_ENV: "test" },
    });
    running = child;
    let output = "";
    const failed = new Set<string>();
    let partial = "";
    const keep = (b: Buffer): void => {
      const text = b.toString("utf8");
      output = (output + text).slice(-8000);
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^\s*not ok \d+ - (.*?)(?: # .*)?$/.exec(line);
        if (m?.[1] !== undefined && !m[1].endsWith(".test.ts")) failed.add(m[1]);
      }
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killRunning();
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      running = undefined;
      // Whatever the tests started (servers, sites) goes with them.
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is already empty
        }
      }
      const seconds = (Date.now() - started) / 1000;
      resolve({ outcome: timedOut ? "timeout" : code === 0 ? "pass" : "fail", seconds, failed: [...failed], tail: output.split("\n").slice(-40).join("\n") });
    });
  });
}

/**
 * Runs one mutant in the copy at `copy`: applies it, runs the tests until one fails, restores. A
 * failing file is run once more: some tests sleep and then assert, and fail on a loaded machine
 * whatever the code; a mutant is killed only by a file that fails twice.
 */
export async function runMutant(copy: string, area: MutationArea, m: Mutant, timeouts: ReadonlyMap<string, number>): Promise<MutantResult> {
  const { files, diff } = planMutant(copy, m);
  const started = Date.now();
  const flaky: string[] = [];
  const result = (outcome: Outcome, by?: { file: string; failed: readonly string[] }): MutantResult => ({
    name: m.name,
    hole: m.hole,
    outcome,
    ...(by ? { by: by.file, failed: by.failed } : {}),
    ...(flaky.length > 0 ? { flaky } : {}),
    seconds: (Date.now() - started) / 1000,
    diff,
  });
  try {
    for (const f of files) writeFileSync(join(copy, f.file), f.mutated);
    for (const file of area.tests) {
      const bound = timeouts.get(file) ?? 120_000;
      const r = await runTestFile(copy, file, bound);
      if (r.outcome === "timeout") return result("timeout", { file, failed: r.failed });
      if (r.outcome === "pass") continue;
      const again = await runTestFile(copy, file, bound);
      if (again.outcome === "pass") {
        flaky.push(`${file} (${r.failed.join("; ") || "?"})`);
        continue;
      }
      return result(again.outcome === "timeout" ? "timeout" : "killed", { file, failed: [...new Set([...r.failed, ...again.failed])] });
    }
    return result("survived");
  } finally {
    for (const f of files) writeFileSync(join(copy, f.file), f.original);
  }
}

export function removeCopy(copy: string): void {
  rmSync(copy, { recursive: true, force: true });
}
