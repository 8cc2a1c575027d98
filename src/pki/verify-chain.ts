import { X509Certificate } from "node:crypto";
import { CohortError } from "../errors/index.js";
import { PkiErrorCode } from "./errors.js";
import { certificateFingerprint } from "./fingerprint.js";

export interface VerifyChainOptions {
  /** Time at which validity is checked; default now. */
  readonly at?: Date;
  /** Label used in error messages (e.g. the file name). */
  readonly label?: string;
}

function parse(pem: string, label: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new CohortError(PkiErrorCode.CertInvalid, `${label} is not a valid PEM X.509 certificate`, { file: label }, { cause });
  }
}

function checkValidity(cert: X509Certificate, label: string, at: Date): void {
  if (at < new Date(cert.validFrom)) {
    throw new CohortError(
      PkiErrorCode.CertNotYetValid,
      `${label} is not valid before ${new Date(cert.validFrom).toISOString()} (now ${at.toISOString()}); check the clock`,
      {
        file: label,
        notBefore: cert.validFrom,
      },
    );
  }
  if (at > new Date(cert.validTo)) {
    throw new CohortError(PkiErrorCode.CertExpired, `${label} expired on ${new Date(cert.validTo).toISOString()}; re-provision to renew it`, {
      file: label,
      notAfter: cert.validTo,
    });
  }
}

/** Checks that a root certificate is a valid, self-signed CA certificate at the given time. */
export function verifyRootCertificate(rootPem: string, options: VerifyChainOptions = {}): X509Certificate {
  const label = options.label ?? "root certificate";
  const root = parse(rootPem, label);
  if (!root.ca || !root.checkIssued(root) || !root.verify(root.publicKey)) {
    throw new CohortError(PkiErrorCode.RootNotCA, `${label} is not a self-signed CA certificate`, { file: label });
  }
  checkValidity(root, label, options.at ?? new Date());
  return root;
}

/**
 * Verifies that `leafPem` was issued and signed by `rootPem` (our single-level PKI: the project
 * root is the only trust anchor) and that both are valid at `at`.
 */
export function verifyCertificateChain(leafPem: string, rootPem: string, options: VerifyChainOptions = {}): X509Certificate {
  const label = options.label ?? "certificate";
  const at = options.at ?? new Date();
  const root = verifyRootCertificate(rootPem, { at, label: "rootCA.pem" });
  const leaf = parse(leafPem, label);
  if (!leaf.checkIssued(root) || !leaf.verify(root.publicKey)) {
    throw new CohortError(
      PkiErrorCode.CertNotIssuedByRoot,
      `${label} (${leaf.subject.replace(/\n/g, ", ")}) was not issued by this kit's root CA (${certificateFingerprint(rootPem)}); it comes from a different project or was altered`,
      { file: label, issuer: leaf.issuer, rootFingerprint: certificateFingerprint(rootPem) },
    );
  }
  checkValidity(leaf, label, at);
  return leaf;
}
