/**
 * The certificates' key usages, read with the system openssl, as docs/provisioning.md
 * ("Certificates") and docs/protocol.md §4.1 state them, for EC (default) and RSA kits:
 * root CA:TRUE (critical) with keyCertSign, cRLSign, digitalSignature (critical); leaves CA:FALSE
 * with digitalSignature and keyAgreement (EC) or keyEncipherment (RSA), EKU serverAuth for the
 * server and clientAuth for sites and admins.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { freePort, openssl, smallProjectYaml, tempDir, writeFile } from "../helpers/index.js";

const usages = (file: string): { basic: string; keyUsage: string[]; eku: string[] } => {
  const out = openssl(["x509", "-noout", "-ext", "basicConstraints,keyUsage,extendedKeyUsage", "-in", file]);
  const after = (label: string): string => new RegExp(`${label}:( critical)?\\s*\\n\\s*(.+)`).exec(out)?.slice(1).join("|") ?? "";
  const list = (s: string): string[] =>
    s
      .replace(/^ critical\|/, "")
      .replace(/^\|/, "")
      .split(", ")
      .filter(Boolean)
      .sort();
  return {
    basic: after("X509v3 Basic Constraints"),
    keyUsage: [after("X509v3 Key Usage").startsWith(" critical") ? "critical" : "", ...list(after("X509v3 Key Usage"))].filter(Boolean),
    eku: list(after("X509v3 Extended Key Usage")),
  };
};

for (const [algorithm, leafUsage] of [
  ["ec-p256", "Key Agreement"],
  ["rsa-2048", "Key Encipherment"],
] as const) {
  describe(`key usages (${algorithm})`, () => {
    test(`root: CA, keyCertSign, cRLSign, digitalSignature; leaves: digitalSignature + ${leafUsage}, EKU by role`, async () => {
      const dir = tempDir();
      const port = await freePort();
      const file = writeFile(join(dir, "project.yml"), smallProjectYaml("ku_project", port, { keyAlgorithm: algorithm }));
      const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
      const at = (name: string, f: string): string => join(r.prodDir, name, "startup", f);
      const root = usages(at("localhost", "rootCA.pem"));
      assert.equal(root.basic, " critical|CA:TRUE");
      assert.deepEqual(root.keyUsage, ["critical", "CRL Sign", "Certificate Sign", "Digital Signature"]);
      const leaves = [
        ["localhost", "server.crt", "TLS Web Server Authentication"],
        ["site-1", "client.crt", "TLS Web Client Authentication"],
        ["admin@nvidia.com", "client.crt", "TLS Web Client Authentication"],
      ] as const;
      for (const [name, cert, eku] of leaves) {
        const u = usages(at(name, cert));
        assert.match(u.basic, /CA:FALSE/, name);
        assert.deepEqual(
          u.keyUsage.filter((x) => x !== "critical"),
          ["Digital Signature", leafUsage].sort(),
          `${name}: key usage`,
        );
        assert.deepEqual(u.eku, [eku], `${name}: extended key usage`);
      }
    });
  });
}
