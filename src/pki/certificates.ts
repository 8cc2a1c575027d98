import { isIP } from "node:net";
import { createPublicKey, randomBytes } from "node:crypto";
import type * as X509 from "@peculiar/x509";
import { certificateSigningAlgorithm, importSigningKey, type KeyAlgorithm } from "./keys.js";
import { UNSTRUCTURED_NAME_OID } from "./certificate-info.js";

// @peculiar/x509 (with reflect-metadata) is loaded on the first issuance, not at import: reading
// certificates (certificate-info.ts) does not need it, and the console and logins start faster.
const loadX509 = async (): Promise<typeof X509> => (await import("./x509-provider.js")).x509;

const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertificateSubject {
  readonly commonName: string;
  readonly organization?: string;
  /** Admin role (UNSTRUCTURED_NAME), as FLARE. */
  readonly role?: string;
}

export type ExtendedKeyUsage = "serverAuth" | "clientAuth";

export interface IssueCertificateOptions {
  readonly subject: CertificateSubject;
  readonly subjectPublicKeySpki: Uint8Array;
  /** DNS names and IP literals; IP literals become IP SANs. */
  readonly subjectAltNames: readonly string[];
  readonly extendedKeyUsages: readonly ExtendedKeyUsage[];
  readonly validDays: number;
  readonly issuer: Issuer;
  readonly now?: Date;
}

/** A CA ready to sign: parsed certificate and imported key, reused across many issuances. */
export interface Issuer {
  readonly cert: X509.X509Certificate;
  readonly signingKey: Awaited<ReturnType<typeof importSigningKey>>["key"];
  readonly algorithm: KeyAlgorithm;
  /** Computed once: it is the same in every certificate this issuer signs. */
  readonly authorityKeyIdentifier: X509.AuthorityKeyIdentifierExtension;
}

export async function loadIssuer(certPem: string, privateKeyPem: string): Promise<Issuer> {
  const x509 = await loadX509();
  const { key, algorithm } = await importSigningKey(privateKeyPem);
  const cert = new x509.X509Certificate(certPem);
  return { cert, signingKey: key, algorithm, authorityKeyIdentifier: await x509.AuthorityKeyIdentifierExtension.create(cert, false) };
}

export interface RootCertificateOptions {
  readonly commonName: string;
  readonly validDays: number;
  readonly privateKeyPem: string;
  readonly publicKeySpki: Uint8Array;
  readonly now?: Date;
}

/** Random positive 16-byte serial (RFC 5280 allows up to 20 octets; top bit cleared keeps it positive). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}

function subjectName(subject: CertificateSubject): X509.JsonName {
  const name: X509.JsonName = [{ CN: [subject.commonName] }];
  if (subject.organization) name.push({ O: [subject.organization] });
  if (subject.role) name.push({ [UNSTRUCTURED_NAME_OID]: [subject.role] });
  return name;
}

function sanExtension(x509: typeof X509, names: readonly string[]): X509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    names.map((value) => ({ type: isIP(value) ? ("ip" as const) : value.includes("@") ? ("email" as const) : ("dns" as const), value })),
    false,
  );
}

/** Self-signed root CA: CN=<project>, CA:true (critical), keyCertSign|cRLSign (critical), SKI. */
export async function createRootCertificate(options: RootCertificateOptions): Promise<string> {
  const x509 = await loadX509();
  const { key: signingKey, algorithm } = await importSigningKey(options.privateKeyPem);
  const now = options.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [options.commonName] }],
    issuer: [{ CN: [options.commonName] }],
    notBefore: new Date(now.getTime() - 60_000), // tolerate small clock skew between sites
    notAfter: new Date(now.getTime() + options.validDays * DAY_MS),
    publicKey: options.publicKeySpki,
    signingKey,
    signingAlgorithm: certificateSigningAlgorithm(algorithm),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(options.publicKeySpki),
      sanExtension(x509, [options.commonName].filter(isSanCompatible)),
    ],
  });
  return cert.toString("pem");
}

function leafKeyIsRsa(spki: Uint8Array): boolean {
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }).asymmetricKeyType === "rsa";
}

/** Names a SAN can carry: DNS names, IP literals, email addresses (admins); others are left out. */
function isSanCompatible(name: string): boolean {
  return /^[A-Za-z0-9.-]+$/.test(name) || isIP(name) !== 0 || /^[^@\s]+@[A-Za-z0-9.-]+$/.test(name);
}

/**
 * Issues a leaf certificate signed by the issuer (our root). Validity is clamped to the issuer's
 * notAfter: a leaf never outlives its root.
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<string> {
  const x509 = await loadX509();
  const { cert: issuer, signingKey, algorithm } = options.issuer;
  const now = options.now ?? new Date();
  const wanted = now.getTime() + options.validDays * DAY_MS;
  const notAfter = new Date(Math.min(wanted, issuer.notAfter.getTime()));
  const ekuOids = options.extendedKeyUsages.map((u) => (u === "serverAuth" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // RSA: TLS 1.2 RSA key exchange and sealed peer messages (RSA-OAEP) need keyEncipherment.
    // EC: signing, and ECDH for sealed peer messages between sites (swarm) needs keyAgreement.
    new x509.KeyUsagesExtension(
      leafKeyIsRsa(options.subjectPublicKeySpki)
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(ekuOids, false),
    await x509.SubjectKeyIdentifierExtension.create(options.subjectPublicKeySpki),
    options.issuer.authorityKeyIdentifier,
  ];
  const sans = options.subjectAltNames.filter(isSanCompatible);
  if (sans.length > 0) extensions.push(sanExtension(x509, sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subjectName(options.subject),
    issuer: issuer.subjectName,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    publicKey: options.subjectPublicKeySpki,
    signingKey,
    signingAlgorithm: certificateSigningAlgorithm(algorithm),
    extensions,
  });
  return cert.toString("pem");
}

export type { KeyAlgorithm };
