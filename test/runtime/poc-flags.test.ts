/**
 * docs/simulator-poc.md: `cohort poc` takes FLARE's flags with FLARE's meaning: prepare `-c a b`,
 * `-he`, `-i` and `-d` (refused with the reason); start/stop `-p <participant>`, `-ex <names>`,
 * `-gpu <ids>` shared out among the sites as FLARE does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { gpuAssignments, preparePoc, selectParticipants } from "../../src/runtime/poc/index.js";
import { runCli, tempDir } from "../helpers/index.js";

test("-p and -ex select participants; the admin and unknown names are refused", async () => {
  const ws = join(tempDir("cohort-pocflags-"), "poc");
  const { poc } = await preparePoc({ workspace: ws, sites: 3 });
  assert.deepEqual([...selectParticipants(poc, undefined)], ["server", "site-1", "site-2", "site-3"]);
  assert.deepEqual([...selectParticipants(poc, "all", ["site-2"])], ["server", "site-1", "site-3"]);
  assert.deepEqual([...selectParticipants(poc, "site-2")], ["site-2"]);
  assert.throws(() => selectParticipants(poc, "site-9"), /"site-9" is not a participant of this POC \(server, site-1, site-2, site-3\)/);
  assert.throws(() => selectParticipants(poc, undefined, [poc.admin.name]), /is the POC's admin: open its console with 'cohort admin/);
  const stop = await runCli(["poc", "stop", "-w", ws, "-p", "site-1", "-ex", "site-2"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /POC was not running/);
  const bad = await runCli(["poc", "start", "-w", ws, "-p", "nobody"]);
  assert.equal(bad.code, 4);
  assert.match(bad.stderr, /"nobody" is not a participant/);
  const badGpu = await runCli(["poc", "start", "-w", ws, "-gpu", "0", "x"]);
  assert.equal(badGpu.code, 4);
  assert.match(badGpu.stderr, /-gpu "x": a GPU id is a whole number/);
});

test("-gpu ids are shared out as FLARE does: runs of ids when there are enough, else one each in turn", () => {
  assert.deepEqual(Object.fromEntries(gpuAssignments(["a", "b"], [0, 1, 2])), { a: [0, 1], b: [2] });
  assert.deepEqual(Object.fromEntries(gpuAssignments(["a", "b", "c"], [0, 1])), { a: [0], b: [1], c: [0] });
  assert.deepEqual(Object.fromEntries(gpuAssignments(["a"], [])), {});
});

test("poc prepare: -c a b (FLARE's list) and -he; -i and -d are refused with the reason", { timeout: 120_000 }, async () => {
  const ws = join(tempDir("cohort-pocflags-"), "poc");
  const r = await runCli(["poc", "prepare", "-c", "alpha", "beta", "-he", "-w", ws]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sites alpha, beta/);
  assert.ok(existsSync(join(ws, "cohort_poc", "prod_00", "alpha", "startup", "client_context.ckks")));
  const i = await runCli(["poc", "prepare", "-i", "project.yml", "-w", join(ws, "x")]);
  assert.equal(i.code, 4);
  assert.match(i.stderr, /-i project\.yml: a POC from your own project\.yml is not supported yet; provision it with 'cohort provision -p project\.yml'/);
  const d = await runCli(["poc", "prepare", "-d", "-w", join(ws, "y")]);
  assert.equal(d.code, 4);
  assert.match(d.stderr, /docker is not supported/);
});
