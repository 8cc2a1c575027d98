import { generateKeyPair as generateKeyPairCb, createPrivateKey, createPublicKey, webcrypto, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { CohortError } from "../errors/index.js";
import { PkiErrorCode } from "./errors.js";

const generateKeyPairAsync = promisify(generateKeyPairCb);

/** Key algorithms Cohort issues. ECDSA P-256 is the default: strong and ~1000× faster to generate than RSA. */
export const KEY_ALGORITHMS = ["ec-p256", "rsa-2048", "rsa-3072"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = "ec-p256";

export interface KeyPairPem {
  readonly algorithm: KeyAlgorithm;
  /** PKCS#8 PEM, unencrypted. Never log it. */
  readonly privateKeyPem: string;
  /** SubjectPublicKeyInfo DER. */
  readonly publicKeySpki: Uint8Array;
}

export function isKeyAlgorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === "string" && (KEY_ALGORITHMS as readonly string[]).includes(value);
}

/**
 * Generates a key pair on libuv's thread pool (async), so many RSA keys generated at once use
 * every core.
 */
export async function generateKeyPair(algorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM): Promise<KeyPairPem> {
  const pair =
    algorithm === "ec-p256"
      ? await generateKeyPairAsync("ec", { namedCurve: "prime256v1" })
      : await generateKeyPairAsync("rsa", { modulusLength: algorithm === "rsa-2048" ? 2048 : 3072, publicExponent: 0x10001 });
  return {
    algorithm,
    privateKeyPem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeySpki: new Uint8Array(pair.publicKey.export({ type: "spki", format: "der" })),
  };
}

/** Detects which of our algorithms a key uses (for keys read back from disk). */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec" && details.namedCurve === "prime256v1") return "ec-p256";
  if (key.asymmetricKeyType === "rsa" && details.modulusLength === 2048) return "rsa-2048";
  if (key.asymmetricKeyType === "rsa" && details.modulusLength === 3072) return "rsa-3072";
  throw new CohortError(
    PkiErrorCode.UnsupportedKeyAlgorithm,
    `unsupported key type ${key.asymmetricKeyType} ${JSON.stringify(details)}; use one of ${KEY_ALGORITHMS.join(", ")}`,
    {
      keyType: key.asymmetricKeyType,
    },
  );
}

/** The WebCrypto signing algorithm for certificates issued by a key of this algorithm. */
export function certificateSigningAlgorithm(algorithm: KeyAlgorithm): webcrypto.RsaHashedImportParams | (webcrypto.EcKeyImportParams & webcrypto.EcdsaParams) {
  return algorithm === "ec-p256" ? { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
}

/** Imports a PKCS#8 PEM private key as a WebCrypto signing key (for @peculiar/x509). */
export async function importSigningKey(privateKeyPem: string): Promise<{ key: webcrypto.CryptoKey; algorithm: KeyAlgorithm }> {
  const keyObject = createPrivateKey(privateKeyPem);
  const algorithm = keyAlgorithmOf(keyObject);
  const der = keyObject.export({ type: "pkcs8", format: "der" });
  const key = await webcrypto.subtle.importKey("pkcs8", der, certificateSigningAlgorithm(algorithm), false, ["sign"]);
  return { key, algorithm };
}

/** SPKI DER of the public half of a private key PEM. */
export function publicKeySpkiOf(privateKeyPem: string): Uint8Array {
  return new Uint8Array(createPublicKey(privateKeyPem).export({ type: "spki", format: "der" }));
}

/** Encrypts a private key PEM with a passphrase (PKCS#8 PBES2: PBKDF2 + AES-256-CBC, by OpenSSL). */
export function encryptPrivateKeyPem(privateKeyPem: string, passphrase: string): string {
  return createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }).toString();
}

/** Reads a private key PEM that may be encrypted; returns it unencrypted (in memory only). */
export function decryptPrivateKeyPem(pem: string, passphrase: string | undefined, source: string): string {
  const encrypted = pem.includes("ENCRYPTED PRIVATE KEY");
  if (encrypted && !passphrase) {
    throw new CohortError(PkiErrorCode.KeyPassphraseRequired, `${source} is encrypted: set COHORT_CA_PASSPHRASE to the passphrase used when it was created`, {
      file: source,
    });
  }
  try {
    return createPrivateKey(encrypted ? { key: pem, passphrase: passphrase ?? "" } : pem)
      .export({ type: "pkcs8", format: "pem" })
      .toString();
  } catch (cause) {
    throw new CohortError(
      PkiErrorCode.KeyPassphraseWrong,
      `${source} could not be decrypted: COHORT_CA_PASSPHRASE is wrong, or the file is damaged`,
      { file: source },
      { cause },
    );
  }
}
