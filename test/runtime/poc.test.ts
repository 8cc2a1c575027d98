/**
 * `cohort poc`: prepare provisions a project on a free 127.0.0.1 port, start runs real `cohort
 * start` processes (mTLS) until every site is connected, start twice is harmless, stop leaves no
 * process and no listening port behind, clean removes the workspace.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { portRefuses, stopPoc } from "../../src/runtime/poc/index.js";
import { runCli, tempDir } from "../helpers/index.js";

const ws = join(tempDir("cohort-poc-"), "poc");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true;
  }
}

const pids = (): { name: string; pid: number }[] =>
  (JSON.parse(readFileSync(join(ws, "pids.json"), "utf8")) as { processes: { name: string; pid: number }[] }).processes;
const poc = (): { host: string; port: number } => JSON.parse(readFileSync(join(ws, "poc.json"), "utf8")) as { host: string; port: number };

after(async () => {
  // Whatever a failed assertion left running.
  if (existsSync(join(ws, "poc.json"))) await stopPoc({ workspace: ws, graceMs: 3_000 }).catch(() => undefined);
});

test("poc prepare --he, start (twice), stop, clean: all sites connect over mTLS with their CKKS contexts; nothing is left running or listening", {
  timeout: 150_000,
}, async () => {
  const prep = await runCli(["poc", "prepare", "-n", "2", "--he", "-w", ws]);
  assert.equal(prep.code, 0, prep.stderr);
  assert.match(prep.stdout, /sites site-1, site-2; admin admin@cohort\.poc \(project_admin\)/);
  assert.match(prep.stdout, /HE: CKKS key pair made/);
  const { host, port } = poc();
  assert.equal(host, "127.0.0.1");
  const startup = (k: string): string => join(ws, "cohort_poc", "prod_00", k, "startup");
  for (const k of ["server", "site-1", "site-2", "admin@cohort.poc"]) assert.ok(existsSync(startup(k)), k);
  // --he: the sites hold the secret key (0600), the server public parameters only, the admin nothing.
  for (const s of ["site-1", "site-2"]) assert.equal(statSync(join(startup(s), "client_context.ckks")).mode & 0o777, 0o600);
  assert.equal((JSON.parse(readFileSync(join(startup("server"), "server_context.ckks"), "utf8")) as { secret_key?: string }).secret_key, undefined);
  assert.equal(existsSync(join(startup("server"), "client_context.ckks")), false);
  assert.equal(existsSync(join(startup("admin@cohort.poc"), "client_context.ckks")), false);

  const start = await runCli(["poc", "start", "-w", ws, "--timeout", "90"], {}, { timeoutMs: 120_000 });
  assert.equal(start.code, 0, start.stdout + start.stderr);
  assert.match(start.stdout, /poc: 2\/2 sites connected \(site-1, site-2\)/);
  const running = pids();
  assert.deepEqual(running.map((p) => p.name).sort(), ["server", "site-1", "site-2"]);
  for (const p of running) assert.ok(alive(p.pid), `${p.name} pid ${p.pid} runs`);
  assert.equal(await portRefuses(host, port), false, "the server listens");
  const status = await runCli(["admin", join(ws, "cohort_poc", "prod_00", "admin@cohort.poc"), "-c", "check_status server", "--json"]);
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual((JSON.parse(status.stdout) as { clients: string[] }).clients.sort(), ["site-1", "site-2"]);

  const again = await runCli(["poc", "start", "-w", ws], {}, { timeoutMs: 60_000 });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /POC already running/);
  assert.deepEqual(pids(), running, "no second set of processes");

  const stop = await runCli(["poc", "stop", "-w", ws], {}, { timeoutMs: 60_000 });
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /POC stopped: server pid \d+ stopped, site-1 pid \d+ stopped, site-2 pid \d+ stopped/);
  for (const p of running) assert.equal(alive(p.pid), false, `${p.name} pid ${p.pid} is gone`);
  assert.equal(await portRefuses(host, port), true, `${host}:${port} refuses connections`);
  const stopAgain = await runCli(["poc", "stop", "-w", ws]);
  assert.equal(stopAgain.code, 0);
  assert.match(stopAgain.stdout, /POC was not running/);

  const clean = await runCli(["poc", "clean", "-w", ws]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(existsSync(ws), false);
});
