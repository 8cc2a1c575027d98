/**
 * Compares the console's human output with a fixture written from FLARE's source
 * (test/fixtures/console/README.md): ids and times normalised, table padding collapsed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../helpers/index.js";

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const ISO = /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g;
const ASCTIME = /[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}/g;

/** A table row with its padding removed: `| a | b |`. */
const cells = (l: string): string =>
  `| ${l
    .split("|")
    .slice(1, -1)
    .map((c) => c.trim())
    .join(" | ")} |`;

export function normalise(text: string): string[] {
  return text
    .replace(UUID, "<JOB_ID>")
    .replace(ISO, "<TIME>")
    .replace(ASCTIME, "<TIME>")
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => (/^-{3,}$/.test(l) ? "---" : l.startsWith("|") ? cells(l) : l));
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** True when `actual` has the fixture's shape: line by line, `<*>` any text, `<ROWS>` any table rows. */
export function matchesShape(fixture: string, actual: string): boolean {
  const want = normalise(fixture);
  const got = normalise(actual);
  let g = 0;
  for (const w of want) {
    if (w === "<ROWS>") {
      while (got[g]?.startsWith("| ")) g++;
      continue;
    }
    const re = new RegExp(`^${w.split("<*>").map(escapeRegExp).join(".*")}$`);
    if (!re.test(got[g] ?? "")) return false;
    g++;
  }
  return g === got.length;
}

export function fixture(name: string): string {
  return readFileSync(join(REPO_ROOT, "test", "fixtures", "console", name), "utf8");
}

export function assertShape(name: string, actual: string): void {
  assert.ok(
    matchesShape(fixture(name), actual),
    `output does not have the shape of test/fixtures/console/${name}:\n${actual}\n--- expected ---\n${fixture(name)}`,
  );
}
