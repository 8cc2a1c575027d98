import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, GENESIS_HASH, RefusalAuditor, lineHash, verifyAuditLog } from "../../src/audit/index.js";
import { tempDir } from "../helpers/index.js";
import { documentedNumber } from "../helpers/doc-limits.js";
import { DEFAULT_SERVER_SETTINGS } from "../../src/config/index.js";

test("each line carries the hash of the previous one; reopening continues the chain", () => {
  const path = join(tempDir(), "site", "audit.log");
  const log = AuditLog.open(path, "site-1");
  const id1 = log.append({ action: "login", outcome: "ok", peer: "site-1", address: "127.0.0.1" });
  log.append({ action: "message.refused", outcome: "denied", code: "ERR_AUTH_REPLAY", reason: "replayed", ref: id1 });
  log.close();
  const again = AuditLog.open(path, "site-1");
  again.append({ action: "logout", outcome: "ok" });
  again.close();
  const lines = readFileSync(path, "utf8").trim().split("\n");
  const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs[0]?.["prev"], GENESIS_HASH);
  assert.equal(recs[1]?.["prev"], lineHash(lines[0] ?? ""));
  assert.equal(recs[2]?.["prev"], lineHash(lines[1] ?? ""));
  assert.deepEqual(
    recs.map((r) => r["seq"]),
    [1, 2, 3],
  );
  assert.equal(recs[1]?.["ref"], id1);
  assert.equal(recs[1]?.["outcome"], "denied");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(verifyAuditLog(path), { ok: true, lines: 3 });
});

test("an altered, removed or inserted line is detected at that line", () => {
  const dir = tempDir();
  const path = join(dir, "audit.log");
  const log = AuditLog.open(path, "server");
  for (let i = 0; i < 5; i++) log.append({ action: "event", outcome: "ok", reason: `n${i}` });
  log.close();
  const lines = readFileSync(path, "utf8").trim().split("\n");
  const write = (ls: string[]): string => {
    const p = join(dir, `t${Math.random()}.log`);
    writeFileSync(p, `${ls.join("\n")}\n`);
    return p;
  };
  const altered = [...lines];
  altered[2] = (altered[2] ?? "").replace("n2", "nX");
  assert.equal(verifyAuditLog(write(altered)).badLine, 4, "the line after the altered one no longer matches");
  const removed = lines.filter((_, i) => i !== 1);
  assert.equal(verifyAuditLog(write(removed)).badLine, 2);
  const inserted = [...lines.slice(0, 3), lines[3] ?? "", ...lines.slice(3)];
  assert.equal(verifyAuditLog(write(inserted)).ok, false);
});

test("a torn last line is kept and noted when the log is reopened", () => {
  const path = join(tempDir(), "audit.log");
  const log = AuditLog.open(path, "s");
  log.append({ action: "a", outcome: "ok" });
  log.close();
  appendFileSync(path, '{"v":1,"seq":2,"id":"x"');
  const again = AuditLog.open(path, "s");
  again.close();
  const last = JSON.parse(readFileSync(path, "utf8").trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
  assert.equal(last["action"], "audit.torn_line");
});

test("refusal floods are rate-limited per address and code, with a summary line", () => {
  const path = join(tempDir(), "audit.log");
  const log = AuditLog.open(path, "s");
  let now = 0;
  const r = new RefusalAuditor(log, { burst: 3, perSecond: 1, now: () => now });
  for (let i = 0; i < 100; i++) r.record({ action: "login.refused", outcome: "denied", address: "10.0.0.1", code: "ERR_X" });
  r.record({ action: "login.refused", outcome: "denied", address: "10.0.0.2", code: "ERR_X" });
  now += 2000;
  r.record({ action: "login.refused", outcome: "denied", address: "10.0.0.1", code: "ERR_X" });
  log.close();
  const recs = readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(recs.filter((x) => x["address"] === "10.0.0.1" && x["action"] === "login.refused").length, 4);
  assert.equal(recs.filter((x) => x["address"] === "10.0.0.2").length, 1);
  const summary = recs.find((x) => x["action"] === "audit.suppressed");
  assert.match(String(summary?.["reason"]), /97 similar refusals/);
});

test("refusal writer with the documented defaults: the burst's last line is written, the next is counted; the refill is the documented rate", () => {
  const BURST = documentedNumber("docs/runtime.md", /`servers\[0\]\.audit_refusal_burst` \| (\d+) \|/);
  const PER_SECOND = documentedNumber("docs/runtime.md", /`servers\[0\]\.audit_refusal_per_second` \| (\d+) \|/);
  assert.equal(DEFAULT_SERVER_SETTINGS.audit_refusal_burst, BURST);
  assert.equal(DEFAULT_SERVER_SETTINGS.audit_refusal_per_second, PER_SECOND);
  assert.equal(BURST, documentedNumber("docs/audit.md", /the writer's burst \((\d+)\)/));
  assert.equal(PER_SECOND, documentedNumber("docs/audit.md", /refill \((\d+) a second\)/));
  {
    const log = AuditLog.open(join(tempDir(), "audit.log"), "s");
    // A site's writer takes the class's own defaults (no settings file): the same burst.
    const site = new RefusalAuditor(log);
    const refuse = () => site.record({ action: "message.refused", outcome: "denied", address: "10.0.0.1", code: "ERR_X" });
    for (let i = 0; i < BURST; i++) assert.ok(refuse(), `site: line ${i + 1} of the burst is written`);
    assert.equal(refuse(), undefined, "site: one past the burst is counted");
    log.close();
  }
  {
    const make = (log: AuditLog, now: () => number) =>
      new RefusalAuditor(log, { burst: DEFAULT_SERVER_SETTINGS.audit_refusal_burst, perSecond: DEFAULT_SERVER_SETTINGS.audit_refusal_per_second, now });
    const path = join(tempDir(), "audit.log");
    const log = AuditLog.open(path, "s");
    let now = 0;
    const r = make(log, () => now);
    const refuse = () => r.record({ action: "message.refused", outcome: "denied", address: "10.0.0.1", code: "ERR_X" });
    for (let i = 0; i < BURST; i++) assert.ok(refuse(), `line ${i + 1} of the burst is written`);
    assert.equal(refuse(), undefined, "one past the burst is counted, not written");
    now += 1000 / PER_SECOND - 1;
    assert.equal(refuse(), undefined, "not yet refilled 1 ms before one token");
    now += 1;
    assert.ok(refuse(), "one token after 1/rate seconds");
    log.close();
  }
});
