/**
 * CertBuilder `key_algorithm: rsa-2048`: openssl verifies the chain, and a kit signature (RSA-PSS,
 * SHA-256, max salt, as FLARE) verifies with `openssl dgst -sigopt rsa_padding_mode:pss`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { verifyStartupKit } from "../../src/pki/index.js";
import { freePort, listDir, openssl, opensslTry, readJson, smallProjectYaml, tempDir, writeFile } from "../helpers/index.js";

describe("key_algorithm: rsa-2048", () => {
  test("kits chain to an RSA root in openssl, and signature.json holds RSA-PSS signatures openssl verifies", async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = writeFile(join(dir, "project.yml"), smallProjectYaml("rsa_project", port, { keyAlgorithm: "rsa-2048" }));
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    const kits = { localhost: "server.crt", "site-1": "client.crt", "admin@nvidia.com": "client.crt" } as const;
    assert.deepEqual(r.kits.map((k) => k.name).sort(), Object.keys(kits).sort());
    for (const [name, cert] of Object.entries(kits)) {
      const startup = join(r.prodDir, name, "startup");
      assert.match(openssl(["verify", "-CAfile", join(startup, "rootCA.pem"), join(startup, cert)]), /: OK\s*$/);
      const text = openssl(["x509", "-noout", "-text", "-in", join(startup, cert)]);
      assert.match(text, /Public-Key: \(2048 bit\)/);
      assert.match(text, /rsaEncryption/);
      assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
      assert.ok(verifyStartupKit(join(r.prodDir, name)).signedFiles.includes(cert));
    }
    const rootText = openssl(["x509", "-noout", "-text", "-in", join(r.prodDir, "localhost", "startup", "rootCA.pem")]);
    assert.match(rootText, /Public-Key: \(2048 bit\)/);
    assert.match(rootText, /CA:TRUE/);
    // root_valid_days: 30 → the root and the leaves (clamped) end within ~30 days.
    const end = new Date(
      openssl(["x509", "-noout", "-enddate", "-in", join(r.prodDir, "site-1", "startup", "client.crt")])
        .trim()
        .replace(/^notAfter=/, ""),
    );
    const days = (end.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days <= 30.01, `leaf valid for ${days} days, clamped to the root's 30`);

    const startup = join(r.prodDir, "site-1", "startup");
    const pub = join(dir, "root-pub.pem");
    writeFileSync(pub, openssl(["x509", "-noout", "-pubkey", "-in", join(startup, "rootCA.pem")]));
    const sig = readJson<Record<string, string>>(join(startup, "signature.json"));
    assert.deepEqual(
      Object.keys(sig).sort(),
      listDir(startup).filter((f) => f !== "signature.json"),
    );
    for (const f of ["fed_client.json", "client.crt"]) {
      const b64 = sig[f];
      assert.ok(b64);
      const sigFile = join(dir, `${f}.sig`);
      writeFileSync(sigFile, Buffer.from(b64, "base64"));
      assert.equal(Buffer.from(b64, "base64").length, 256, "RSA-2048 signature");
      const args = [
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:-2",
        "-verify",
        pub,
        "-signature",
        sigFile,
        join(startup, f),
      ];
      assert.match(openssl(args), /Verified OK/);
      // The same signature over changed bytes is refused by openssl too.
      const changed = join(dir, `${f}.changed`);
      writeFileSync(changed, Buffer.concat([readFileSync(join(startup, f)), Buffer.from(" ")]));
      const bad = opensslTry([
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:-2",
        "-verify",
        pub,
        "-signature",
        sigFile,
        changed,
      ]);
      assert.equal(bad.ok, false);
      assert.match(bad.out, /Verification failure/);
    }
  });
});
