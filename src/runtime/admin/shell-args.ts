import { CohortError } from "../../errors/index.js";
import { AdminErrorCode } from "./errors.js";

/**
 * FLARE's shell commands (`nvflare/fuel/hci/shell_cmd_val.py`) with their allow-listed options:
 * nothing is passed to a shell, and an option outside the list is refused by name. File names
 * follow FLARE's rule: relative, no `..`, only `A-Za-z0-9-._/`.
 */
export type ShellCommand = "ls" | "cat" | "head" | "tail" | "grep";

export interface ShellArgs {
  readonly cmd: ShellCommand;
  /** Flags given (letters, e.g. "a", "l"). */
  readonly flags: ReadonlySet<string>;
  /** -n / -c counts (head, tail). */
  readonly lines?: number;
  readonly bytes?: number;
  readonly pattern?: string;
  /** The file (or, for ls, the folder; absent means the site's folder). */
  readonly file?: string;
}

const BOOLEAN_FLAGS: Readonly<Record<ShellCommand, string>> = { ls: "alrtSRu", cat: "nbsT", head: "", tail: "", grep: "nibv" };
const COUNT_FLAGS: Readonly<Record<ShellCommand, string>> = { ls: "", cat: "", head: "nc", tail: "nc", grep: "" };
const MAX_COUNT = 100_000;
const FILE_NAME = /^[A-Za-z0-9\-._/]*$/;

export function isShellCommand(cmd: string): cmd is ShellCommand {
  return Object.hasOwn(BOOLEAN_FLAGS, cmd);
}

function refuse(cmd: string, why: string): CohortError {
  return new CohortError(AdminErrorCode.Usage, `${cmd}: ${why}`, { cmd });
}

/** A file name FLARE's rule refuses: a path error, as the site's own path checks report. */
function pathRefusal(cmd: string, why: string): CohortError {
  return new CohortError(AdminErrorCode.Path, `${cmd}: ${why}`, { cmd });
}

function allowed(cmd: ShellCommand): string {
  const all = [...BOOLEAN_FLAGS[cmd], ...COUNT_FLAGS[cmd]].map((f) => `-${f}${COUNT_FLAGS[cmd].includes(f) ? " N" : ""}`);
  return all.length ? all.join(", ") : "none";
}

/** A file argument under FLARE's rule (the site checks the resolved path again, startup/ included). */
export function checkFileName(cmd: string, f: string): string {
  if (f.length > 1024) throw pathRefusal(cmd, "file name too long");
  if (!FILE_NAME.test(f)) throw pathRefusal(cmd, `unsupported file ${JSON.stringify(f.slice(0, 80))} (letters, digits, - . _ / only)`);
  if (f.startsWith("/")) throw pathRefusal(cmd, "absolute path is not allowed");
  if (f.split("/").includes("..")) throw pathRefusal(cmd, ".. in path name is not allowed");
  return f;
}

function count(cmd: string, flag: string, v: string | undefined): number {
  if (v === undefined || !/^\d{1,6}$/.test(v)) throw refuse(cmd, `-${flag} needs a number, got ${JSON.stringify(v ?? "")}`);
  return Math.min(MAX_COUNT, Number(v));
}

/**
 * Parses a shell command's words after its target. `-an` groups boolean flags; `-n 5`, `-n5` and
 * `--` are accepted; a long option or an unknown letter is refused. Cohort's older
 * `head <site> <file> [lines]` is kept.
 */
export function parseShellArgs(cmd: ShellCommand, words: readonly string[]): ShellArgs {
  const flags = new Set<string>();
  const positional: string[] = [];
  const counts: Record<string, number> = {};
  let options = true;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    if (options && w === "--") {
      options = false;
      continue;
    }
    if (options && w.startsWith("-") && w.length > 1) {
      if (w.startsWith("--")) throw refuse(cmd, `option ${JSON.stringify(w.slice(0, 40))} is not allowed (allowed: ${allowed(cmd)})`);
      const letters = w.slice(1);
      const first = letters[0] ?? "";
      if (COUNT_FLAGS[cmd].includes(first)) {
        counts[first] = count(cmd, first, letters.length > 1 ? letters.slice(1) : words[++i]);
        continue;
      }
      for (const l of letters) {
        if (!BOOLEAN_FLAGS[cmd].includes(l)) throw refuse(cmd, `option -${l} is not allowed (allowed: ${allowed(cmd)})`);
        flags.add(l);
      }
      continue;
    }
    positional.push(w);
  }
  let pattern: string | undefined;
  if (cmd === "grep") {
    pattern = positional.shift();
    if (pattern === undefined || pattern === "") throw refuse(cmd, "missing pattern: grep <target> [-n] [-i] [-v] [-b] <pattern> <file>");
    if (pattern.length > 200) throw refuse(cmd, "grep pattern too long (at most 200 characters)");
  }
  if ((cmd === "head" || cmd === "tail") && positional.length === 2 && counts["n"] === undefined && /^\d{1,6}$/.test(positional[1] ?? "")) {
    counts["n"] = count(cmd, "n", positional.pop());
  }
  if (positional.length > 1) throw refuse(cmd, "only one file is allowed");
  const file = positional[0];
  if (file === undefined && cmd !== "ls") throw refuse(cmd, "a file is required as an argument");
  return {
    cmd,
    flags,
    ...(counts["n"] !== undefined ? { lines: counts["n"] } : {}),
    ...(counts["c"] !== undefined ? { bytes: counts["c"] } : {}),
    ...(pattern !== undefined ? { pattern } : {}),
    ...(file !== undefined ? { file: checkFileName(cmd, file) } : {}),
  };
}

/** FLARE's `list_jobs [-n name_prefix] [-d] [-u] [-r] [-m num_of_jobs] [job_id_prefix]`. */
export interface ListJobsArgs {
  readonly detailed: boolean;
  readonly mine: boolean;
  readonly reverse: boolean;
  readonly max?: number;
  readonly namePrefix?: string;
  readonly idPrefix?: string;
}

export function parseListJobsArgs(words: readonly string[]): ListJobsArgs {
  const out: { detailed: boolean; mine: boolean; reverse: boolean; max?: number; namePrefix?: string; idPrefix?: string } = {
    detailed: false,
    mine: false,
    reverse: false,
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? "";
    if (w === "-d") out.detailed = true;
    else if (w === "-u") out.mine = true;
    else if (w === "-r") out.reverse = true;
    else if (w === "-m") {
      const v = words[++i];
      if (v === undefined || !/^[1-9]\d{0,5}$/.test(v)) throw refuse("list_jobs", `-m needs a positive number of jobs, got ${JSON.stringify(v ?? "")}`);
      out.max = Number(v);
    } else if (w === "-n") {
      const v = words[++i];
      if (v === undefined || v.startsWith("-")) throw refuse("list_jobs", "-n needs a job name prefix");
      out.namePrefix = v;
    } else if (w.startsWith("-"))
      throw refuse("list_jobs", `option ${JSON.stringify(w.slice(0, 40))} is not allowed (allowed: -d, -u, -r, -m N, -n name_prefix)`);
    else if (out.idPrefix === undefined) out.idPrefix = w;
    else throw refuse("list_jobs", `one job id prefix at most (got ${JSON.stringify(out.idPrefix)} and ${JSON.stringify(w.slice(0, 40))})`);
  }
  return out;
}
