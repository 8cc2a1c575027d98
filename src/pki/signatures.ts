import { constants, createPrivateKey, createPublicKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";

/**
 * Detached signatures as FLARE makes them: RSA keys sign with RSA-PSS (SHA-256, MGF1-SHA-256, max
 * salt), EC keys with ECDSA/SHA-256 (DER). Both are base64-encoded.
 */
export function signBytes(privateKey: string | KeyObject, data: Uint8Array): string {
  // Callers signing many files pass a KeyObject: parsing the PEM each time dominated provisioning.
  const key = typeof privateKey === "string" ? createPrivateKey(privateKey) : privateKey;
  const options = key.asymmetricKeyType === "rsa" ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN } : { key };
  return sign("sha256", data, options).toString("base64");
}

/** Verifies a base64 signature made by {@link signBytes}; `signer` is a certificate PEM or public key. */
export function verifyBytes(signer: string | KeyObject, data: Uint8Array, signatureBase64: string): boolean {
  const key = typeof signer === "string" ? (signer.includes("CERTIFICATE") ? new X509Certificate(signer).publicKey : createPublicKey(signer)) : signer;
  const signature = Buffer.from(signatureBase64, "base64");
  // A base64 string that does not round-trip was altered; Buffer.from would silently drop bad chars.
  if (signature.length === 0 || signature.toString("base64") !== signatureBase64.trim()) return false;
  const options = key.asymmetricKeyType === "rsa" ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO } : { key };
  try {
    return verify("sha256", data, options, signature);
  } catch {
    return false;
  }
}
