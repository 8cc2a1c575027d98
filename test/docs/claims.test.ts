/**
 * docs/claims.md, the claims register, checked mechanically (its rules are at the top of that file):
 * each row's claim is in its document and names a test that exists; every claim line of README.md
 * and docs/*.md is registered, listed as not a claim (with a reason) or listed as untested (with
 * what is missing), so a new claim cannot slip in unnoticed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/index.js";

const CLAIM_WORDS = /refus|never|at most|cannot/i;
/** Header rows of docs/security.md's tables whose every data row is a claim. */
const CLAIM_TABLES = ["| claim | verified by |", "| limit | value | enforced | over it |", "| limit | value | verified by |", "| key | enforced with | note |"];
/** The documents the coverage rule applies to: README.md and every docs/*.md but the register. */
const IN_SCOPE: { doc: string; sections?: string[] }[] = [
  { doc: "README.md" },
  ...readdirSync(join(REPO_ROOT, "docs"))
    .filter((f) => f.endsWith(".md") && f !== "claims.md")
    .sort()
    .map((f) => ({ doc: `docs/${f}` })),
];

const read = (p: string): string => readFileSync(join(REPO_ROOT, p), "utf8");
const register = read("docs/claims.md");

/** The rows of the table under `heading` in docs/claims.md, split on unescaped `|`. */
function rows(heading: string): string[][] {
  const start = register.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/claims.md has a section ${heading}`);
  const end = register.indexOf("\n## ", start + heading.length + 2);
  return register
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .filter((l) => l.startsWith("| ") && !/^\|\s*-/.test(l) && !/^\| (id|doc) \|/.test(l))
    .map((l) =>
      l
        .slice(1, l.trimEnd().endsWith("|") ? l.trimEnd().length - 1 : undefined)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replace(/\\\|/g, "|")),
    );
}

/** A document as one whitespace-normalised text, with each source line's range in it. */
function normalised(doc: string): { text: string; lines: { n: number; raw: string; from: number; to: number }[] } {
  let text = "";
  const lines = read(doc)
    .split("\n")
    .map((raw, i) => {
      const part = raw.replace(/\s+/g, " ").trim();
      if (!part) return { n: i + 1, raw, from: text.length, to: text.length };
      if (text) text += " ";
      const from = text.length;
      text += part;
      return { n: i + 1, raw, from, to: text.length };
    });
  return { text, lines };
}
const norm = (s: string): string => s.replace(/\s+/g, " ").trim();

/** The source lines of `doc` the coverage rule selects (in `sections` when given). */
function claimLines(doc: string, sections?: string[]): { n: number; raw: string; from: number; to: number }[] {
  const { lines } = normalised(doc);
  let inSection = !sections;
  let table = false;
  const out: (typeof lines)[number][] = [];
  for (const l of lines) {
    if (l.raw.startsWith("## ")) inSection = !sections || sections.some((s) => l.raw.startsWith(s));
    if (!inSection) continue;
    if (l.raw.startsWith("|")) {
      if (CLAIM_TABLES.some((h) => norm(l.raw) === h)) {
        table = doc === "docs/security.md";
        continue;
      }
      if (/^\|\s*-/.test(l.raw)) continue;
      if (table || CLAIM_WORDS.test(l.raw)) out.push(l);
      continue;
    }
    table = false;
    if (CLAIM_WORDS.test(l.raw)) out.push(l);
  }
  return out;
}

const registered = rows("## Register");
const notClaims = rows("## Not claims");
const untested = rows("## Untested");

test("the register has rows, with unique ids", () => {
  assert.ok(registered.length >= 50, `${registered.length} rows`);
  const ids = registered.map((r) => r[0]);
  assert.deepEqual(
    ids.filter((id, i) => ids.indexOf(id) !== i),
    [],
    "duplicate ids",
  );
});

test("every row's claim is in its document, and its test file contains its test name", () => {
  const problems: string[] = [];
  for (const [id, doc, claim, file, name] of registered) {
    if (!doc || !claim || !file || !name) {
      problems.push(`${id}: a row needs id, doc, claim, test file and test`);
      continue;
    }
    if (!existsSync(join(REPO_ROOT, doc))) problems.push(`${id}: no document ${doc}`);
    else if (!normalised(doc).text.includes(norm(claim))) problems.push(`${id}: ${doc} does not say ${JSON.stringify(claim)}`);
    if (!existsSync(join(REPO_ROOT, file))) problems.push(`${id}: no test file ${file}`);
    else if (!read(file).includes(name)) problems.push(`${id}: ${file} has no test named ${JSON.stringify(name)}`);
  }
  assert.deepEqual(problems, []);
});

test("every 'not a claim' and 'untested' entry is in its document and says why", () => {
  const problems = [...notClaims, ...untested].flatMap(([doc, fragment, why]) =>
    !doc || !fragment || !why
      ? [`incomplete entry: ${JSON.stringify([doc, fragment, why])}`]
      : !normalised(doc).text.includes(norm(fragment))
        ? [`${doc} does not say ${JSON.stringify(fragment)}`]
        : [],
  );
  assert.deepEqual(problems, []);
});

test("every claim line of the documents in scope is registered (or listed as not a claim)", () => {
  const uncovered: string[] = [];
  let total = 0;
  for (const { doc, sections } of IN_SCOPE) {
    const { text } = normalised(doc);
    const ranges: [number, number][] = [];
    for (const fragment of [
      ...registered.filter((r) => r[1] === doc).map((r) => r[2]),
      ...[...notClaims, ...untested].filter((r) => r[0] === doc).map((r) => r[1]),
    ]) {
      const f = norm(fragment ?? "");
      for (let at = text.indexOf(f); f && at >= 0; at = text.indexOf(f, at + 1)) ranges.push([at, at + f.length]);
    }
    for (const l of claimLines(doc, sections)) {
      total++;
      if (!ranges.some(([a, b]) => a < l.to && l.from < b)) uncovered.push(`${doc}:${l.n}: ${l.raw.trim().slice(0, 160)}`);
    }
  }
  assert.ok(total > 50, `${total} claim lines in scope`);
  assert.deepEqual(uncovered, [], `${uncovered.length} of ${total} claim lines have no row in docs/claims.md`);
});

test("the register's coverage, for the record", (t) => {
  const lines = IN_SCOPE.reduce((n, { doc, sections }) => n + claimLines(doc, sections).length, 0);
  t.diagnostic(
    `${registered.length} registered claims, ${notClaims.length} lines not claims, ${untested.length} untested claims; ${lines} claim lines in ${IN_SCOPE.length} documents`,
  );
  assert.ok(untested.length <= 10, "the untested list is a short list of gaps, not a parking place");
});
