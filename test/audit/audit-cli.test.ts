import { before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "../../src/audit/index.js";
import { runCli, tempDir } from "../helpers/index.js";
import { lines, logWithLines, provisionTestProject, steppingClock, witness, writeLines, type TestProject } from "./fixtures.js";

let p: TestProject;
const cli = (args: string[]): ReturnType<typeof runCli> => runCli(args, {}, { timeoutMs: 180_000 });
before(async () => {
  p = await provisionTestProject("audit_cli");
});

test("cohort audit verify: exit 0 for an intact log, 1 with the first bad line otherwise", async () => {
  const dir = tempDir("cohort-audit-");
  const site = logWithLines("site-1", 2, dir);
  const server = AuditLog.open(join(dir, "localhost", "audit.log"), "localhost", { clock: steppingClock() });
  witness(site.log, p.kit("site-1"), server);
  for (let i = 2; i < 5; i++) site.log.append({ action: "event", outcome: "ok", reason: `n${i}` });
  witness(site.log, p.kit("site-1"), server);
  site.log.close();
  server.close();
  // The site's log in its participant folder, as `cohort start` writes it (startup/ beside it).
  const inKit = join(p.prodDir, "site-1", "audit.log");
  copyFileSync(site.path, inKit);
  const all = lines(site.path);
  const edited = writeLines(
    site.path,
    all.map((l, i) => (i === 1 ? l.replace("n1", "nX") : l)),
  );
  const cut = writeLines(inKit, all.slice(0, 3), "cut.log");
  const root = join(p.prodDir, "site-1", "startup", "rootCA.pem");

  // One after the other: each is a full CLI start, and a loaded machine slows parallel ones a lot.
  const ok = await cli(["audit", "verify", inKit]);
  const okWitness = await cli(["audit", "verify", inKit, "--witness", server.path, "--root", root]);
  const bad = await cli(["audit", "verify", edited]);
  const cutWitness = await cli(["audit", "verify", cut, "--witness", server.path]);
  const json = await cli(["audit", "verify", edited, "--json"]);
  const missing = await cli(["audit", "verify", join(dir, "nope.log")]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /audit log OK: .*: 5 line\(s\), chain intact/);
  assert.equal(okWitness.code, 0, okWitness.stderr);
  assert.match(okWitness.stdout, /2 checkpoint\(s\) witnessed in .* compared, signatures checked/);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /audit log NOT intact: .*:3: line 3 does not chain to line 2/);
  assert.equal(cutWitness.code, 1);
  assert.match(cutWitness.stderr, /cut\.log:4: the log ends at line 3 \(seq 3\) but localhost witnessed line 5 with hash [0-9a-f]{64}/);
  assert.match(cutWitness.stderr, /note: checkpoint signatures were not checked/);
  assert.equal(json.code, 1);
  const r = JSON.parse(json.stdout) as { ok: boolean; badLine: number; problem: string };
  assert.equal(r.ok, false);
  assert.equal(r.badLine, 3);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /ERR_AUDIT_LOG_UNREADABLE.*nope\.log/);
});

test("cohort audit trace: the steps as a table or JSON; an unknown id exits 1", async () => {
  const dir = tempDir("cohort-trace-");
  const clock = steppingClock();
  const server = AuditLog.open(join(dir, "localhost", "audit.log"), "localhost", { clock });
  const s1 = AuditLog.open(join(dir, "site-1", "audit.log"), "site-1", { clock });
  const cmd = server.append({ action: "admin.submit_job", outcome: "ok", user: "admin@nvidia.com", reason: "hello-fedavg" });
  s1.append({ action: "job.deployed", outcome: "ok", user: "admin@nvidia.com", job: "j1", ref: cmd, reason: "app app" });
  server.close();
  s1.close();
  const tableOut = await cli(["audit", "trace", cmd, server.path, join(dir, "site-1")]);
  const jsonOut = await cli(["audit", "trace", cmd, server.path, s1.path, "--json"]);
  const unknown = await cli(["audit", "trace", "nope", server.path]);
  assert.equal(tableOut.code, 0, tableOut.stderr);
  const rows = tableOut.stdout.trim().split("\n");
  assert.match(rows[0] ?? "", /^TIME\s+SITE\s+RELATION\s+ACTION\s+OUTCOME\s+USER\s+JOB\s+REASON$/);
  assert.match(rows[2] ?? "", /localhost\s+event\s+admin\.submit_job\s+ok\s+admin@nvidia\.com\s+-\s+hello-fedavg/);
  assert.match(rows[3] ?? "", /site-1\s+effect\s+job\.deployed\s+ok\s+admin@nvidia\.com\s+j1\s+app app/);
  assert.equal(jsonOut.code, 0);
  assert.deepEqual(
    (JSON.parse(jsonOut.stdout) as { action: string }[]).map((s) => s.action),
    ["admin.submit_job", "job.deployed"],
  );
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /ERR_AUDIT_TRACE_NOT_FOUND/);
});
