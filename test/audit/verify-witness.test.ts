import { before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditErrorCode, AuditLog, createCheckpoint, lineHash, recordWitness, verifyAuditLog } from "../../src/audit/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { tempDir } from "../helpers/index.js";
import { lines, logWithLines, provisionTestProject, steppingClock, witness, writeLines, type TestProject } from "./fixtures.js";

let p: TestProject;
before(async () => {
  p = await provisionTestProject("audit_verify");
});

/** site-1's log with `n` lines and a server log that witnessed checkpoints after line 2 and line n. */
function witnessed(n: number): { site: string; server: string; all: string[] } {
  const dir = tempDir("cohort-audit-");
  const { log, path } = logWithLines("site-1", 2, dir);
  const server = AuditLog.open(join(dir, "localhost", "audit.log"), "localhost", { clock: steppingClock() });
  server.append({ action: "server.start", outcome: "ok" });
  witness(log, p.kit("site-1"), server);
  for (let i = 2; i < n; i++) log.append({ action: "event", outcome: "ok", reason: `n${i}` });
  witness(log, p.kit("site-1"), server);
  log.close();
  server.close();
  return { site: path, server: server.path, all: lines(path) };
}

test("an intact log verifies; the result says how many lines", () => {
  const { path } = logWithLines("site-1", 4);
  assert.deepEqual(verifyAuditLog(path), { ok: true, lines: 4 });
  const empty = join(tempDir(), "audit.log");
  writeFileSync(empty, "");
  assert.deepEqual(verifyAuditLog(empty), { ok: true, lines: 0 });
});

test("edit, delete, insert, reorder: the first broken line is named with the reason", () => {
  const { path } = logWithLines("site-1", 5);
  const ls = lines(path);
  const at = (i: number): string => ls[i] ?? "";

  const edited = verifyAuditLog(
    writeLines(
      path,
      ls.map((l, i) => (i === 2 ? l.replace("n2", "nX") : l)),
    ),
  );
  assert.equal(edited.ok, false);
  assert.equal(edited.badLine, 4);
  assert.match(edited.problem ?? "", /line 4 does not chain to line 3.*line 3 was altered/);

  const deleted = verifyAuditLog(
    writeLines(
      path,
      ls.filter((_, i) => i !== 1),
    ),
  );
  assert.equal(deleted.badLine, 2);
  assert.match(deleted.problem ?? "", /seq 3 where 2 was expected: 1 line\(s\) were removed/);

  const firstDeleted = verifyAuditLog(writeLines(path, ls.slice(1)));
  assert.equal(firstDeleted.badLine, 1);

  const duplicated = verifyAuditLog(writeLines(path, [at(0), at(1), at(2), at(2), at(3), at(4)]));
  assert.equal(duplicated.badLine, 4);
  assert.match(duplicated.problem ?? "", /inserted, duplicated or moved/);

  // A well-formed line forged with the right seq and prev still breaks the next line.
  const rec = JSON.parse(at(1)) as Record<string, unknown>;
  const forged = JSON.stringify({ ...rec, seq: 3, id: "forged", reason: "forged", prev: lineHash(at(1)) });
  const inserted = verifyAuditLog(writeLines(path, [at(0), at(1), forged, ...ls.slice(2)]));
  assert.equal(inserted.badLine, 4);

  const reordered = verifyAuditLog(writeLines(path, [at(0), at(2), at(1), at(3), at(4)]));
  assert.equal(reordered.badLine, 2);

  const reformatted = verifyAuditLog(writeLines(path, [...ls.slice(0, 4), JSON.stringify(JSON.parse(at(4)), null, 1).replace(/\n/g, "")]));
  assert.equal(reformatted.badLine, 5);
  assert.match(reformatted.problem ?? "", /not written the way the log writer writes it/);

  const extraField = verifyAuditLog(writeLines(path, [...ls.slice(0, 4), at(4).replace(/}$/, ',"x":1}')]));
  assert.equal(extraField.badLine, 5);

  const otherSite = verifyAuditLog(writeLines(path, [...ls.slice(0, 4), at(4).replace('"site":"site-1"', '"site":"site-2"')]));
  assert.match(otherSite.problem ?? "", /line 5 is written by site-2 but the log is site-1's/);

  const garbage = verifyAuditLog(writeLines(path, [at(0), "hello", ...ls.slice(1)]));
  assert.equal(garbage.badLine, 2);
  assert.match(garbage.problem ?? "", /not a valid audit record \(it is not JSON\)/);
});

test("a torn line: cut in the middle of the log it is tampering; torn by a crash it is accepted once the writer noted it", () => {
  const { log, path } = logWithLines("site-1", 3);
  log.close();
  const ls = lines(path);
  const cutMiddle = verifyAuditLog(writeLines(path, [ls[0] ?? "", (ls[1] ?? "").slice(0, 40), ls[2] ?? ""]));
  assert.equal(cutMiddle.badLine, 2);

  appendFileSync(path, '{"v":1,"seq":4,"id":"x","ref":nu');
  const crashed = verifyAuditLog(path);
  assert.equal(crashed.ok, false);
  assert.equal(crashed.badLine, 4);
  assert.match(crashed.problem ?? "", /line 4 is incomplete/);

  const reopened = AuditLog.open(path, "site-1");
  reopened.append({ action: "after", outcome: "ok" });
  reopened.close();
  const after = verifyAuditLog(path);
  assert.equal(after.ok, true, after.problem);
  assert.equal(after.lines, 6);
  assert.match(after.notes?.[0] ?? "", /line 4 is a fragment torn by a crash mid-write, noted by line 5/);
  // Numbering continues after the fragment (which never became a record).
  assert.deepEqual(
    lines(path)
      .slice(4)
      .map((l) => (JSON.parse(l) as { seq: number }).seq),
    [4, 5],
  );
});

test("a witness that matches: every checkpoint compared, signatures checked with the root", () => {
  const w = witnessed(5);
  const plain = verifyAuditLog(w.site, { witness: w.server });
  assert.equal(plain.ok, true, plain.problem);
  assert.equal(plain.checkpointsChecked, 2);
  assert.equal(plain.signaturesChecked, false);
  assert.match(plain.notes?.join("\n") ?? "", /signatures were not checked/);
  const signed = verifyAuditLog(w.site, { witness: w.server, rootPem: p.server.rootPem, certs: [p.kit("site-1").certPem] });
  assert.deepEqual(signed, { ok: true, lines: 5, checkpointsChecked: 2, signaturesChecked: true });
});

test("a tail cut back behind a witnessed checkpoint is detected; without the witness it is not", () => {
  const w = witnessed(5);
  const cut = writeLines(w.site, w.all.slice(0, 3));
  assert.equal(verifyAuditLog(cut).ok, true, "the log alone cannot tell");
  const r = verifyAuditLog(cut, { witness: w.server });
  assert.equal(r.ok, false);
  assert.equal(r.badLine, 4);
  assert.equal(r.witnessLine, 3);
  const last = w.all[4] ?? "";
  assert.match(r.problem ?? "", new RegExp(`the log ends at line 3 \\(seq 3\\) but localhost witnessed line 5 with hash ${lineHash(last)}`));
  // Cut to nothing: the site comes from --site (or the kit beside the log).
  const emptied = writeLines(w.site, []);
  const none = verifyAuditLog(emptied, { witness: w.server, site: "site-1" });
  assert.equal(none.badLine, 1);
  assert.match(none.problem ?? "", /the log ends at line 0 \(seq 0\) but localhost witnessed line 2/);
  assert.match(verifyAuditLog(emptied, { witness: w.server }).problem ?? "", /site is unknown/);
});

test("an edited last line, and a log re-chained after an edit, contradict the witness", () => {
  const w = witnessed(5);
  const editedLast = writeLines(w.site, [...w.all.slice(0, 4), (w.all[4] ?? "").replace("n4", "nX")]);
  assert.equal(verifyAuditLog(editedLast).ok, true, "the chain alone cannot see an edit of the last line");
  const r = verifyAuditLog(editedLast, { witness: w.server });
  assert.equal(r.badLine, 5);
  assert.match(r.problem ?? "", /line 5 hashes to [0-9a-f]{64} but localhost witnessed line 5 with hash/);

  // Rewrite line 2 and re-chain everything after it: the chain is intact, the witness is not fooled.
  const dir = tempDir();
  const fake = AuditLog.open(join(dir, "audit.log"), "site-1", { clock: steppingClock() });
  for (let i = 0; i < 5; i++) fake.append({ action: "event", outcome: "ok", reason: i === 1 ? "rewritten" : `n${i}` });
  fake.close();
  assert.equal(verifyAuditLog(fake.path).ok, true);
  const rw = verifyAuditLog(fake.path, { witness: w.server });
  assert.equal(rw.badLine, 2);
  assert.match(rw.problem ?? "", /the log was rewritten up to that line/);
});

test("a broken witness log, a forged witness record and a witness of the wrong site", () => {
  const w = witnessed(4);
  const wl = lines(w.server);
  const brokenWitness = writeLines(w.server, [wl[0] ?? "", (wl[1] ?? "").replace('"seq":2', '"seq":3')]);
  const r = verifyAuditLog(w.site, { witness: brokenWitness });
  assert.equal(r.ok, false);
  assert.equal(r.witnessLine, 2);
  assert.match(r.problem ?? "", /witness log .* is itself not intact/);

  // A witness log written cleanly but holding a checkpoint whose hash was changed before recording.
  const dir = tempDir();
  const { log } = logWithLines("site-1", 2, dir);
  const cp = createCheckpoint(log, p.kit("site-1"));
  log.close();
  const forgedServer = AuditLog.open(join(dir, "server.log"), "localhost");
  const otherHash = lineHash("something else");
  recordWitness(forgedServer, { ...cp, hash: otherHash });
  forgedServer.close();
  const unsigned = verifyAuditLog(log.path, { witness: forgedServer.path });
  assert.equal(unsigned.badLine, 2, "the hash differs from the log");
  const sig = verifyAuditLog(log.path, { witness: forgedServer.path, rootPem: p.server.rootPem, certs: [p.kit("site-1").certPem] });
  assert.equal(sig.ok, false);
  assert.match(sig.problem ?? "", /line 2 hashes to/);

  // The right hash, a signature over something else: caught only by the signature check.
  const sigOnly = AuditLog.open(join(dir, "server2.log"), "localhost");
  recordWitness(sigOnly, { ...cp, time: "2020-01-01T00:00:00.000Z" });
  sigOnly.close();
  assert.equal(verifyAuditLog(log.path, { witness: sigOnly.path }).ok, true);
  const bad = verifyAuditLog(log.path, { witness: sigOnly.path, rootPem: p.server.rootPem, certs: [p.kit("site-1").certPem] });
  assert.equal(bad.ok, false);
  assert.equal(bad.witnessLine, 1);
  assert.match(bad.problem ?? "", /witness line 1: the signature of site-1's checkpoint of line 2 does not match/);

  // Signatures asked for without the certificate: an input error naming the fix.
  assert.throws(
    () => verifyAuditLog(log.path, { witness: sigOnly.path, rootPem: p.server.rootPem }),
    (e: unknown) => isCohortError(e, AuditErrorCode.CertNotFound) && /--cert/.test(e.message),
  );
  // A witness without checkpoints of this site: intact, with a note.
  const unrelated = logWithLines("localhost", 2, dir);
  unrelated.log.close();
  const noCp = verifyAuditLog(log.path, { witness: unrelated.path });
  assert.equal(noCp.ok, true);
  assert.equal(noCp.checkpointsChecked, 0);
  assert.match(noCp.notes?.join() ?? "", /holds no checkpoint of site-1/);
  // The site's own log as its witness is a usage error.
  assert.throws(
    () => verifyAuditLog(log.path, { witness: log.path }),
    (e: unknown) => isCohortError(e, AuditErrorCode.WitnessInvalid),
  );
  assert.throws(
    () => verifyAuditLog(join(dir, "missing.log")),
    (e: unknown) => isCohortError(e, AuditErrorCode.LogUnreadable),
  );
});

test("in a participant folder, the site's certificate is found in startup/ beside the log", () => {
  const w = witnessed(3);
  const inKit = join(p.prodDir, "site-1", "audit.log");
  copyFileSync(w.site, inKit);
  const r = verifyAuditLog(inKit, { witness: w.server, rootPem: p.server.rootPem });
  assert.deepEqual(r, { ok: true, lines: 3, checkpointsChecked: 2, signaturesChecked: true });
  writeFileSync(inKit, "");
  assert.match(verifyAuditLog(inKit, { witness: w.server }).problem ?? "", /the log ends at line 0/);
});
