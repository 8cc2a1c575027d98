/**
 * docs/provisioning.md: "An expired root is refused with instructions." A re-run against a state/
 * whose root certificate has expired writes nothing and names the folder to move aside.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { createRootCertificate } from "../../src/pki/index.js";
import { smallProjectYaml, tempDir, writeFile } from "../helpers/index.js";

test("a re-run whose state/ holds an expired root is refused (ERR_PROVISION_ROOT_EXPIRED), naming state/ to move aside; nothing is written", async () => {
  const dir = tempDir();
  const ws = join(dir, "ws");
  const file = writeFile(join(dir, "project.yml"), smallProjectYaml("expired_root", 8002));
  await provision({ projectFile: file, workspace: ws });
  const state = join(ws, "expired_root", "state");
  const keyPem = readFileSync(join(state, "rootCA.key"), "utf8");
  // The same root key, a certificate that expired a year ago.
  const expired = await createRootCertificate({
    commonName: "expired_root",
    validDays: 1,
    privateKeyPem: keyPem,
    publicKeySpki: new Uint8Array(createPublicKey(keyPem).export({ type: "spki", format: "der" })),
    now: new Date(Date.now() - 365 * 24 * 3600 * 1000),
  });
  writeFileSync(join(state, "rootCA.pem"), expired);
  await assert.rejects(provision({ projectFile: file, workspace: ws }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "ERR_PROVISION_ROOT_EXPIRED");
    assert.ok(err.message.includes(`move ${state} aside`), err.message);
    assert.match(err.message, /redistribute every kit/);
    return true;
  });
  assert.equal(existsSync(join(ws, "expired_root", "prod_01")), false, "no new prod folder");
});
