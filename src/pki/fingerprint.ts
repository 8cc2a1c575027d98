import { X509Certificate } from "node:crypto";
import { CohortError } from "../errors/index.js";
import { PkiErrorCode } from "./errors.js";

/** SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it, prefixed `SHA256:`. */
export function certificateFingerprint(certPem: string): string {
  return `SHA256:${new X509Certificate(certPem).fingerprint256}`;
}

const FINGERPRINT_RE = /^(?:sha256[:=]\s*)?((?:[0-9a-f]{2}:){31}[0-9a-f]{2})$/i;

/**
 * Normalises a user-given fingerprint: `SHA256:` + 32 colon-separated hex bytes (also accepts
 * openssl's `sha256 Fingerprint=` form), case-insensitive. Returns `SHA256:AA:BB:…`.
 */
export function normalizeFingerprint(input: string): string {
  const trimmed = input.trim().replace(/^sha256 fingerprint=/i, "SHA256:");
  const m = FINGERPRINT_RE.exec(trimmed);
  if (!m?.[1]) {
    throw new CohortError(
      PkiErrorCode.BadFingerprint,
      `bad fingerprint ${JSON.stringify(input)}: expected SHA256: followed by 32 colon-separated hex bytes, as 'openssl x509 -noout -fingerprint -sha256 -in rootCA.pem' prints`,
      { value: input },
    );
  }
  return `SHA256:${m[1].toUpperCase()}`;
}
