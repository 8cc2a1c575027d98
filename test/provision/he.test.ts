/**
 * Issue 10, HE provisioning: FLARE's HEBuilder writes one CKKS key pair per project — the client
 * context (with the secret key, 0600) into every client kit, the public parameters only into the
 * server kit, nothing into admin kits — signed with the rest of startup/; re-runs reuse the pair.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision, ProvisionErrorCode, type ProvisionResult } from "../../src/provision/index.js";
import { KitErrorCode, verifyStartupKit } from "../../src/pki/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { CkksContext } from "../../src/privacy/he.js";
import { HeErrorCode, readCkksContextFile } from "../../src/privacy/index.js";
import { DEFAULT_BUILDERS_YAML, minimalProject, runCli, tempDir, writeFile } from "../helpers/index.js";

const HE_BUILDERS = (args = ""): string =>
  DEFAULT_BUILDERS_YAML.replace(
    "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
    `  - path: nvflare.lighter.impl.he.HEBuilder\n${args ? `    args: ${args}\n` : ""}  - path: nvflare.lighter.impl.signature.SignatureBuilder`,
  );
const CLIENTS = "  - {name: site-1, type: client, org: a}\n  - {name: site-2, type: client, org: b}";

describe("HEBuilder", () => {
  let dir = "";
  let file = "";
  let r: ProvisionResult;
  const startup = (name: string, prod = r.prodDir): string => join(prod, name, "startup");

  before(async () => {
    dir = tempDir("cohort-he-prov-");
    file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        name: "he_project",
        clients: CLIENTS,
        builders: HE_BUILDERS("{poly_modulus_degree: 8192, coeff_mod_bit_sizes: [60, 40, 40], scale_bits: 40, scheme: CKKS}"),
      }),
    );
    r = await provision({ projectFile: file, workspace: join(dir, "ws") });
  });

  test("client kits get the secret key (0600), the server kit public parameters only, admin kits nothing; all signed", async () => {
    for (const site of ["site-1", "site-2"]) {
      const f = join(startup(site), "client_context.ckks");
      assert.equal(statSync(f).mode & 0o777, 0o600, `${f} is 0600`);
      assert.ok(readCkksContextFile(f, "client").secret_key);
      assert.ok(verifyStartupKit(join(r.prodDir, site)).signedFiles.includes("client_context.ckks"));
      assert.equal(existsSync(join(startup(site), "server_context.ckks")), false);
    }
    const a = readFileSync(join(startup("site-1"), "client_context.ckks"), "utf8");
    assert.equal(readFileSync(join(startup("site-2"), "client_context.ckks"), "utf8"), a, "one key pair for every client of the project");
    const serverFile = join(startup("server1"), "server_context.ckks");
    const server = readCkksContextFile(serverFile, "server");
    assert.equal(server.secret_key, undefined);
    const secret = readCkksContextFile(join(startup("site-1"), "client_context.ckks"), "client").secret_key ?? "-";
    assert.ok(!readFileSync(serverFile, "utf8").includes(secret), "the server kit holds no secret key");
    assert.equal(existsSync(join(startup("server1"), "client_context.ckks")), false);
    assert.ok(verifyStartupKit(join(r.prodDir, "server1")).signedFiles.includes("server_context.ckks"));
    for (const f of ["client_context.ckks", "server_context.ckks"])
      assert.equal(existsSync(join(startup("admin@nvidia.com"), f)), false, `admin kit has no ${f}`);
    assert.equal(statSync(join(dir, "ws", "he_project", "state", "he_context.json")).mode & 0o777, 0o600);

    // What one site encrypts, the other decrypts; the server's context can only add.
    const site1 = await CkksContext.load(readCkksContextFile(join(startup("site-1"), "client_context.ckks"), "client"));
    const site2 = await CkksContext.load(readCkksContextFile(join(startup("site-2"), "client_context.ckks"), "client"));
    const srv = await CkksContext.load(server);
    assert.equal(srv.canDecrypt, false);
    const v = Float64Array.from({ length: 100 }, (_, i) => i / 100);
    const sum = srv.add([site1.encrypt(v), site2.encrypt(v)]);
    assert.throws(
      () => srv.decrypt(sum, v.length),
      (e: unknown) => isCohortError(e, HeErrorCode.NoSecretKey),
    );
    assert.ok(Math.abs((site2.decrypt(sum, v.length)[50] as number) - 1) < 1e-6);
  });

  test("a server context with a secret key is refused when read as the server's", () => {
    const bad = join(dir, "server_with_key.ckks");
    writeFileSync(bad, readFileSync(join(startup("site-1"), "client_context.ckks")));
    assert.throws(
      () => readCkksContextFile(bad, "server"),
      (e: unknown) =>
        isCohortError(e, HeErrorCode.SecretAtServer) &&
        e.message.includes(bad) &&
        !e.message.includes(String(JSON.parse(readFileSync(bad, "utf8")).secret_key)),
    );
  });

  test("cohort kit verify catches a changed context file", async () => {
    const kit = join(r.prodDir, "site-2");
    const f = join(kit, "startup", "client_context.ckks");
    const original = readFileSync(f);
    const ctx = JSON.parse(original.toString("utf8")) as Record<string, unknown>;
    writeFileSync(f, `${JSON.stringify({ ...ctx, scale_bits: 30 })}\n`);
    try {
      assert.throws(
        () => verifyStartupKit(kit),
        (e: unknown) => isCohortError(e, KitErrorCode.Tampered) && /client_context\.ckks/.test(e.message),
      );
      const cli = await runCli(["kit", "verify", kit]);
      assert.equal(cli.code, 1, cli.stdout + cli.stderr);
      assert.match(cli.stdout + cli.stderr, /client_context\.ckks/);
    } finally {
      writeFileSync(f, original);
    }
  });

  test("a re-run reuses the key pair; changed args are refused against state/", async () => {
    const again = await provision({ projectFile: file, workspace: join(dir, "ws") });
    assert.notEqual(again.prodDir, r.prodDir);
    assert.deepEqual(readFileSync(join(startup("site-1", again.prodDir), "client_context.ckks")), readFileSync(join(startup("site-1"), "client_context.ckks")));
    const changed = writeFile(
      join(dir, "changed.yml"),
      minimalProject({ name: "he_project", clients: CLIENTS, builders: HE_BUILDERS("{coeff_mod_bit_sizes: [60, 40, 40, 60]}") }),
    );
    await assert.rejects(
      provision({ projectFile: changed, workspace: join(dir, "ws") }),
      (e: unknown) =>
        isCohortError(e, ProvisionErrorCode.StateConflict) && /coeff_mod_bit_sizes \[60, 40, 40, 60\]/.test(e.message) && /he_context\.json/.test(e.message),
    );
  });
});
