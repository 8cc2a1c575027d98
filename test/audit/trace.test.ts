import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditErrorCode, AuditLog, traceEvent } from "../../src/audit/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { tempDir } from "../helpers/index.js";
import { steppingClock } from "./fixtures.js";

/** A server and two sites sharing one clock, so times interleave as in a real run. */
function federation(): { dir: string; server: AuditLog; s1: AuditLog; s2: AuditLog; paths: string[]; close(): void } {
  const dir = tempDir("cohort-trace-");
  const clock = steppingClock();
  const open = (site: string): AuditLog => AuditLog.open(join(dir, site, "audit.log"), site, { clock });
  const server = open("localhost");
  const s1 = open("site-1");
  const s2 = open("site-2");
  return {
    dir,
    server,
    s1,
    s2,
    paths: [server.path, s1.path, s2.path],
    close: () => [server, s1, s2].forEach((l) => l.close()),
  };
}

test("an admin command is followed from the server into each site's log", () => {
  const f = federation();
  f.server.append({ action: "login", outcome: "ok", peer: "admin@nvidia.com" });
  const cmd = f.server.append({ action: "admin.submit_job", outcome: "ok", user: "admin@nvidia.com", reason: "hello-fedavg" });
  f.s1.append({ action: "task.received", outcome: "ok", job: "other" }); // noise
  const d1 = f.s1.append({ action: "job.deployed", outcome: "ok", user: "admin@nvidia.com", job: "j1", ref: cmd, reason: "app app" });
  f.s2.append({ action: "job.deployed", outcome: "ok", user: "admin@nvidia.com", job: "j1", ref: cmd, reason: "app app" });
  f.server.append({ action: "job.deployed", outcome: "ok", job: "j1", ref: cmd, reason: "to site-1, site-2" });
  f.s1.append({ action: "job.started", outcome: "ok", job: "j1", ref: d1 });
  f.server.append({ action: "admin.list_jobs", outcome: "ok", user: "admin@nvidia.com" }); // noise
  f.close();

  const steps = traceEvent(cmd, f.paths);
  assert.deepEqual(
    steps.map((s) => [s.site, s.relation, s.action]),
    [
      ["localhost", "event", "admin.submit_job"],
      ["site-1", "effect", "job.deployed"],
      ["site-2", "effect", "job.deployed"],
      ["localhost", "effect", "job.deployed"],
      ["site-1", "effect", "job.started"],
    ],
  );
  const first = steps[0];
  assert.equal(first?.user, "admin@nvidia.com");
  assert.equal(first?.outcome, "ok");
  assert.equal(first?.reason, "hello-fedavg");
  assert.equal(first?.line, 2);
  assert.equal(steps[1]?.job, "j1");
  assert.ok(
    steps.every((s, i) => i === 0 || Date.parse(s.time) >= Date.parse(steps[i - 1]?.time ?? "")),
    "ordered by time",
  );
  // Participant folders stand for their audit.log; a log named twice counts once.
  assert.equal(traceEvent(cmd, [join(f.dir, "localhost"), join(f.dir, "site-1"), join(f.dir, "site-2"), f.server.path]).length, 5);
});

test("a task is followed from sent to result, from whichever step one starts", () => {
  const f = federation();
  const deployed = f.server.append({ action: "job.deployed", outcome: "ok", job: "j1" });
  const sent = f.server.append({ action: "task.sent", outcome: "ok", job: "j1", peer: "site-1", reason: "train #t1", ref: deployed });
  f.server.append({ action: "task.sent", outcome: "ok", job: "j1", peer: "site-2", reason: "train #t2", ref: deployed }); // sibling task
  const received = f.s1.append({ action: "task.received", outcome: "ok", job: "j1", peer: "localhost", reason: "train #t1", ref: sent });
  const executed = f.s1.append({ action: "task.executed", outcome: "ok", job: "j1", reason: "train #t1", ref: received });
  const returned = f.s1.append({ action: "task.result", outcome: "ok", job: "j1", peer: "localhost", reason: "train #t1", ref: executed });
  f.server.append({ action: "task.result_received", outcome: "ok", job: "j1", peer: "site-1", reason: "train #t1", ref: returned });
  f.close();

  const fromSent = traceEvent(sent, f.paths);
  assert.deepEqual(
    fromSent.map((s) => `${s.site}:${s.relation}:${s.action}`),
    [
      "localhost:cause:job.deployed",
      "localhost:event:task.sent",
      "site-1:effect:task.received",
      "site-1:effect:task.executed",
      "site-1:effect:task.result",
      "localhost:effect:task.result_received",
    ],
  );
  assert.ok(!fromSent.some((s) => s.reason === "train #t2"), "a sibling task is not part of this one's trace");
  const fromMiddle = traceEvent(executed, f.paths);
  assert.deepEqual(
    fromMiddle.map((s) => `${s.relation}:${s.action}`),
    ["cause:job.deployed", "cause:task.sent", "cause:task.received", "event:task.executed", "effect:task.result", "effect:task.result_received"],
  );
});

test("missing links are marked, cycles end, an unknown id is an error", () => {
  const f = federation();
  const a = f.server.append({ action: "admin.abort_job", outcome: "ok", user: "admin@nvidia.com" });
  f.s1.append({ action: "job.aborted", outcome: "ok", ref: a });
  f.close();
  // Only the site's log: the server's event is missing, what references it is still found.
  const partial = traceEvent(a, [f.s1.path]);
  assert.equal(partial.length, 1);
  assert.equal(partial[0]?.missingRef, a);

  const dir = tempDir();
  const log = AuditLog.open(join(dir, "audit.log"), "s", { clock: steppingClock() });
  const x = log.append({ action: "x", outcome: "ok", ref: "later-id" });
  log.append({ action: "y", outcome: "ok", ref: x });
  log.close();
  // An edited log where the first event points at the second (a cycle) still ends.
  const ls = readFileSync(log.path, "utf8").trim().split("\n");
  const yId = (JSON.parse(ls[1] ?? "{}") as { id: string }).id;
  writeFileSync(log.path, `${(ls[0] ?? "").replace("later-id", yId)}\n${ls[1] ?? ""}\n`);
  const cyc = traceEvent(x, [log.path]);
  assert.deepEqual(cyc.map((s) => s.action).sort(), ["x", "y"]);
  assert.throws(
    () => traceEvent("no-such-id", [log.path]),
    (e: unknown) => isCohortError(e, AuditErrorCode.TraceNotFound) && /none of the logs/.test(e.message),
  );
});
