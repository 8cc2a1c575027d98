/** Unit tests of the pki primitives: fingerprints, detached signatures, chain checks. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import {
  certificateFingerprint,
  createRootCertificate,
  generateKeyPair,
  issueCertificate,
  loadIssuer,
  normalizeFingerprint,
  PkiErrorCode,
  readCertificateInfo,
  signBytes,
  verifyBytes,
  verifyCertificateChain,
  type KeyAlgorithm,
} from "../../src/pki/index.js";
import { isCohortError } from "../../src/errors/index.js";

const HEX = "ab:cd:ef:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
const NORMAL = `SHA256:${HEX.toUpperCase()}`;

describe("normalizeFingerprint", () => {
  test("accepts SHA256: + colon hex in any case and openssl's `sha256 Fingerprint=` form", () => {
    assert.equal(normalizeFingerprint(NORMAL), NORMAL);
    assert.equal(normalizeFingerprint(NORMAL.toLowerCase()), NORMAL);
    assert.equal(normalizeFingerprint(`SHA256:${HEX}`), NORMAL);
    assert.equal(normalizeFingerprint(`sha256:${HEX.toLowerCase()}`), NORMAL);
    assert.equal(normalizeFingerprint(`sha256 Fingerprint=${HEX.toUpperCase()}`), NORMAL);
    assert.equal(normalizeFingerprint(`SHA256 Fingerprint=${HEX}`), NORMAL);
    assert.equal(normalizeFingerprint(`  ${NORMAL}\n`), NORMAL, "surrounding whitespace is trimmed");
  });

  test("refuses other forms with ERR_BAD_FINGERPRINT", () => {
    const bad = [
      "",
      "SHA256:",
      "SHA256:zz",
      `SHA256:${HEX.slice(3)}`, // 31 bytes
      `SHA256:${HEX}:00`, // 33 bytes
      `SHA256:${HEX.replace(/:/g, "")}`, // no colons
      `SHA1:${HEX}`,
      `MD5:${HEX}`,
      `SHA256:${HEX.replace("ab", "gx")}`,
      `SHA256:${HEX.replace(/:/g, "-")}`,
      "sha256 Fingerprint=12:34",
      "Fingerprint",
    ];
    for (const input of bad) {
      assert.throws(
        () => normalizeFingerprint(input),
        (err: unknown) => isCohortError(err, PkiErrorCode.BadFingerprint) && err.message.includes("32 colon-separated hex bytes"),
        JSON.stringify(input),
      );
    }
  });

  test("certificateFingerprint is the SHA-256 of the DER, in the normal form", async () => {
    const keys = await generateKeyPair("ec-p256");
    const pem = await createRootCertificate({ commonName: "fp_test", validDays: 10, privateKeyPem: keys.privateKeyPem, publicKeySpki: keys.publicKeySpki });
    const der = new X509Certificate(pem).raw;
    const expected = `SHA256:${createHash("sha256").update(der).digest("hex").toUpperCase().match(/../g)?.join(":")}`;
    assert.equal(certificateFingerprint(pem), expected);
    assert.equal(normalizeFingerprint(expected.toLowerCase()), expected);
  });
});

describe("signBytes / verifyBytes", () => {
  for (const algorithm of ["ec-p256", "rsa-2048"] as const satisfies readonly KeyAlgorithm[]) {
    test(`${algorithm}: round trip, and a flipped byte (data or signature) is refused`, async () => {
      const keys = await generateKeyPair(algorithm);
      const root = await createRootCertificate({
        commonName: `sig_${algorithm.replace("-", "_")}`,
        validDays: 10,
        privateKeyPem: keys.privateKeyPem,
        publicKeySpki: keys.publicKeySpki,
      });
      const data = Buffer.from("fed_client.json contents \u00e9\u0000\u00ff", "utf8");
      const sig = signBytes(keys.privateKeyPem, data);
      assert.match(sig, /^[A-Za-z0-9+/]+=*$/);
      if (algorithm === "rsa-2048") assert.equal(Buffer.from(sig, "base64").length, 256);
      assert.equal(verifyBytes(root, data, sig), true, "verifies against the certificate PEM");
      const publicPem = new X509Certificate(root).publicKey.export({ type: "spki", format: "pem" }).toString();
      assert.equal(verifyBytes(publicPem, data, sig), true, "verifies against a public key PEM");
      assert.equal(verifyBytes(new X509Certificate(root).publicKey, data, sig), true, "verifies against a KeyObject");

      for (const i of [0, Math.floor(data.length / 2), data.length - 1]) {
        const flipped = Buffer.from(data);
        flipped[i] = (flipped[i] ?? 0) ^ 0x01;
        assert.equal(verifyBytes(root, flipped, sig), false, `data byte ${i} flipped`);
      }
      const sigBytes = Buffer.from(sig, "base64");
      const badSig = Buffer.from(sigBytes);
      badSig[badSig.length - 1] = (badSig[badSig.length - 1] ?? 0) ^ 0x80;
      assert.equal(verifyBytes(root, data, badSig.toString("base64")), false, "signature byte flipped");
      assert.equal(verifyBytes(root, data, ""), false, "empty signature");
      assert.equal(verifyBytes(root, data, `${sig.slice(0, -4)}!!!!`), false, "non-base64 signature");
      assert.equal(verifyBytes(root, Buffer.concat([data, Buffer.from("x")]), sig), false, "appended byte");

      const other = await generateKeyPair(algorithm);
      assert.equal(verifyBytes(root, data, signBytes(other.privateKeyPem, data)), false, "signed by another key");
    });
  }
});

describe("certificates and chain checks", () => {
  test("a leaf issued by the root verifies; one from another root does not; the admin role is in the subject", async () => {
    const rootKeys = await generateKeyPair("ec-p256");
    const rootPem = await createRootCertificate({
      commonName: "chain_test",
      validDays: 30,
      privateKeyPem: rootKeys.privateKeyPem,
      publicKeySpki: rootKeys.publicKeySpki,
    });
    const issuer = await loadIssuer(rootPem, rootKeys.privateKeyPem);
    const leafKeys = await generateKeyPair("ec-p256");
    const leaf = await issueCertificate({
      subject: { commonName: "lead@example.org", organization: "org_a", role: "lead" },
      subjectPublicKeySpki: leafKeys.publicKeySpki,
      subjectAltNames: ["lead@example.org"],
      extendedKeyUsages: ["clientAuth"],
      validDays: 360,
      issuer,
    });
    const info = readCertificateInfo(leaf);
    assert.equal(info.commonName, "lead@example.org");
    assert.equal(info.organization, "org_a");
    assert.equal(info.role, "lead");
    assert.ok(info.notAfter.getTime() <= readCertificateInfo(rootPem).notAfter.getTime(), "leaf validity clamped to the root's");
    assert.ok(verifyCertificateChain(leaf, rootPem));

    const otherKeys = await generateKeyPair("ec-p256");
    const otherRoot = await createRootCertificate({
      commonName: "chain_test",
      validDays: 30,
      privateKeyPem: otherKeys.privateKeyPem,
      publicKeySpki: otherKeys.publicKeySpki,
    });
    assert.throws(
      () => verifyCertificateChain(leaf, otherRoot, { label: "client.crt" }),
      (err: unknown) => isCohortError(err, PkiErrorCode.CertNotIssuedByRoot) && err.message.startsWith("client.crt"),
    );
    assert.throws(
      () => verifyCertificateChain(leaf, leaf),
      (err: unknown) => isCohortError(err, PkiErrorCode.RootNotCA),
    );
    assert.throws(
      () => verifyCertificateChain("not a pem", rootPem),
      (err: unknown) => isCohortError(err, PkiErrorCode.CertInvalid),
    );
  });
});
