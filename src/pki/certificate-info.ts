import { X509Certificate } from "node:crypto";

// Reading a certificate needs only node:crypto (OpenSSL's parser): @peculiar/x509 is for issuing
// certificates, and loading it (with reflect-metadata) costs a quarter of a second, which every
// `cohort admin -c …` and every login would pay.

/** PKCS#9 unstructuredName: FLARE stores an admin's role here, and so do we. */
export const UNSTRUCTURED_NAME_OID = "1.2.840.113549.1.9.2";

export interface CertificateInfo {
  readonly commonName: string;
  readonly organization: string | undefined;
  readonly role: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Lower-case hex. */
  readonly serialNumber: string;
  /** DNS names, IP addresses, e-mail addresses and URIs, as OpenSSL prints them. */
  readonly subjectAltNames: readonly string[];
}

// X509Certificate.subject is OpenSSL's one-attribute-per-line print of the name: `CN=a\nO=b`, with
// the attributes of a multi-valued RDN joined by " + ", RFC 2253 specials (,+"\<>; and a leading #
// or space) escaped with a backslash and control characters as \XX. So every separator is
// unescaped and every value decodes exactly. (toLegacyObject() would give the parsed subject, but
// on Node 20, calling it before node:tls is loaded leaves tls.createSecureContext undefined.)
function subjectAttributes(subject: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of subject.split("\n")) {
    let i = 0;
    while (i < line.length) {
      const eq = line.indexOf("=", i);
      if (eq < 0) break;
      const key = line.slice(i, eq);
      const bytes: number[] = [];
      i = eq + 1;
      while (i < line.length && !line.startsWith(" + ", i)) {
        const hex = line[i] === "\\" ? /^[0-9A-Fa-f]{2}/.exec(line.slice(i + 1, i + 3)) : null;
        if (hex) {
          bytes.push(parseInt(hex[0], 16));
          i += 3;
        } else {
          const at = line[i] === "\\" ? i + 1 : i;
          const ch = String.fromCodePoint(line.codePointAt(at) ?? 0);
          bytes.push(...Buffer.from(ch, "utf8"));
          i = at + ch.length;
        }
      }
      if (line.startsWith(" + ", i)) i += 3;
      out.set(key, [...(out.get(key) ?? []), Buffer.from(bytes).toString("utf8")]);
    }
  }
  return out;
}

// Node prints subjectAltName as `DNS:a, IP Address:127.0.0.1, email:x@y`; a value containing a
// comma, quote, backslash or control character is printed as a JSON string literal, so the list
// splits unambiguously.
const SAN_ENTRY = /(?:^|, )(?:DNS|IP Address|email|URI):("(?:[^"\\]|\\.)*"|[^,]*)/g;

function subjectAltNames(text: string | undefined): string[] {
  if (!text) return [];
  return [...text.matchAll(SAN_ENTRY)].map((m) => {
    const v = m[1] ?? "";
    return v.startsWith('"') ? (JSON.parse(v) as string) : v;
  });
}

/** Reads the identity fields Cohort uses (CN, O, role) from a PEM certificate. */
export function readCertificateInfo(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  const subject = subjectAttributes(cert.subject);
  return {
    commonName: subject.get("CN")?.[0] ?? "",
    organization: subject.get("O")?.[0],
    role: (subject.get("unstructuredName") ?? subject.get(UNSTRUCTURED_NAME_OID))?.[0],
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serialNumber: cert.serialNumber.toLowerCase(),
    subjectAltNames: subjectAltNames(cert.subjectAltName),
  };
}
