/**
 * The linter (Biome, biome.json: the recommended rules, with the few exceptions explained there)
 * and the formatter run in `npm test`: code that does not lint or is not formatted fails the suite.
 * Fix with `npm run lint` / `npm run format`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/index.js";

const BIOME = join(REPO_ROOT, "node_modules", ".bin", "biome");

for (const [what, args, fix] of [
  ["lint", ["lint", "--max-diagnostics=50", "."], "npm run lint"],
  ["format", ["format", "--max-diagnostics=50", "."], "npm run format"],
] as const) {
  test(`biome ${what}: the tree passes`, { timeout: 120_000 }, () => {
    const r = spawnSync(BIOME, [...args], { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.status, 0, `biome ${what} failed (fix: ${fix}):\n${(r.stdout + r.stderr).slice(0, 20_000)}`);
  });
}
