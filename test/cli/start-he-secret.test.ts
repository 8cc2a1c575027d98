/**
 * docs/privacy.md (HE) and docs/security.md: the server never holds the CKKS secret key. `cohort
 * start` refuses a server kit that carries one — a site's client_context.ckks, or a
 * server_context.ckks with a secret key, under Cohort's .ckks or FLARE's .tenseal names — even when the kit is validly signed (a provisioner's
 * mistake), before it listens; the secret key never appears in its output.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { signKitFolder, verifyStartupKit } from "../../src/pki/index.js";
import { readCkksContextFile } from "../../src/privacy/index.js";
import { DEFAULT_BUILDERS_YAML, freePort, minimalProject, runCli, tempDir, writeFile } from "../helpers/index.js";

const HE_BUILDERS = DEFAULT_BUILDERS_YAML.replace(
  "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
  "  - path: nvflare.lighter.impl.he.HEBuilder\n  - path: nvflare.lighter.impl.signature.SignatureBuilder",
);

describe("cohort start and the CKKS secret key", () => {
  let prod = "";
  let rootKey = "";
  let secret = "";
  before(async () => {
    const dir = tempDir("cohort-he-start-");
    const port = await freePort();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        name: "he_start",
        port,
        server: `  - {name: server1, type: server, org: nvidia, fed_learn_port: ${port}, host_names: [127.0.0.1]}`,
        builders: HE_BUILDERS,
      }),
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    prod = r.prodDir;
    rootKey = readFileSync(join(dir, "ws", "he_start", "state", "rootCA.key"), "utf8");
    secret = readCkksContextFile(join(prod, "site-1", "startup", "client_context.ckks"), "client").secret_key ?? "";
    assert.ok(secret.length > 100, "precondition: the site's context holds a secret key");
  });

  /** A copy of the server kit with `change` applied to startup/, re-signed with the project root. */
  function serverKitWith(name: string, change: (startup: string) => void): string {
    const kit = join(tempDir("cohort-he-kit-"), name);
    cpSync(join(prod, "server1"), kit, { recursive: true });
    change(join(kit, "startup"));
    signKitFolder(join(kit, "startup"), rootKey);
    verifyStartupKit(kit); // precondition: the kit is intact, so the refusal below is the HE check
    return kit;
  }

  for (const name of ["client_context.ckks", "client_context.tenseal"])
    test(`a validly signed server kit holding a site's ${name} (Cohort's name or FLARE's) is refused before it listens`, { timeout: 120_000 }, async () => {
      const kit = serverKitWith(`with-${name}`, (s) => copyFileSync(join(prod, "site-1", "startup", "client_context.ckks"), join(s, name)));
      const r = await runCli(["start", kit], {}, { timeoutMs: 90_000 });
      const out = r.stdout + r.stderr;
      assert.notEqual(r.code, 0, out);
      assert.notEqual(r.code, null, `exits (not killed at the timeout):\n${out}`);
      assert.match(out, /ERR_PRIVACY_HE_SECRET_AT_SERVER/);
      assert.match(out, /a server kit must not hold a site's CKKS context/);
      assert.doesNotMatch(out, /listening on/);
      assert.ok(!out.includes(secret.slice(0, 64)), "the secret key is not printed");
    });

  for (const name of ["server_context.ckks", "server_context.tenseal"])
    test(`a ${name} carrying a secret key is refused too`, { timeout: 120_000 }, async () => {
      const kit = serverKitWith(`secret-in-${name}`, (s) => {
        rmSync(join(s, "server_context.ckks"));
        copyFileSync(join(prod, "site-1", "startup", "client_context.ckks"), join(s, name));
      });
      const r = await runCli(["start", kit], {}, { timeoutMs: 90_000 });
      const out = r.stdout + r.stderr;
      assert.notEqual(r.code, 0, out);
      assert.notEqual(r.code, null, `exits (not killed at the timeout):\n${out}`);
      assert.match(out, /ERR_PRIVACY_HE_SECRET_AT_SERVER/);
      assert.doesNotMatch(out, /listening on/);
      assert.ok(!out.includes(secret.slice(0, 64)), "the secret key is not printed");
    });
});
