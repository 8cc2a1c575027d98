/** Public API of the pki area: keys, X.509 issuance, signatures, fingerprints and chain checks. */
export { KEY_ALGORITHMS, DEFAULT_KEY_ALGORITHM, generateKeyPair, isKeyAlgorithm, publicKeySpkiOf, encryptPrivateKeyPem, decryptPrivateKeyPem } from "./keys.js";
export type { KeyAlgorithm, KeyPairPem } from "./keys.js";
export { createRootCertificate, issueCertificate, loadIssuer } from "./certificates.js";
export type { Issuer, CertificateSubject, ExtendedKeyUsage, IssueCertificateOptions, RootCertificateOptions } from "./certificates.js";
export { readCertificateInfo, UNSTRUCTURED_NAME_OID } from "./certificate-info.js";
export type { CertificateInfo } from "./certificate-info.js";
export { signBytes, verifyBytes } from "./signatures.js";
export { certificateFingerprint, normalizeFingerprint } from "./fingerprint.js";
export { verifyCertificateChain, verifyRootCertificate } from "./verify-chain.js";
export type { VerifyChainOptions } from "./verify-chain.js";
export { writePrivateKeyFile, writeFileAtomic } from "./key-files.js";
export { PkiErrorCode } from "./errors.js";
export { signKitFolder, verifyStartupKit, KIT_SIGNATURE_FILE } from "./kit.js";
export { KitErrorCode } from "./errors.js";
export type { VerifiedKit, VerifyKitOptions, KitType } from "./kit.js";
export {
  signJobFolder,
  verifyJobFolder,
  isJobSignatureFile,
  stripJobSignatures,
  JOB_SIGNATURE_FILE,
  JOB_SUBMITTER_CERT,
  JOB_MANIFEST_FILE,
  JobSignatureErrorCode,
} from "./job-signature.js";
export {
  signJob,
  buildJobManifest,
  signJobManifest,
  writeJobManifest,
  readSignedManifest,
  verifyJobManifest,
  checkFilesMatch,
  scanJobFolder,
  canonicalJson,
  manifestCanonicalBytes,
  JOB_MANIFEST_FORMAT,
} from "./job-manifest.js";
export type { JobManifest, ManifestSignOptions, VerifiedJobManifest } from "./job-manifest.js";
export type { JobSigner } from "./job-signature.js";
