#!/usr/bin/env node
// Runs every test/**/*.test.ts through node:test + tsx (Node 20 does not expand globs itself).
// Usage: npm test [-- <substring filter> ...]
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism } from "node:os";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...collect(p));
    else if (entry.name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = collect(join(root, "test"))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}
const concurrency = Math.max(2, availableParallelism());
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(r.status ?? 1);
