#!/usr/bin/env node
// Runs every test/**/*.test.ts through node:test + tsx (Node 20 does not expand globs itself).
// Usage: npm test [-- <substring filter> ...]
// Ends with the tests it skipped and why (tests needing a missing Debian package name it; with
// CI=true they fail instead: test/helpers/requirements.ts).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { availableParallelism, tmpdir } from "node:os";

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
// The usual reporter on the terminal, plus TAP to a file to collect the skips from.
const tapDir = mkdtempSync(join(tmpdir(), "cohort-test-run-"));
const tapFile = join(tapDir, "report.tap");
const r = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    `--test-reporter=${process.stdout.isTTY ? "spec" : "tap"}`,
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
let tap = "";
try {
  tap = readFileSync(tapFile, "utf8");
} catch {
  // no report (the run did not start): nothing to summarise
}
rmSync(tapDir, { recursive: true, force: true });
const skips = new Map();
for (const m of tap.matchAll(/^\s*ok \d+ - .* # SKIP ?(.*)$/gm)) {
  const reason = (m[1] ?? "").replace(/\\#/g, "#").trim() || "(no reason given)";
  skips.set(reason, (skips.get(reason) ?? 0) + 1);
}
if (skips.size > 0) {
  console.log(`\nskipped (tests or suites, by reason):`);
  for (const [reason, n] of [...skips].sort((a, b) => b[1] - a[1])) console.log(`  ${n} × ${reason}`);
}
process.exit(r.status ?? 1);
