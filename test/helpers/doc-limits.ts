/**
 * Limits as the documents state them: a limit test reads the number from the docs and the
 * constant from the code, checks they agree, and then pins the behaviour at the limit and one past
 * it. Changing the code's limit without the docs (or the docs without the code) fails the test.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { REPO_ROOT } from "./index.js";

const UNITS: Record<string, number> = { "": 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, ms: 1, s: 1000 };

/**
 * The number captured by `pattern`'s first group in `doc` (a path from the repository root),
 * whitespace-normalised; a second group, when present, is a unit (KiB, MiB, GiB, s, ms) applied to it.
 */
export function documentedNumber(doc: string, pattern: RegExp): number {
  const text = readFileSync(join(REPO_ROOT, doc), "utf8").replace(/\s+/g, " ");
  const m = pattern.exec(text);
  assert.ok(m?.[1], `${doc} states ${String(pattern)}`);
  const unit = m[2] ?? "";
  assert.ok(unit in UNITS, `unknown unit ${unit}`);
  return Number(m[1]) * (UNITS[unit] ?? 1);
}
