/**
 * On a machine without python3, nginx, bubblewrap or Debian's Fashion-MNIST, `npm test` (the
 * runner) skips the tests that need them, names the Debian package for each, and passes; with
 * CI=true the same run fails. Runs a few guarded test files through scripts/run-tests.mjs, with the
 * packages hidden for real (inside bubblewrap) and through COHORT_TEST_HIDE.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { REPO_ROOT, runCommand } from "../helpers/index.js";
import { DEBIAN_DATASET_DIR, PYTHON, requireSystem } from "../helpers/requirements.js";

/** One guarded file per requirement: python3, nginx (+ stream), bwrap, the dataset. */
const GUARDED = ["test/python/python-module.test.ts", "test/transport/proxies.test.ts", "test/cli/demo-bare.test.ts", "test/runtime/learn/idx.test.ts"];
const RUNNER = ["scripts/run-tests.mjs", ...GUARDED];

/**
 * The environment of this run without CI (or with CI=true), plus `extra`; without NODE_TEST_CONTEXT,
 * which would make the inner `node --test` report to this one instead of printing.
 */
function env(ci: boolean, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== "CI" && k !== "COHORT_TEST_HIDE" && k !== "NODE_TEST_CONTEXT") out[k] = v;
  return { ...out, ...(ci ? { CI: "true" } : {}), ...extra };
}

/** Each requirement's reason names its Debian package. */
const PACKAGES = [/python3 python3-msgpack python3-numpy/, /install nginx libnginx-mod-stream/, /install bubblewrap/, /install dataset-fashion-mnist/];

function assertNamedSkips(output: string): void {
  assert.match(output, /^skipped \(tests or suites, by reason\):$/m, output.slice(-3000));
  const summary = output.slice(output.lastIndexOf("skipped (tests or suites, by reason):"));
  for (const p of PACKAGES) assert.match(summary, p, summary);
}

function assertFailsUnderCi(r: { code: number | null; stdout: string; stderr: string }): void {
  const output = r.stdout + r.stderr;
  assert.notEqual(r.code, 0, output.slice(-3000));
  assert.match(output, /CI=true and a test requirement is missing/);
  for (const p of PACKAGES) assert.match(output, p, output.slice(-3000));
}

test("COHORT_TEST_HIDE: the run skips, names each package and passes; with CI=true it fails", { timeout: 240_000 }, async () => {
  const hide = { COHORT_TEST_HIDE: "python3,nginx,bwrap,dataset" };
  const r = await runCommand(process.execPath, RUNNER, { env: env(false, hide), timeoutMs: 110_000 });
  assert.equal(r.code, 0, (r.stdout + r.stderr).slice(-3000));
  assertNamedSkips(r.stdout);
  assertFailsUnderCi(await runCommand(process.execPath, RUNNER, { env: env(true, hide), timeoutMs: 110_000 }));
});

/** Where a program on PATH really is (to cover it with an empty file), if installed. */
function which(program: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  return r.status === 0 && path.startsWith("/") ? realpathSync(path) : undefined;
}

test("python3, nginx, bwrap and the dataset really absent (hidden by bubblewrap): named skips; with CI=true a failure", {
  ...requireSystem("bwrap"),
  timeout: 240_000,
}, async () => {
  // An empty, non-executable file over each program; an empty folder over the datasets. The
  // sandbox's own PID namespace and --die-with-parent bound everything it starts to the timeout.
  const programs = [PYTHON, which("nginx"), which("bwrap")].filter((p): p is string => p !== undefined && existsSync(p));
  const hide = [...programs.flatMap((p) => ["--ro-bind", "/dev/null", p]), ...(existsSync(DEBIAN_DATASET_DIR) ? ["--tmpfs", "/usr/share/datasets"] : [])];
  const bwrap = (ci: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runCommand(
      "bwrap",
      ["--dev-bind", "/", "/", ...hide, "--unshare-pid", "--proc", "/proc", "--die-with-parent", "--chdir", REPO_ROOT, "--", process.execPath, ...RUNNER],
      { env: env(ci), timeoutMs: 110_000 },
    );
  const r = await bwrap(false);
  assert.equal(r.code, 0, (r.stdout + r.stderr).slice(-3000));
  assertNamedSkips(r.stdout);
  assert.doesNotMatch(r.stdout, /hidden by COHORT_TEST_HIDE/);
  assertFailsUnderCi(await bwrap(true));
});
