/** COHORT_CA_PASSPHRASE: the keys in state/ are encrypted with it; re-runs need it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { listDir, minimalProject, opensslTry, runCli, snapshotTree, tempDir, writeFile } from "../helpers/index.js";

test("COHORT_CA_PASSPHRASE encrypts the root key; re-runs without it or with a wrong one fail, with it succeed", async () => {
  const dir = tempDir();
  const file = writeFile(join(dir, "project.yml"), minimalProject({ name: "secret_project" }));
  const ws = join(dir, "ws");
  const projectDir = join(ws, "secret_project");
  const state = join(projectDir, "state");
  const pass = "correct horse battery staple";

  const r1 = await runCli(["provision", "-p", file, "-w", ws], { COHORT_CA_PASSPHRASE: pass });
  assert.equal(r1.code, 0, r1.stderr);
  const rootKey = join(state, "rootCA.key");
  const pem = readFileSync(rootKey, "utf8");
  assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  assert.doesNotMatch(pem, /BEGIN PRIVATE KEY/);
  assert.equal(statSync(rootKey).mode & 0o777, 0o600);
  // Every key kept in state/ is encrypted (whatever the layout); the kits' own keys are not (sites need them).
  for (const [rel, bytes] of snapshotTree(state)) {
    if (bytes.includes("PRIVATE KEY")) {
      assert.ok(!bytes.includes("BEGIN PRIVATE KEY"), `${rel} holds an unencrypted key`);
      assert.equal(statSync(join(state, rel)).mode & 0o777, 0o600, rel);
    }
  }
  assert.match(readFileSync(join(projectDir, "prod_00", "site-1", "startup", "client.key"), "utf8"), /BEGIN PRIVATE KEY/);
  // openssl agrees: the passphrase opens it, another does not.
  assert.equal(opensslTry(["pkey", "-in", rootKey, "-passin", `pass:${pass}`, "-noout"]).ok, true);
  assert.equal(opensslTry(["pkey", "-in", rootKey, "-passin", "pass:wrong", "-noout"]).ok, false);

  const stateBefore = snapshotTree(state);
  const none = await runCli(["provision", "-p", file, "-w", ws], { COHORT_CA_PASSPHRASE: undefined });
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /error \[ERR_KEY_PASSPHRASE_REQUIRED\]/);
  assert.ok(none.stderr.includes(rootKey), none.stderr);
  assert.match(none.stderr, /COHORT_CA_PASSPHRASE/);

  const wrong = await runCli(["provision", "-p", file, "-w", ws], { COHORT_CA_PASSPHRASE: "wrong passphrase" });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /error \[ERR_KEY_PASSPHRASE_WRONG\]/);
  assert.doesNotMatch(wrong.stderr, /correct horse/);
  assert.deepEqual(listDir(projectDir), ["prod_00", "state"], "failed runs leave no prod_NN and no wip/");
  assert.deepEqual(snapshotTree(state), stateBefore);

  const right = await runCli(["provision", "-p", file, "-w", ws], { COHORT_CA_PASSPHRASE: pass });
  assert.equal(right.code, 0, right.stderr);
  assert.match(right.stdout, /reused the existing root CA/);
  assert.deepEqual(listDir(projectDir), ["prod_00", "prod_01", "state"]);
  for (const n of ["server1", "site-1", "admin@nvidia.com"]) {
    const cert = n === "server1" ? "server.crt" : "client.crt";
    assert.deepEqual(readFileSync(join(projectDir, "prod_01", n, "startup", cert)), readFileSync(join(projectDir, "prod_00", n, "startup", cert)));
  }
  assert.equal(readFileSync(rootKey, "utf8"), pem, "the encrypted root key is not rewritten");
});
