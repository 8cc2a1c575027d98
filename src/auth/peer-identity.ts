import type { X509Certificate } from "node:crypto";
import { CohortError, isCohortError } from "../errors/index.js";
import { PkiErrorCode, readCertificateInfo, certificateFingerprint, verifyCertificateChain } from "../pki/index.js";
import { AuthErrorCode } from "./errors.js";

export type PeerType = "client" | "admin";

export interface PeerIdentity {
  readonly name: string;
  readonly type: PeerType;
  readonly org: string | undefined;
  readonly role: string | undefined;
  /** SHA256 fingerprint of the peer's certificate (used by bans). */
  readonly certFingerprint: string;
  readonly certNotAfter: Date;
  /** The certificate itself (PEM): sites of a job get each other's to seal peer messages. */
  readonly certPem: string;
}

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";
const SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1";

function checkChain(certPem: string, rootPem: string, who: string, at: Date): X509Certificate {
  try {
    return verifyCertificateChain(certPem, rootPem, { label: `${who}'s certificate`, at });
  } catch (err) {
    if (isCohortError(err, PkiErrorCode.CertExpired) || isCohortError(err, PkiErrorCode.CertNotYetValid)) {
      throw new CohortError(AuthErrorCode.CertExpired, err.message, err.details, { cause: err });
    }
    if (isCohortError(err)) {
      throw new CohortError(
        AuthErrorCode.CertUntrusted,
        `${who}'s certificate was issued by a different root CA than ours (${certificateFingerprint(rootPem)}): ${err.message}`,
        err.details,
        { cause: err },
      );
    }
    throw new CohortError(AuthErrorCode.CertUntrusted, `${who}'s certificate could not be read`, {}, { cause: err });
  }
}

/**
 * Checks a client or admin certificate presented at login: it chains to our root and is valid
 * now, its CN is the claimed name, its EKU allows client authentication, and its kind fits the
 * claimed type (admin certificates carry a role; site certificates do not).
 */
export function verifyPeerCertificate(certPem: string, rootPem: string, claimed: { name: string; type: PeerType }, at = new Date()): PeerIdentity {
  const cert = checkChain(certPem, rootPem, claimed.name, at);
  const info = readCertificateInfo(certPem);
  if (info.commonName !== claimed.name) {
    throw new CohortError(
      AuthErrorCode.NameMismatch,
      `certificate CN is ${JSON.stringify(info.commonName)} but the peer claims to be ${JSON.stringify(claimed.name)}`,
      {
        cn: info.commonName,
        claimed: claimed.name,
      },
    );
  }
  const eku = cert.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH_OID)) {
    throw new CohortError(AuthErrorCode.WrongType, `${claimed.name}'s certificate is not for client authentication (it is a server certificate)`, {
      name: claimed.name,
    });
  }
  const certType: PeerType = info.role ? "admin" : "client";
  if (certType !== claimed.type) {
    throw new CohortError(
      AuthErrorCode.WrongType,
      certType === "admin"
        ? `${claimed.name} presented an admin certificate (role ${info.role}) to log in as a site`
        : `${claimed.name} presented a site certificate to log in as an admin`,
      { name: claimed.name, certType, claimedType: claimed.type },
    );
  }
  return {
    name: info.commonName,
    type: certType,
    org: info.organization,
    role: info.role,
    certFingerprint: certificateFingerprint(certPem),
    certNotAfter: info.notAfter,
    certPem,
  };
}

/** Checks the server's certificate as a client sees it at login. */
export function verifyServerCertificate(certPem: string, rootPem: string, expectedName: string, at = new Date()): void {
  const cert = checkChain(certPem, rootPem, "the server", at);
  const cn = readCertificateInfo(certPem).commonName;
  if (cn !== expectedName) {
    throw new CohortError(
      AuthErrorCode.ServerIdentity,
      `the server's certificate CN is ${JSON.stringify(cn)}, expected ${JSON.stringify(expectedName)} (fed_client.json servers[0].identity)`,
      { cn, expected: expectedName },
    );
  }
  const eku = cert.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(SERVER_AUTH_OID)) {
    throw new CohortError(AuthErrorCode.ServerIdentity, `the certificate presented as the server's (${cn}) is not a server certificate`, { cn });
  }
}
