/**
 * docs/flare-compat.md lists every FLARE class path Cohort registers, and registers every FLARE
 * path it lists in its component tables, so the page cannot drift from the registry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { registeredComponentPaths } from "../../src/runtime/components/registry.js";
import "../../src/runtime/components/builtins.js";
import { REPO_ROOT } from "../helpers/index.js";

const doc = readFileSync(join(REPO_ROOT, "docs", "flare-compat.md"), "utf8");
const FLARE_PATH = /`(nvflare\.[A-Za-z0-9_.]+)`/g;

test("every FLARE path Cohort registers is in docs/flare-compat.md", () => {
  const listed = new Set([...doc.matchAll(FLARE_PATH)].map((m) => m[1]));
  const missing = registeredComponentPaths().filter((p) => p.startsWith("nvflare.") && !listed.has(p));
  assert.deepEqual(missing, []);
});

test("every FLARE path in docs/flare-compat.md's tables is registered", () => {
  const registered = new Set(registeredComponentPaths());
  const tableRows = doc.split("\n").filter((l) => l.startsWith("| `nvflare."));
  const unknown = tableRows.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(FLARE_PATH)].map((m) => m[1] ?? "")).filter((p) => !registered.has(p));
  assert.deepEqual(unknown, []);
});
