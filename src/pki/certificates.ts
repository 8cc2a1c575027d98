import { isIP } from "node:net";
import { createPublicKey, randomBytes } from "node:crypto";
import { x509 } from "./x509-provider.js";
import { certificateSigningAlgorithm, importSigningKey, type KeyAlgorithm } from "./keys.js";

/** PKCS#9 unstructuredName: FLARE stores an admin's role here, and so do we. */
export const UNSTRUCTURED_NAME_OID = "1.2.840.113549.1.9.2";

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
  readonly cert: x509.X509Certificate;
  readonly signingKey: Awaited<ReturnType<typeof importSigningKey>>["key"];
  readonly algorithm: KeyAlgorithm;
  /** Computed once: it is the same in every certificate this issuer signs. */
  readonly authorityKeyIdentifier: x509.AuthorityKeyIdentifierExtension;
}

export async function loadIssuer(certPem: string, privateKeyPem: string): Promise<Issuer> {
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
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x01;
  return bytes.toString("hex");
}

function subjectName(subject: CertificateSubject): x509.JsonName {
  const name: x509.JsonName = [{ CN: [subject.commonName] }];
  if (subject.organization) name.push({ O: [subject.organization] });
  if (subject.role) name.push({ [UNSTRUCTURED_NAME_OID]: [subject.role] });
  return name;
}

function sanExtension(names: readonly string[]): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    names.map((value) => ({ type: isIP(value) ? ("ip" as const) : value.includes("@") ? ("email" as const) : ("dns" as const), value })),
    false,
  );
}

/** Self-signed root CA: CN=<project>, CA:true (critical), keyCertSign|cRLSign (critical), SKI. */
export async function createRootCertificate(options: RootCertificateOptions): Promise<string> {
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
      sanExtension([options.commonName].filter(isSanCompatible)),
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
  const { cert: issuer, signingKey, algorithm } = options.issuer;
  const now = options.now ?? new Date();
  const wanted = now.getTime() + options.validDays * DAY_MS;
  const notAfter = new Date(Math.min(wanted, issuer.notAfter.getTime()));
  const ekuOids = options.extendedKeyUsages.map((u) => (u === "serverAuth" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth));
  const extensions: x509.Extension[] = [
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
  if (sans.length > 0) extensions.push(sanExtension(sans));
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

export interface CertificateInfo {
  readonly commonName: string;
  readonly organization: string | undefined;
  readonly role: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialNumber: string;
  readonly subjectAltNames: readonly string[];
}

/** Reads the identity fields Cohort uses (CN, O, role) from a PEM certificate. */
export function readCertificateInfo(pem: string): CertificateInfo {
  const cert = new x509.X509Certificate(pem);
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

export type { KeyAlgorithm };
