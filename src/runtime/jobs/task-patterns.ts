/**
 * Task names in executors' and filters' `tasks`, matched as FLARE's client does (TaskRouter in
 * nvflare/private/fed/client/client_runner.py): a name with a `*` is a pattern (Python's fnmatch:
 * `*`, `?`, `[seq]`, `[!seq]`, case-sensitive), any other name is exact; an exact name wins, then
 * the first pattern that matches, in the order of the config. A name listed twice is refused, as
 * FLARE refuses it; Cohort also refuses two patterns of different entries that can match the same
 * task (FLARE would silently pick the first), except a catch-all (`*`) listed after the others.
 * Patterns are matched by hand, code point by code point: no user text reaches a RegExp.
 */
import { CohortError } from "../../errors/index.js";
import { RuntimeErrorCode } from "./errors.js";

/** One character position of a pattern: `*`, or a set of code points (`?` is everything). */
type Token = { readonly star: true } | { readonly star: false; readonly negated: boolean; readonly ranges: readonly (readonly [number, number])[] };

const MAX_CODE_POINT = 0x10ffff;

/** FLARE's rule: only a name with a `*` is a pattern. */
export function isTaskPattern(name: string): boolean {
  return name.includes("*");
}

/** fnmatch's tokens: an unclosed `[` is a literal; in a set, `!` first negates, `]` first is a member, `a-z` a range (empty when reversed). */
function tokenize(pattern: string): Token[] {
  const cps = Array.from(pattern, (c) => c.codePointAt(0) as number);
  const out: Token[] = [];
  const close = "]".codePointAt(0);
  for (let i = 0; i < cps.length; i++) {
    const c = String.fromCodePoint(cps[i] as number);
    if (c === "*") {
      if (!out.at(-1)?.star) out.push({ star: true });
      continue;
    }
    if (c === "?") {
      out.push({ star: false, negated: true, ranges: [] });
      continue;
    }
    if (c === "[") {
      let j = i + 1;
      if (cps[j] === "!".codePointAt(0)) j++;
      if (cps[j] === close) j++;
      while (j < cps.length && cps[j] !== close) j++;
      if (j < cps.length) {
        const negated = cps[i + 1] === "!".codePointAt(0);
        const body = cps.slice(negated ? i + 2 : i + 1, j);
        const ranges: [number, number][] = [];
        for (let k = 0; k < body.length; k++) {
          const lo = body[k] as number;
          const hi = body[k + 2];
          if (body[k + 1] === "-".codePointAt(0) && hi !== undefined) {
            if (lo <= hi) ranges.push([lo, hi]);
            k += 2;
          } else ranges.push([lo, lo]);
        }
        out.push({ star: false, negated, ranges });
        i = j;
        continue;
      }
    }
    out.push({ star: false, negated: false, ranges: [[cps[i] as number, cps[i] as number]] });
  }
  return out;
}

function accepts(t: Token, cp: number): boolean {
  if (t.star) return true;
  const inside = t.ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
  return t.negated ? !inside : inside;
}

/** A code point both tokens accept, if any (membership only changes at range ends, so those are the candidates). */
function common(a: Token, b: Token): number | undefined {
  const ranges = [a, b].flatMap((t) => (t.star ? [] : t.ranges));
  // A printable letter first, so that the example in a refusal reads well.
  const candidates = ["a".codePointAt(0) as number, ...ranges.map(([lo]) => lo), ...ranges.map(([, hi]) => Math.min(hi + 1, MAX_CODE_POINT)), 0];
  return candidates.find((cp) => accepts(a, cp) && accepts(b, cp));
}

/** fnmatch: does `pattern` match the whole `name`? Greedy stars with backtracking to the last one: O(len²) at worst. */
export function matchesTaskPattern(pattern: string, name: string): boolean {
  return matchTokens(tokenize(pattern), name);
}

function matchTokens(p: readonly Token[], name: string): boolean {
  const s = Array.from(name, (c) => c.codePointAt(0) as number);
  let i = 0;
  let j = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (j < s.length) {
    const t = p[i];
    if (t && !t.star && accepts(t, s[j] as number)) {
      i++;
      j++;
    } else if (t?.star) {
      starAt = i++;
      resumeAt = j;
    } else if (starAt >= 0) {
      i = starAt + 1;
      j = ++resumeAt;
    } else return false;
  }
  while (p[i]?.star) i++;
  return i === p.length;
}

/** A task name both patterns match, or undefined when none exists (a search over pairs of pattern positions). */
export function overlapOf(a: string, b: string): string | undefined {
  const pa = tokenize(a);
  const pb = tokenize(b);
  const seen = new Set<number>();
  const key = (i: number, j: number): number => i * (pb.length + 1) + j;
  const queue: { i: number; j: number; text: number[] }[] = [{ i: 0, j: 0, text: [] }];
  seen.add(key(0, 0));
  const visit = (i: number, j: number, text: number[]): void => {
    if (seen.has(key(i, j))) return;
    seen.add(key(i, j));
    queue.push({ i, j, text });
  };
  for (let q = queue.shift(); q; q = queue.shift()) {
    const { i, j, text } = q;
    if (i === pa.length && j === pb.length) return String.fromCodePoint(...text);
    const ta = pa[i];
    const tb = pb[j];
    if (ta?.star) visit(i + 1, j, text);
    if (tb?.star) visit(i, j + 1, text);
    if (!ta || !tb || (ta.star && tb.star)) continue;
    const cp = common(ta, tb);
    if (cp !== undefined) visit(ta.star ? i : i + 1, tb.star ? j : j + 1, [...text, cp]);
  }
  return undefined;
}

const catchAll = (pattern: string): boolean => tokenize(pattern).every((t) => t.star);

export interface TaskRouteEntry<T> {
  readonly tasks: readonly string[];
  readonly value: T;
}

/** Where the entries are, for refusals: the file and the list (`executors`, `task_result_filters` …). */
export interface TaskRouteSource {
  readonly file?: string;
  readonly list: string;
}

/** Finds the entry for a task name. */
export interface TaskRouter<T> {
  route(task: string): T | undefined;
}

function refuse(source: TaskRouteSource, field: string, what: string, fix: string): never {
  const where = source.file ? `${source.file}: ` : "";
  throw new CohortError(RuntimeErrorCode.TaskRouting, `${where}${field}: ${what}; ${fix}`, { ...(source.file ? { file: source.file } : {}), field });
}

/** Builds the router for a list of entries; refuses a name listed twice and ambiguous patterns. */
export function taskRouter<T>(entries: readonly TaskRouteEntry<T>[], source: TaskRouteSource): TaskRouter<T> {
  const exact = new Map<string, T>();
  const seen = new Map<string, string>();
  const patterns: { pattern: string; tokens: Token[]; value: T; entry: number; field: string }[] = [];
  for (const [e, entry] of entries.entries()) {
    for (const [k, task] of entry.tasks.entries()) {
      const field = `${source.list}[${e}].tasks[${k}]`;
      const first = seen.get(task);
      if (first !== undefined)
        refuse(source, field, `task ${JSON.stringify(task)} is already listed at ${first}`, "list each task name once (FLARE refuses it too)");
      seen.set(task, field);
      if (!isTaskPattern(task)) {
        exact.set(task, entry.value);
        continue;
      }
      for (const earlier of patterns) {
        if (earlier.entry === e || catchAll(task)) continue;
        const example = overlapOf(earlier.pattern, task);
        if (example !== undefined)
          refuse(
            source,
            field,
            `the pattern ${JSON.stringify(task)} and ${JSON.stringify(earlier.pattern)} (${earlier.field}) both match a task such as ${JSON.stringify(example)}`,
            'make the patterns disjoint or list the task names (a catch-all "*" may come last)',
          );
      }
      patterns.push({ pattern: task, tokens: tokenize(task), value: entry.value, entry: e, field });
    }
  }
  return {
    route(task: string): T | undefined {
      if (exact.has(task)) return exact.get(task);
      return patterns.find((p) => matchTokens(p.tokens, task))?.value;
    },
  };
}
