/**
 * End-to-end sealed messages between two sites of a job, relayed by the server (swarm learning).
 * The server carries the bytes but holds no key that opens them, and cannot forge or replay one.
 *
 * Sealing (sender, with its kit key and the recipient's kit certificate):
 * - EC recipient: an ephemeral key on the recipient's curve, ECDH with the certificate's public key,
 *   HKDF-SHA256 (salt = message id, info = label + header) → AES-256-GCM key (ECIES).
 *   RSA recipient: a random AES-256 key wrapped with RSA-OAEP-SHA256.
 * - AES-256-GCM over the payload, the header as additional data.
 * - The sender signs (its kit key: ECDSA or RSA-PSS) the header, key material, IV, tag and the
 *   ciphertext's SHA-256, so the recipient knows which site sealed it and that nothing changed.
 * Opening checks, in order: structure, header fields (job, recipient, claimed sender), time within
 * the skew, the sender's signature against its certificate, the message id never seen before, then
 * decrypts. Every failure is a CohortError with a code from AuthErrorCode.
 *
 * Only node:crypto primitives are used (ECDH, HKDF, AES-GCM, RSA-OAEP, ECDSA/RSA-PSS).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  constants,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { signBytes, verifyBytes } from "../pki/index.js";
import { decode, encode, bytesSchema } from "../wire/index.js";
import { AuthErrorCode } from "./errors.js";
import type { NonceCache } from "./command-signature.js";
import { transcript } from "./transcript.js";

const LABEL = "cohort peer message v1";
const bytes = bytesSchema();

/** Who sent what to whom, in which job: authenticated (signed, and the AES-GCM additional data). */
export interface PeerMessageHeader {
  readonly job: string;
  readonly from: string;
  readonly to: string;
  readonly topic: string;
  /** 16 random bytes, hex: the replay check's key and the HKDF salt. */
  readonly id: string;
  /** Milliseconds since the epoch at sealing. */
  readonly ts: number;
}

const headerSchema = z.object({
  job: z.string().max(200),
  from: z.string().max(200),
  to: z.string().max(200),
  topic: z.string().max(200),
  id: z.string().regex(/^[0-9a-f]{32}$/),
  ts: z.number().int(),
});
const envelopeSchema = z.object({
  v: z.literal(1),
  h: bytes,
  alg: z.enum(["ecdh-hkdf-sha256", "rsa-oaep-sha256"]),
  /** The ephemeral public key (SPKI DER) or the RSA-wrapped AES key. */
  k: bytes,
  iv: bytes.refine((b) => b.byteLength === 12, "must be 12 bytes"),
  tag: bytes.refine((b) => b.byteLength === 16, "must be 16 bytes"),
  ct: bytes,
  sig: z.string().max(2048),
});

type Alg = z.infer<typeof envelopeSchema>["alg"];

const refuse = (code: string, message: string, details: Record<string, unknown> = {}): CohortError =>
  new CohortError(code, `peer message refused: ${message}`, details);

function aesKeyFromSecret(secret: Uint8Array, id: string, header: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.from(id, "hex"), transcript(LABEL, [header]), 32));
}

function signedBytes(header: Uint8Array, alg: Alg, k: Uint8Array, iv: Uint8Array, tag: Uint8Array, ct: Uint8Array): Buffer {
  return transcript(LABEL, [header, alg, k, iv, tag, createHash("sha256").update(ct).digest()]);
}

/** Seals `payload` for `recipientCertPem`'s holder; signed with the sender's kit key. */
export function sealPeerMessage(o: {
  job: string;
  from: string;
  to: string;
  topic: string;
  payload: Uint8Array;
  senderKey: string | KeyObject;
  recipientCertPem: string;
  now?: number;
}): Uint8Array {
  const header: PeerMessageHeader = { job: o.job, from: o.from, to: o.to, topic: o.topic, id: randomBytes(16).toString("hex"), ts: o.now ?? Date.now() };
  const h = encode(header);
  const recipient = new X509Certificate(o.recipientCertPem).publicKey;
  let alg: Alg;
  let k: Uint8Array;
  let aesKey: Buffer;
  if (recipient.asymmetricKeyType === "ec") {
    const namedCurve = recipient.asymmetricKeyDetails?.namedCurve;
    if (!namedCurve) throw new CohortError(AuthErrorCode.Malformed, `${o.to}'s certificate has an EC key without a named curve`, { to: o.to });
    const eph = generateKeyPairSync("ec", { namedCurve });
    alg = "ecdh-hkdf-sha256";
    k = eph.publicKey.export({ type: "spki", format: "der" });
    aesKey = aesKeyFromSecret(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), header.id, h);
  } else if (recipient.asymmetricKeyType === "rsa") {
    alg = "rsa-oaep-sha256";
    aesKey = randomBytes(32);
    k = publicEncrypt({ key: recipient, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, aesKey);
  } else {
    throw new CohortError(
      AuthErrorCode.Malformed,
      `${o.to}'s certificate has a ${String(recipient.asymmetricKeyType)} key; peer messages need an EC or RSA kit key`,
      { to: o.to },
    );
  }
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", aesKey, iv);
  cipher.setAAD(h);
  const ct = Buffer.concat([cipher.update(o.payload), cipher.final()]);
  const tag = cipher.getAuthTag();
  aesKey.fill(0);
  const sig = signBytes(o.senderKey, signedBytes(h, alg, k, iv, tag, ct));
  return encode({ v: 1, h, alg, k, iv, tag, ct, sig });
}

/** Reads the header without checking anything (for routing and audit lines only). */
export function peekPeerMessageHeader(envelope: Uint8Array): PeerMessageHeader {
  try {
    const e = envelopeSchema.parse(decode(envelope));
    return headerSchema.parse(decode(e.h));
  } catch {
    throw refuse(AuthErrorCode.Malformed, "not a sealed peer message");
  }
}

/**
 * Opens a sealed message at its recipient. `from` is the sender the relay names; `senderCertPem`
 * that site's certificate (already checked against the root by the caller).
 */
export function openPeerMessage(
  envelope: Uint8Array,
  o: { job: string; me: string; from: string; senderCertPem: string; recipientKey: string | KeyObject; nonces: NonceCache; skewMs: number; now?: number },
): { header: PeerMessageHeader; payload: Buffer } {
  let e: z.infer<typeof envelopeSchema>;
  let header: PeerMessageHeader;
  try {
    e = envelopeSchema.parse(decode(envelope));
    header = headerSchema.parse(decode(e.h));
  } catch {
    throw refuse(AuthErrorCode.Malformed, `the message relayed from ${o.from} is not a sealed peer message`, { from: o.from });
  }
  if (header.job !== o.job) throw refuse(AuthErrorCode.Malformed, `sealed for job ${header.job}, relayed for job ${o.job}`, { from: o.from });
  if (header.to !== o.me) throw refuse(AuthErrorCode.Malformed, `sealed for ${header.to}, not for ${o.me}`, { from: o.from, to: header.to });
  if (header.from !== o.from)
    throw refuse(AuthErrorCode.NameMismatch, `sealed by ${header.from} but relayed as coming from ${o.from}`, { from: o.from, claimed: header.from });
  const now = o.now ?? Date.now();
  if (Math.abs(now - header.ts) > o.skewMs)
    throw refuse(AuthErrorCode.Stale, `sealed at ${new Date(header.ts).toISOString()}, outside ±${o.skewMs / 1000} s of this site's clock`, { from: o.from });
  if (!verifyBytes(o.senderCertPem, signedBytes(e.h, e.alg, e.k, e.iv, e.tag, e.ct), e.sig)) {
    throw refuse(AuthErrorCode.BadSignature, `the signature is not ${o.from}'s (altered on the way, or not sealed by ${o.from})`, { from: o.from });
  }
  // After the signature: an attacker cannot fill the cache with ids of messages it made up.
  if (!o.nonces.remember(`${header.from}:${header.id}`, now))
    throw refuse(AuthErrorCode.Replay, `message ${header.id} from ${o.from} was already received (replay)`, { from: o.from });
  const key = typeof o.recipientKey === "string" ? createPrivateKey(o.recipientKey) : o.recipientKey;
  let aesKey: Buffer;
  try {
    if (e.alg === "ecdh-hkdf-sha256") {
      aesKey = aesKeyFromSecret(
        diffieHellman({ privateKey: key, publicKey: createPublicKey({ key: Buffer.from(e.k), format: "der", type: "spki" }) }),
        header.id,
        e.h,
      );
    } else {
      aesKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, e.k);
    }
    const decipher = createDecipheriv("aes-256-gcm", aesKey, e.iv);
    decipher.setAAD(e.h);
    decipher.setAuthTag(e.tag);
    const payload = Buffer.concat([decipher.update(e.ct), decipher.final()]);
    aesKey.fill(0);
    return { header, payload };
  } catch {
    throw refuse(AuthErrorCode.BadMac, `the message from ${o.from} does not decrypt with ${o.me}'s key`, { from: o.from });
  }
}
