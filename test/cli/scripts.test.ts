/**
 * Kit scripts call ${COHORT_BIN:-cohort}; `start.sh --verify` / `sub_start.sh --verify` verify the
 * kit first and refuse to start a tampered one. `cohort provision -g` writes a sample project.yml.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFileSync, chmodSync, cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision, type ProvisionResult } from "../../src/provision/index.js";
import { loadProjectFile } from "../../src/config/index.js";
import { freePort, minimalProject, REPO_ROOT, runCli, tempDir, writeFile } from "../helpers/index.js";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: readonly string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolveRun) => {
    execFile("bash", [script, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : null) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe("kit scripts with --verify", () => {
  let dir = "";
  let r: ProvisionResult;
  let fake = "";
  let log = "";

  before(async () => {
    dir = tempDir();
    const port = await freePort();
    r = await provision({ projectFile: writeFile(join(dir, "project.yml"), minimalProject({ port })), workspace: join(dir, "ws") });
    // A COHORT_BIN that runs the real `kit verify` and only records `start` (that command arrives later).
    log = join(dir, "calls.log");
    fake = join(dir, "fake-cohort.sh");
    writeFileSync(
      fake,
      `#!/usr/bin/env bash
echo "$*" >> "${log}"
if [ "$1" = "kit" ]; then cd "${REPO_ROOT}" && exec node --import tsx src/cli/main.ts "$@"; fi
exit 0
`,
    );
    chmodSync(fake, 0o755);
  });

  test("sub_start.sh --verify --once verifies the intact kit, then runs `cohort start <kit>`", async () => {
    const kit = join(dir, "intact", "site-1");
    cpSync(join(r.prodDir, "site-1"), kit, { recursive: true });
    const res = await runScript(join(kit, "startup", "sub_start.sh"), ["--verify", r.rootFingerprint ?? "", "--once"], { COHORT_BIN: fake });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /kit OK: site-1/);
    const calls = readFileSync(log, "utf8");
    assert.ok(calls.includes(`kit verify ${kit}`), calls);
    assert.ok(calls.includes(`start ${kit}`), calls);
    assert.equal(existsSync(join(kit, "daemon_pid.fl")), false, "--once cleans up");
  });

  test("start.sh --verify and sub_start.sh --verify refuse a tampered kit and start nothing", async () => {
    const kit = join(dir, "tampered", "site-1");
    cpSync(join(r.prodDir, "site-1"), kit, { recursive: true });
    appendFileSync(join(kit, "startup", "fed_client.json"), "\n");
    writeFileSync(log, "");
    for (const script of ["start.sh", "sub_start.sh"]) {
      const res = await runScript(join(kit, "startup", script), ["--verify", r.rootFingerprint ?? ""], { COHORT_BIN: fake });
      assert.equal(res.code, 1, `${script}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, /ERR_KIT_TAMPERED/);
      assert.match(res.stderr, new RegExp(`${script}: kit verification failed \\(exit 1, reason above\\); not starting`));
    }
    const calls = readFileSync(log, "utf8");
    assert.doesNotMatch(calls, /^start /m, calls);
    assert.equal(existsSync(join(kit, "supervisor.log")), false);
    assert.equal(existsSync(join(kit, "daemon_pid.fl")), false);
  });
});

describe("cohort provision -g", () => {
  test("writes a sample project.yml (FLARE format, loads cleanly) into the current folder and refuses to overwrite it", async () => {
    const dir = tempDir();
    const first = await runCli(["provision", "-g"], {}, { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const file = join(dir, "project.yml");
    assert.ok(existsSync(file));
    assert.match(first.stdout, /wrote a sample/);
    const { project } = loadProjectFile(file);
    assert.equal(project.admins.length, 4);
    const before = readFileSync(file);
    const second = await runCli(["provision", "-g"], {}, { cwd: dir });
    assert.equal(second.code, 4);
    assert.match(second.stderr, /exists/);
    assert.deepEqual(readFileSync(file), before);
  });
});
