/**
 * The checkpoint exchange at a receiving participant: who may give checkpoints, how often, and
 * that a refusal adds nothing to the receiver's log by itself (the link carrying the request audits
 * it once, through the refusal writer: test/audit/checkpoint-flood.test.ts with a real server).
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { AuditErrorCode, AuditLog, WITNESS_ACTION, createCheckpoint } from "../../src/audit/index.js";
import { CheckpointExchange } from "../../src/runtime/participant/audit-witness.js";
import { encode } from "../../src/wire/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { tempDir } from "../helpers/index.js";
import { lines, logWithLines, provisionTestProject, type TestProject } from "./fixtures.js";
import { join } from "node:path";

let p: TestProject;
before(async () => {
  p = await provisionTestProject("audit_exchange");
});

function serverSide(): { exchange: CheckpointExchange; path: string; log: AuditLog } {
  const path = join(tempDir("cohort-exchange-"), "audit.log");
  const log = AuditLog.open(path, "localhost");
  const exchange = new CheckpointExchange({
    audit: log,
    signer: p.server,
    rootPem: p.server.rootPem,
    send: async () => 0,
    intervalMs: 10_000,
    log: () => undefined,
    // As the server: sites only (admins are not clients).
    accepts: (peer) => peer.startsWith("site-"),
  });
  return { exchange, path, log };
}

/** Witness lines (accepted checkpoints) in a log. */
const witnessed = (path: string): number =>
  lines(path).filter((l) => {
    const r = JSON.parse(l) as { action: string; outcome: string };
    return r.action === WITNESS_ACTION && r.outcome === "ok";
  }).length;

const code = (c: string) => (err: unknown) => isCohortError(err, c);

test("a site's checkpoint is witnessed once per interval and only when its log moved on", () => {
  const { exchange, path } = serverSide();
  const site = logWithLines("site-1", 3);
  const t0 = 1_000_000;
  exchange.receive(encode(createCheckpoint(site.log, p.kit("site-1"))), "site-1", t0);
  site.log.append({ action: "event", outcome: "ok" });
  assert.throws(() => exchange.receive(encode(createCheckpoint(site.log, p.kit("site-1"))), "site-1", t0 + 1_000), code(AuditErrorCode.CheckpointRate));
  assert.throws(() => exchange.receive(encode(createCheckpoint(site.log, p.kit("site-1"))), "site-1", t0 + 4_999), code(AuditErrorCode.CheckpointRate));
  exchange.receive(encode(createCheckpoint(site.log, p.kit("site-1"))), "site-1", t0 + 6_000);
  // Same head again, later: nothing new to witness.
  assert.throws(() => exchange.receive(encode(createCheckpoint(site.log, p.kit("site-1"))), "site-1", t0 + 20_000), code(AuditErrorCode.CheckpointStale));
  assert.equal(witnessed(path), 2);
});

test("a session that is not a site (an admin) cannot add checkpoint lines; a refusal itself writes nothing", () => {
  const { exchange, path } = serverSide();
  const admin = logWithLines("admin@nvidia.com", 1);
  const before = lines(path).length;
  for (let i = 0; i < 1000; i++) {
    assert.throws(
      () => exchange.receive(encode(createCheckpoint(admin.log, p.kit("admin@nvidia.com"))), "admin@nvidia.com", 1_000_000 + i),
      code(AuditErrorCode.CheckpointNotAllowed),
    );
  }
  assert.equal(lines(path).length, before, "refusals are thrown for the link to audit, not written twice");
});
