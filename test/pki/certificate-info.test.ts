/**
 * readCertificateInfo reads certificates with node:crypto (no @peculiar/x509 on the console and
 * login paths): it must give what @peculiar/x509's parser gives, for any subject, including
 * values with separators, escapes, control characters and non-ASCII text.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { generateKeyPair, readCertificateInfo, UNSTRUCTURED_NAME_OID } from "../../src/pki/index.js";
import { x509 } from "../../src/pki/x509-provider.js";

const keys = await generateKeyPair("ec-p256");
const signingKey = await crypto.subtle.importKey(
  "pkcs8",
  Buffer.from(keys.privateKeyPem.replace(/-----[^-]+-----|\s/g, ""), "base64"),
  { name: "ECDSA", namedCurve: "P-256" },
  false,
  ["sign"],
);

/**
 * A name value as hex DER (a UTF8String), which @peculiar/x509 takes literally: a plain string
 * starting with "#" would be read as hex.
 */
function utf8(value: string): string {
  const bytes = Buffer.from(value, "utf8");
  const n = bytes.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return `#${Buffer.from([0x0c, ...len]).toString("hex")}${bytes.toString("hex")}`;
}

async function certificate(subject: x509.JsonName, sans: x509.JsonGeneralNames = []): Promise<x509.X509Certificate> {
  const now = Date.now();
  return x509.X509CertificateGenerator.create({
    serialNumber: "0123456789abcdef",
    subject,
    issuer: [{ CN: ["test root"] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    publicKey: keys.publicKeySpki,
    signingKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
}

/** What @peculiar/x509 reads from the same certificate (the reference). */
function reference(cert: x509.X509Certificate): Record<string, unknown> {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    commonName: cert.subjectName.getField("CN")[0] ?? "",
    organization: cert.subjectName.getField("O")[0],
    role: cert.subjectName.getField(UNSTRUCTURED_NAME_OID)[0],
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serialNumber: cert.serialNumber,
    subjectAltNames: san ? san.names.items.map((n) => n.value) : [],
  };
}

async function same(subject: x509.JsonName, sans: x509.JsonGeneralNames = []): Promise<void> {
  const cert = await certificate(subject, sans);
  assert.deepEqual({ ...readCertificateInfo(cert.toString("pem")) }, reference(cert), JSON.stringify(subject));
}

const TRICKY = [
  "plain",
  "a, b",
  "a + b",
  "x=y",
  'q"uote',
  "back\\slash",
  "back\\41",
  "#hash",
  " lead",
  "trail ",
  "semi;<>",
  "line\nbreak",
  "tab\there",
  "ünïcødé ✓",
  "emoji 🦊",
  "\\",
  "a\\ + b",
];

test("CN, O and the role (UNSTRUCTURED_NAME) read as @peculiar/x509 reads them, for tricky values", async () => {
  for (const v of TRICKY) {
    await same([{ CN: [utf8(v)] }, { O: [utf8(v)] }, { [UNSTRUCTURED_NAME_OID]: [utf8(v)] }]);
  }
});

test("multi-valued RDNs, repeated attributes, a missing CN, SANs", async () => {
  await same([{ CN: ["a + b"], O: ["org, inc"] }, { [UNSTRUCTURED_NAME_OID]: ["lead"] }]);
  await same([{ CN: [utf8("x\\ + O=evil")], O: [utf8("#1 + CN=evil")] }]);
  await same([{ O: ["only org"] }]);
  await same([{ CN: ["first"] }, { CN: ["second"] }, { O: ["o1"] }, { O: ["o2"] }]);
  await same(
    [{ CN: ["srv"] }],
    [
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
      { type: "email", value: "a@b.org" },
      { type: "dns", value: "x.example" },
    ],
  );
});

test("any subject value (any code point, control characters too) reads back unchanged", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1, maxLength: 24, unit: "binary" }), fc.string({ minLength: 1, maxLength: 24 }), async (cn, role) => {
      await same([{ CN: [utf8(cn)] }, { O: ["org"] }, { [UNSTRUCTURED_NAME_OID]: [utf8(role)] }]);
    }),
    { numRuns: 150 },
  );
});
