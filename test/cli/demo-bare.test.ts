/**
 * `cohort demo` on a machine without Debian's dataset-fashion-mnist: the compiled CLI runs with
 * /usr/share/datasets hidden under a bubblewrap tmpfs, and must complete on the bundled subset and
 * say so. (Job children run under Node's permission model, which once refused the fallback.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runCommand } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";

const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

/**
 * The whole root as is, minus Debian's datasets. A PID namespace with its own /proc and
 * --die-with-parent: a timeout that kills bwrap ends the demo's server and sites with it.
 */
const HIDE_DATASETS = ["--dev-bind", "/", "/", "--tmpfs", "/usr/share/datasets", "--unshare-pid", "--proc", "/proc", "--die-with-parent"];

test("cohort demo without Debian's Fashion-MNIST completes on the bundled subset and says so", { ...requireSystem("bwrap"), timeout: 180_000 }, async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build (npm test builds it first)`);
  const r = await runCommand("bwrap", [...HIDE_DATASETS, "--", process.execPath, CLI, "demo"], { timeoutMs: 170_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^data: bundled Fashion-MNIST subset \(Debian's dataset-fashion-mnist is not installed/m);
  assert.equal([...r.stdout.matchAll(/^round \d\/5 accuracy 0\.\d{3}$/gm)].length, 5, r.stdout);
  assert.match(r.stdout, /job FINISHED:COMPLETED/);
  assert.doesNotMatch(r.stdout + r.stderr, /Access to this API has been restricted/);
});
