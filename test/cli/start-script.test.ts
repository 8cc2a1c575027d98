/**
 * A kit's start.sh with real processes: without the cohort command it says how to install Cohort
 * and starts nothing; `--verify <fingerprint>` runs `cohort kit verify` against the fingerprint the
 * operator got out of band and reports its real result; a participant exiting with 4 (invalid
 * input) stops its supervisor at once (sub_start.sh says why) instead of restarting it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision, type ProvisionResult } from "../../src/provision/index.js";
import { installCommand } from "../../src/provision/templates/scripts.js";
import { freePort, minimalProject, REPO_ROOT, tempDir, writeFile } from "../helpers/index.js";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: readonly string[], env: Record<string, string | undefined>): Promise<RunResult> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolveRun) => {
    execFile("bash", [script, ...args], { env: childEnv, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : null) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The real CLI of this checkout, as a site would point COHORT_BIN at an install. */
const REAL_COHORT = `${process.execPath} --import tsx ${join(REPO_ROOT, "src", "cli", "main.ts")}`;
const WRONG_FINGERPRINT = `SHA256:${Array.from({ length: 32 }, () => "00").join(":")}`;

let dir = "";
let r: ProvisionResult;
const started: string[] = [];

/** A copy of site-1's kit, so each test has its own supervisor files. */
function kitCopy(name: string): string {
  const kit = join(dir, name, "site-1");
  cpSync(join(r.prodDir, "site-1"), kit, { recursive: true });
  return kit;
}

before(async () => {
  dir = tempDir("cohort-start-sh-");
  const port = await freePort();
  r = await provision({ projectFile: writeFile(join(dir, "project.yml"), minimalProject({ port })), workspace: join(dir, "ws") });
});

after(async () => {
  // Every supervisor a test started is stopped by its kit's own stop_fl.sh.
  for (const kit of started) await run(join(kit, "startup", "stop_fl.sh"), [], {});
});

describe("start.sh", () => {
  test("without the cohort command: says how to install it, exits non-zero, starts nothing", async () => {
    const kit = kitCopy("no-cohort");
    // A PATH holding only the tools the script uses, and no cohort.
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    for (const tool of ["bash", "dirname", "basename", "nohup", "sleep", "tail", "rm", "date", "cat"]) {
      for (const d of ["/usr/bin", "/bin"]) {
        if (existsSync(join(d, tool)) && !existsSync(join(bin, tool))) symlinkSync(join(d, tool), join(bin, tool));
      }
    }
    const res = await run(join(kit, "startup", "start.sh"), ["--verify", r.rootFingerprint ?? ""], { PATH: bin, COHORT_BIN: undefined });
    assert.equal(res.code, 127, res.stdout + res.stderr);
    assert.match(res.stderr, /start\.sh: the cohort command \('cohort'\) was not found, so nothing was started/);
    assert.ok(res.stderr.includes(installCommand()), res.stderr);
    assert.match(installCommand(), /^npm install -g \.\/cohort-fl-cohort-\d+\.\d+\.\d+\.tgz$/);
    assert.doesNotMatch(res.stdout + res.stderr, /supervisor|verification failed/);
    assert.equal(existsSync(join(kit, "supervisor.log")), false);
    assert.equal(existsSync(join(kit, "daemon_pid.fl")), false);
  });

  test("--verify with the wrong fingerprint: the real verification's refusal, nothing started", async () => {
    const kit = kitCopy("wrong-fingerprint");
    const res = await run(join(kit, "startup", "start.sh"), ["--verify", WRONG_FINGERPRINT], { COHORT_BIN: REAL_COHORT });
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, /ERR_KIT_ROOT_MISMATCH/);
    assert.match(res.stderr, /start\.sh: kit verification failed \(exit 1, reason above\); not starting/);
    assert.equal(existsSync(join(kit, "supervisor.log")), false);
  });

  test("--verify without a fingerprint asks for it and starts nothing", async () => {
    const kit = kitCopy("no-fingerprint");
    const res = await run(join(kit, "startup", "start.sh"), ["--verify"], { COHORT_BIN: REAL_COHORT, COHORT_ROOT_FINGERPRINT: undefined });
    assert.equal(res.code, 2, res.stdout + res.stderr);
    assert.match(res.stderr, /--verify needs the root CA fingerprint/);
    assert.equal(existsSync(join(kit, "supervisor.log")), false);
  });

  test("--verify with the right fingerprint: kit OK, the site runs under its supervisor", { timeout: 90_000 }, async () => {
    const kit = kitCopy("right-fingerprint");
    started.push(kit);
    const res = await run(join(kit, "startup", "start.sh"), [`--verify=${r.rootFingerprint}`], { COHORT_BIN: REAL_COHORT });
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /kit OK: site-1/);
    assert.match(res.stdout, /\(matches\)/);
    assert.match(res.stdout, /started site-1 supervisor/);
    const pid = Number(readFileSync(join(kit, "pid.fl"), "utf8"));
    assert.ok(pid > 0 && process.kill(pid, 0), "cohort start is running");
    const stop = await run(join(kit, "startup", "stop_fl.sh"), [], {});
    assert.equal(stop.code, 0, stop.stderr);
    const deadline = Date.now() + 30_000;
    while (existsSync(join(kit, "daemon_pid.fl")) && Date.now() < deadline) await new Promise((res2) => setTimeout(res2, 200));
    assert.equal(existsSync(join(kit, "daemon_pid.fl")), false, "the supervisor stopped");
  });
});

describe("sub_start.sh and exit status 4 (invalid input)", () => {
  test("a site whose local file cannot be parsed stops at once: no restart, start.sh reports it", { timeout: 60_000 }, async () => {
    const kit = kitCopy("invalid-input");
    started.push(kit);
    writeFileSync(join(kit, "local", "resources.json"), "{not json");
    const t0 = Date.now();
    // Time enough for the site to read its files on a loaded machine.
    const res = await run(join(kit, "startup", "start.sh"), [], { COHORT_BIN: REAL_COHORT, COHORT_START_WAIT: "30" });
    assert.equal(res.code, 4, res.stdout + res.stderr);
    assert.match(res.stderr, /start\.sh: site-1 did not start \(exit 4\)/);
    assert.match(res.stderr, /local\/resources\.json: not valid JSON/);
    assert.match(res.stderr, /sub_start\.sh: not restarting/);
    assert.doesNotMatch(res.stdout, /started site-1/);
    const log = readFileSync(join(kit, "supervisor.log"), "utf8");
    assert.equal(log.match(/error \[ERR_SITE_POLICY_FILES\]/g)?.length, 1, `one attempt only:\n${log}`);
    assert.doesNotMatch(log, /restarting in/);
    assert.equal(existsSync(join(kit, "daemon_pid.fl")), false);
    assert.ok(Date.now() - t0 < 30_000, "start.sh returned as soon as the supervisor stopped");
  });
});
