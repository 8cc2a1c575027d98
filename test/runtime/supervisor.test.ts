/**
 * start.sh/sub_start.sh supervise `cohort start` as FLARE's do: an admin's `restart` brings the site
 * back (restart.fl), `shutdown` stops it for good (shutdown.fl), and nothing is left running.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { freePort, REPO_ROOT, runCli, tempDir, writeFile } from "../helpers/index.js";
import { startParticipantProcess, type CohortProcess } from "../helpers/processes.js";

let prodDir = "";
let server: CohortProcess;
let supervisor: ChildProcess;
const kit = (n: string): string => join(prodDir, n);
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

before(async () => {
  const dir = tempDir("cohort-supervisor-");
  const port = await freePort();
  const file = writeFile(
    join(dir, "project.yml"),
    `api_version: 3\nname: supervised\nparticipants:\n  - {name: localhost, type: server, org: o, fed_learn_port: ${port}, host_names: [127.0.0.1]}\n  - {name: site-1, type: client, org: o, connect_to: 127.0.0.1}\n  - {name: admin@o.org, type: admin, org: o, role: project_admin}\n`,
  );
  const provisioned = await provision({ projectFile: file, workspace: join(dir, "ws") });
  prodDir = provisioned.prodDir;
  server = startParticipantProcess(kit("localhost"), { server: true });
  await server.waitFor(/listening on/);
  supervisor = spawn("bash", [join(kit("site-1"), "startup", "sub_start.sh"), "--verify", provisioned.rootFingerprint ?? ""], {
    env: { ...process.env, COHORT_BIN: `${process.execPath} --import tsx ${join(REPO_ROOT, "src", "cli", "main.ts")}` },
    cwd: REPO_ROOT,
    stdio: "ignore",
  });
});

after(async () => {
  if (supervisor.exitCode === null) supervisor.kill("SIGTERM");
  await server.stop();
});

test("restart brings the site back; shutdown stops it and its supervisor", { timeout: 120_000 }, async () => {
  await server.waitFor(/client site-1 .* logged in/, 40_000);
  const firstPid = Number(readFileSync(join(kit("site-1"), "pid.fl"), "utf8"));
  const mark = server.mark();
  const r = await runCli(["admin", kit("admin@o.org"), "-c", "restart site-1", "--json", "--yes"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await server.waitFor(/client site-1 .* logged in/, 60_000, mark);
  const secondPid = Number(readFileSync(join(kit("site-1"), "pid.fl"), "utf8"));
  assert.notEqual(secondPid, firstPid, "a new cohort start process");
  assert.ok(!alive(firstPid));

  const exited = new Promise<number | null>((resolve) => supervisor.once("exit", resolve));
  const s = await runCli(["admin", kit("admin@o.org"), "-c", "shutdown site-1", "--json", "--yes"]);
  assert.equal(s.code, 0, s.stdout + s.stderr);
  assert.equal(await exited, 0, "the supervisor exits on shutdown.fl");
  assert.ok(!alive(secondPid), "no cohort start process left");
  assert.ok(!existsSync(join(kit("site-1"), "daemon_pid.fl")));
  await server.waitFor(/site-1 disconnected/, 20_000, mark);
});
