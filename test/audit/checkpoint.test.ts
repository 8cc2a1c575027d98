import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AuditErrorCode, AuditLog, GENESIS_HASH, createCheckpoint, lineHash, recordWitness, verifyCheckpoint, type Checkpoint } from "../../src/audit/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { DEFAULT_BUILDERS_YAML, tempDir } from "../helpers/index.js";
import { lines, logWithLines, provisionTestProject, type TestProject } from "./fixtures.js";

let p: TestProject;
let foreign: TestProject;
before(async () => {
  [p, foreign] = await Promise.all([provisionTestProject("audit_cp"), provisionTestProject("audit_other")]);
});

const code = (c: string) => (err: unknown) => isCohortError(err, c);

test("a checkpoint signs the chain head; the project root verifies it", () => {
  const { log, path } = logWithLines("site-1", 3);
  const cp = createCheckpoint(log, p.kit("site-1"));
  assert.equal(cp.v, 1);
  assert.equal(cp.site, "site-1");
  assert.equal(cp.seq, 3);
  assert.equal(cp.hash, lineHash(lines(path)[2] ?? ""));
  assert.deepEqual(verifyCheckpoint(cp, p.server.rootPem, { peer: "site-1" }), { site: "site-1", seq: 3, hash: cp.hash, time: cp.time });
  // Through JSON (as it travels) it still verifies.
  verifyCheckpoint(JSON.parse(JSON.stringify(cp)), p.server.rootPem);
  // The same head read from the file by path.
  log.close();
  const byPath = createCheckpoint({ path, site: "site-1" }, p.kit("site-1"));
  assert.equal(byPath.seq, 3);
  assert.equal(byPath.hash, cp.hash);
});

test("an empty or missing log checkpoints seq 0 and the genesis hash", () => {
  const cp = createCheckpoint({ path: join(tempDir(), "none.log"), site: "localhost" }, p.server);
  assert.equal(cp.seq, 0);
  assert.equal(cp.hash, GENESIS_HASH);
  verifyCheckpoint(cp, p.server.rootPem);
});

test("a checkpoint signed with another participant's certificate is refused (wrong CN)", () => {
  const { log } = logWithLines("site-1", 2);
  assert.throws(() => createCheckpoint(log, p.kit("site-2")), code(AuditErrorCode.CheckpointSigner));
  // Forged: site-2 signs a checkpoint claiming to be site-1's.
  const mine = createCheckpoint(logWithLines("site-2", 2).log, p.kit("site-2"));
  const forged: Checkpoint = { ...mine, site: "site-1" };
  assert.throws(() => verifyCheckpoint(forged, p.server.rootPem), code(AuditErrorCode.CheckpointSigner));
  // A valid checkpoint of site-1 relayed by site-2 is not site-2's to send.
  const cp = createCheckpoint(log, p.kit("site-1"));
  assert.throws(() => verifyCheckpoint(cp, p.server.rootPem, { peer: "site-2" }), code(AuditErrorCode.CheckpointSigner));
});

test("a checkpoint from another project's root is refused", () => {
  const { log } = logWithLines("site-1", 2);
  const cp = createCheckpoint(log, foreign.kit("site-1"));
  assert.throws(() => verifyCheckpoint(cp, p.server.rootPem), code(AuditErrorCode.CheckpointCert));
});

test("an altered hash, seq or time breaks the signature; a bad shape is refused", () => {
  const { log } = logWithLines("site-1", 4);
  const cp = createCheckpoint(log, p.kit("site-1"));
  const other = cp.hash.startsWith("a") ? `b${cp.hash.slice(1)}` : `a${cp.hash.slice(1)}`;
  assert.throws(() => verifyCheckpoint({ ...cp, hash: other }, p.server.rootPem), code(AuditErrorCode.CheckpointSignature));
  assert.throws(() => verifyCheckpoint({ ...cp, seq: 2 }, p.server.rootPem), code(AuditErrorCode.CheckpointSignature));
  assert.throws(() => verifyCheckpoint({ ...cp, time: "2030-01-01T00:00:00.000Z" }, p.server.rootPem), code(AuditErrorCode.CheckpointSignature));
  assert.throws(() => verifyCheckpoint({ ...cp, extra: 1 }, p.server.rootPem), code(AuditErrorCode.CheckpointInvalid));
  assert.throws(() => verifyCheckpoint({ ...cp, hash: "xyz" }, p.server.rootPem), code(AuditErrorCode.CheckpointInvalid));
  assert.throws(() => verifyCheckpoint("nope", p.server.rootPem), code(AuditErrorCode.CheckpointInvalid));
});

test("a key that does not match the certificate cannot make checkpoints", () => {
  const { log } = logWithLines("site-1", 1);
  assert.throws(() => createCheckpoint(log, { certPem: p.kit("site-1").certPem, keyPem: p.kit("site-2").keyPem }), code(AuditErrorCode.CheckpointSignature));
});

test("a witness record holds seq, hash, time, signature and certificate fingerprint", () => {
  const { log } = logWithLines("site-1", 2);
  const cp = createCheckpoint(log, p.kit("site-1"));
  const server = AuditLog.open(join(tempDir(), "audit.log"), "localhost");
  const id = recordWitness(server, cp);
  server.close();
  const rec = JSON.parse(readFileSync(server.path, "utf8").trim()) as Record<string, unknown>;
  assert.equal(rec["id"], id);
  assert.equal(rec["action"], "audit.checkpoint");
  assert.equal(rec["peer"], "site-1");
  const reason = JSON.parse(String(rec["reason"])) as Record<string, unknown>;
  assert.deepEqual(Object.keys(reason).sort(), ["cert", "cp", "hash", "seq", "sig", "time"]);
  assert.equal(reason["seq"], 2);
  assert.equal(reason["hash"], cp.hash);
  assert.equal(reason["sig"], cp.sig);
  assert.match(String(reason["cert"]), /^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test("RSA-3072 kits: the witness record still fits the writer's reason limit", async () => {
  const cert = "  - path: nvflare.lighter.impl.cert.CertBuilder\n";
  const rsa = await provisionTestProject("audit_rsa", DEFAULT_BUILDERS_YAML.replace(cert, `${cert}    args:\n      key_algorithm: rsa-3072\n`));
  assert.match(rsa.kit("site-1").keyPem, /BEGIN (RSA |ENCRYPTED )?PRIVATE KEY/);
  const { log } = logWithLines("site-1", 2);
  const cp = createCheckpoint(log, rsa.kit("site-1"));
  verifyCheckpoint(cp, rsa.server.rootPem);
  const server = AuditLog.open(join(tempDir(), "audit.log"), "localhost");
  recordWitness(server, cp);
  server.close();
  const rec = JSON.parse(readFileSync(server.path, "utf8").trim()) as { reason: string };
  assert.equal((JSON.parse(rec.reason) as { sig: string }).sig, cp.sig);
});
