/**
 * The console as a FLARE operator uses it, against a real federation (server + 3 sites, each its
 * own process): FLARE's target grammar (`restart client site-1` restarts only site-1, `shutdown
 * client site-2` leaves the others running), confirmations (refused: nothing changes), FLARE's
 * human output (fixtures written from FLARE's source) and `--json` (one parseable document).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT, runCli, tempDir, writeFile } from "../../helpers/index.js";
import { startFederation, type Federation } from "../../helpers/federation.js";
import { flareTable } from "../../../src/cli/admin-output.js";
import { assertShape, fixture, normalise } from "./console-output.js";

const ADMIN = "admin@nvidia.com";
let fed: Federation;

/** One command, as a script runs it: human output by default, exit status, stderr. */
async function human(command: string, ...flags: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runCli(["admin", fed.kit(ADMIN), ...flags, "-c", command], {}, { timeoutMs: 120_000 });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** The same command with --json: one JSON document. */
async function json(command: string): Promise<unknown> {
  const r = await runCli(["admin", fed.kit(ADMIN), "--yes", "--json", "-c", command], {}, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${command} --json: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

async function connectedSites(): Promise<string[]> {
  const s = (await json("check_status server")) as { clients: string[] };
  return [...s.clients].sort();
}

/** A job that waits for 4 sites (there are 3): it stays queued, so it can be aborted and deleted. */
function waitingJob(): string {
  const dst = join(tempDir("cohort-console-job-"), "console-job");
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), dst, { recursive: true });
  const meta = JSON.parse(readFileSync(join(dst, "meta.json"), "utf8")) as Record<string, unknown>;
  writeFile(join(dst, "meta.json"), JSON.stringify({ ...meta, name: "console-job", min_clients: 4 }));
  return dst;
}

before(async () => {
  fed = await startFederation({
    project: "console_test",
    sites: ["site-1", "site-2", "site-3"],
    admin: ADMIN,
    // Each `cohort admin -c` logs in once: this file runs more than the default 30 a minute.
    prepare: (kit) => {
      const file = join(kit("localhost"), "local", "resources.json.default");
      const res = JSON.parse(readFileSync(file, "utf8")) as { servers: Record<string, unknown>[] };
      Object.assign(res.servers[0] ?? {}, { login_attempts_per_minute: 1000 });
      writeFile(join(kit("localhost"), "local", "resources.json"), JSON.stringify(res));
    },
  });
});

after(async () => {
  await Promise.all([...fed.sites.values(), fed.server].map((p) => p.stop()));
});

test("FLARE's table format, exactly (nvflare/fuel/hci/table.py)", () => {
  assert.equal(`${flareTable(["Job ID", "Name"], [["ab", "hello"]])}\n`, fixture("table.txt"));
});

test("status and system commands print FLARE's tables; --json prints one document", { timeout: 600_000 }, async () => {
  const cases: [string, string][] = [
    ["check_status server", "check_status_server.txt"],
    ["check_status client site-1 site-3", "check_status_client.txt"],
    ["sys_info client site-1", "sys_info_client.txt"],
    ["sys_info server", "sys_info_server.txt"],
    ["report_resources client site-1 site-3", "report_resources_client.txt"],
    ["report_resources server", "report_resources_server.txt"],
    ["report_env client site-1", "report_env.txt"],
    ["show_scopes client site-1 site-3", "show_scopes.txt"],
    ["list_jobs", "list_jobs_none.txt"],
  ];
  for (const [command, file] of cases) {
    const r = await human(command);
    assert.equal(r.code, 0, `${command}: ${r.err}`);
    assertShape(file, r.out);
    await json(command);
  }
  assert.equal((await human("lpwd")).out.trim(), fed.kit(ADMIN), "lpwd: the admin kit's folder");
  assert.match((await human("info")).out, /^Local Upload Source: .*transfer\nLocal Download Destination: .*transfer\n$/);
  const legacy = (await json("sys_info @ALL")) as Record<string, unknown>;
  assert.deepEqual(Object.keys(legacy).sort(), ["site-1", "site-2", "site-3"], "Cohort's @ALL still addresses every site");
});

test("targets it cannot parse are refused with the reason, before anything runs", { timeout: 120_000 }, async () => {
  for (const [command, reason] of [
    ["restart client server", /target type, not a site name/],
    ["shutdown server site-1", /server takes no site names/],
    ["sys_info client site-9", /invalid client\(s\): site-9/],
    ["ls client", /one site at a time/],
    ["show_scopes server", /show_scopes runs at sites only/],
    ["report_env server", /report_env runs at sites only/],
    ["ls site-1 --exec", /option "--exec" is not allowed/],
    ["cat site-1 ../startup/client.key", /\.\. in path name is not allowed/],
  ] as const) {
    const r = await human(command, "--yes");
    assert.equal(r.code, 1, command);
    assert.match(r.err, reason, command);
  }
  assert.deepEqual(await connectedSites(), ["site-1", "site-2", "site-3"], "nothing was restarted or shut down");
});

test("ls takes FLARE's flags; `ls server` lists the server's folder, never startup/", { timeout: 120_000 }, async () => {
  const a = await human("ls site-1 -a");
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /^local\/$/m);
  const l = await human("ls site-1 -l local");
  assert.equal(l.code, 0, l.err);
  assert.match(l.out, /^-rw.* \d+ \d{4}-\d{2}-\d{2} \d{2}:\d{2} .+$/m);
  const server = await human("ls server");
  assert.equal(server.code, 0, server.err);
  assert.match(server.out, /^local\/$/m);
  assert.doesNotMatch(server.out, /startup/);
  const tail = await human("tail site-1 -n 1 local/resources.json.default");
  assert.equal(tail.code, 0, tail.err);
  assert.equal(tail.out.trimEnd().split("\n").length, 1);
  const grep = await human("grep site-1 -n -i COMPONENTS local/resources.json.default");
  assert.equal(grep.code, 0, grep.err);
  assert.match(grep.out, /^\d+:.*"components"/m);
});

test("job commands: Submitted job: <id>, FLARE's list_jobs table and filters, abort and delete messages", { timeout: 300_000 }, async () => {
  const sub = await human(`submit_job ${waitingJob()}`);
  assert.equal(sub.code, 0, sub.err);
  assertShape("submit_job.txt", sub.out);
  const id = /Submitted job: (\S+)/.exec(sub.out)?.[1] ?? "";
  assertShape("list_jobs.txt", (await human("list_jobs")).out);
  assertShape("list_jobs.txt", (await human(`list_jobs -m 1 -r ${id.slice(0, 8)}`)).out);
  assertShape("list_jobs_no_match.txt", (await human("list_jobs -n no-such-name")).out);
  const detailed = (await human("list_jobs -d")).out;
  assert.equal((JSON.parse(detailed) as { job_id: string }).job_id, id, "-d prints each job's meta as JSON");
  const meta = await human(`get_job_meta ${id}`);
  assert.equal(meta.out.trimEnd(), JSON.stringify(JSON.parse(meta.out), null, 2), "FLARE prints dicts as JSON with indent 2");
  const list = (await json("list_jobs")) as { job_id: string }[];
  assert.ok(list.some((j) => j.job_id === id));

  const unconfirmed = await human(`abort_job ${id}`);
  assert.equal(unconfirmed.code, 1);
  assert.match(unconfirmed.err, /abort_job asks for confirmation.*--yes.*nothing was sent/);
  const abort = await human(`abort_job ${id}`, "--yes");
  assert.equal(abort.code, 0, abort.err);
  const [line = ""] = normalise(abort.out);
  assert.ok(normalise(fixture("abort_job.txt")).includes(line), `abort_job: ${abort.out}`);
  const del = await human(`delete_job ${id}`, "--yes");
  assert.equal(del.code, 0, del.err);
  assertShape("delete_job.txt", del.out);
});

test("shutdown and restart are refused while a job runs (FLARE's rule), and change nothing", { timeout: 300_000 }, async () => {
  const dst = join(tempDir("cohort-console-running-"), "console-running");
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), dst, { recursive: true });
  const meta = JSON.parse(readFileSync(join(dst, "meta.json"), "utf8")) as Record<string, unknown>;
  writeFile(join(dst, "meta.json"), JSON.stringify({ ...meta, name: "console-running" }));
  const srv = JSON.parse(readFileSync(join(dst, "app", "config", "config_fed_server.json"), "utf8")) as { workflows: { args: Record<string, unknown> }[] };
  // Rounds enough to outlast the commands below; the job is aborted at the end.
  Object.assign(srv.workflows[0]?.args ?? {}, { num_rounds: 500 });
  writeFile(join(dst, "app", "config", "config_fed_server.json"), JSON.stringify(srv));
  const sub = await human(`submit_job ${dst}`);
  assert.equal(sub.code, 0, sub.err);
  const id = /Submitted job: (\S+)/.exec(sub.out)?.[1] ?? "";
  const deadline = Date.now() + 120_000;
  while (((await json(`get_job_meta ${id}`)) as { status: string }).status !== "RUNNING") {
    assert.ok(Date.now() < deadline, "the job reaches RUNNING");
    await new Promise((res) => setTimeout(res, 1000));
  }
  for (const command of ["shutdown client site-2", "restart client site-1", "shutdown all"]) {
    const r = await human(command, "--yes");
    assert.equal(r.code, 1, `${command}: ${r.out}`);
    assert.match(r.err + r.out, new RegExp(`There are still jobs running \\(${id}\\)\\. Please let them finish or abort_job before`), command);
  }
  assert.deepEqual(await connectedSites(), ["site-1", "site-2", "site-3"], "nothing was shut down");
  assert.equal(((await json(`get_job_meta ${id}`)) as { status: string }).status, "RUNNING", "the job runs on");
  assert.equal((await human(`abort_job ${id}`, "--yes")).code, 0);
  while (!((await json(`get_job_meta ${id}`)) as { status: string }).status.startsWith("FINISHED")) {
    assert.ok(Date.now() < deadline + 60_000, "the aborted job ends");
    await new Promise((res) => setTimeout(res, 1000));
  }
});

/** The interactive console, its stdin a pipe: answers a prompt only once it is asked. */
async function consoleSession(steps: readonly [RegExp, string][]): Promise<string> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "admin", fed.kit(ADMIN)], { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let step = 0;
  const done = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString("utf8");
    while (step < steps.length && steps[step]?.[0].test(out)) {
      child.stdin.write(`${steps[step]?.[1]}\n`);
      step++;
    }
  });
  // `bye` ends the console with stdin still open: it must not wait for the pipe to close.
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, 60_000);
  await done;
  clearTimeout(timer);
  assert.equal(killed, false, `the console did not end on bye:\n${out}`);
  assert.equal(step, steps.length, `the console stopped before the last step:\n${out}`);
  return out;
}

test("a refused confirmation changes nothing: -c without --yes, and the console's prompt answered wrong", { timeout: 180_000 }, async () => {
  const r = await human("shutdown client site-2");
  assert.equal(r.code, 1);
  assert.match(r.err, /shutdown asks for confirmation, and -c cannot ask: run it again with --yes/);
  const unparsable = await human("restart client server");
  assert.equal(unparsable.code, 1);
  assert.match(unparsable.err, /target type, not a site name/, "what cannot be parsed is refused as such, before any confirmation");
  const out = await consoleSession([
    [/logged in as/, "shutdown client site-2"],
    [/Confirm with User Name: $/, "someone-else"],
    [/user name mismatch/, "restart client site-1"],
    [/Confirm with User Name: $/, "not-me"],
    [/user name mismatch[\s\S]*user name mismatch/, "bye"],
  ]);
  assert.equal(out.match(/user name mismatch/g)?.length, 2, out);
  await new Promise((res) => setTimeout(res, 1500));
  assert.deepEqual(await connectedSites(), ["site-1", "site-2", "site-3"]);
  for (const s of ["site-1", "site-2", "site-3"]) assert.ok(!existsSync(join(fed.kit(s), "shutdown.fl")) && !existsSync(join(fed.kit(s), "restart.fl")));
});

test("shutdown client site-2 stops only site-2; restart client site-1 restarts only site-1", { timeout: 300_000 }, async () => {
  const s = await human("shutdown client site-2", "--yes");
  assert.equal(s.code, 0, s.err);
  assertShape("shutdown_client.txt", s.out);
  assert.equal(await fed.sites.get("site-2")?.exited, 0);
  assert.ok(existsSync(join(fed.kit("site-2"), "shutdown.fl")));
  await new Promise((res) => setTimeout(res, 1500));
  assert.deepEqual(await connectedSites(), ["site-1", "site-3"], "site-1 and site-3 keep running");

  const r = await human("restart client site-1", "--yes");
  assert.equal(r.code, 0, r.err);
  assertShape("restart_client.txt", r.out);
  await fed.sites.get("site-1")?.exited;
  assert.ok(existsSync(join(fed.kit("site-1"), "restart.fl")), "site-1 asked its supervisor to restart it");
  for (const other of ["site-2", "site-3"]) assert.ok(!existsSync(join(fed.kit(other), "restart.fl")), `${other} was not restarted`);
  await new Promise((res) => setTimeout(res, 1500));
  assert.deepEqual(await connectedSites(), ["site-3"]);
  assert.equal(
    fed.sites.get("site-3")?.lines.some((l) => /restart requested|shutdown requested/.test(l)),
    false,
  );
});

test("shutdown all stops the sites, then the server", { timeout: 120_000 }, async () => {
  const r = await human("shutdown all", "--yes");
  assert.equal(r.code, 0, r.err);
  assertShape("shutdown_all.txt", r.out);
  assert.equal(await fed.sites.get("site-3")?.exited, 0);
  assert.equal(await fed.server.exited, 0);
  assert.ok(existsSync(join(fed.kit("localhost"), "shutdown.fl")) && existsSync(join(fed.kit("site-3"), "shutdown.fl")));
});
