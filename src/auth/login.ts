import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { signBytes, verifyBytes } from "../pki/index.js";
import { AuthErrorCode } from "./errors.js";
import { transcript } from "./transcript.js";
import { verifyPeerCertificate, verifyServerCertificate, type PeerIdentity, type PeerType } from "./peer-identity.js";
import { bytesSchema } from "../wire/index.js";

/**
 * Login: FLARE's challenge-response (digest §3.1) with an ephemeral X25519 exchange signed by both
 * kit keys, so both sides also derive per-direction session keys that never travel:
 *
 *   client → hello     {name, type, project, nonce_c, eph_c}
 *   server → challenge {name, cert, nonce_s, eph_s, sig_s = Sign_server(T_s)}
 *   client → login     {cert, sig_c = Sign_client(T_c)}
 *   keys = HKDF-SHA256(X25519(eph), salt = nonce_c ‖ nonce_s, info = T_c, 64 bytes)
 *
 * T_s and T_c are the transcripts of every field (docs/protocol.md §2). The client checks the
 * server's certificate chains to its root and carries the expected CN; the server checks the
 * client's chain, CN = claimed name, certificate kind = claimed type, and on mTLS links that the TLS
 * peer certificate is the same identity.
 */

const NONCE_BYTES = 32;
const X25519_SPKI_BYTES = 44;
const bytes = (n: number) => bytesSchema(n);
const pem = z
  .string()
  .min(1)
  .max(16 * 1024);

export const helloSchema = z.strictObject({
  v: z.literal(1),
  name: z.string().min(1).max(255),
  type: z.enum(["client", "admin"]),
  project: z.string().max(255),
  nonce: bytes(NONCE_BYTES),
  eph: bytes(X25519_SPKI_BYTES),
});
export const challengeSchema = z.strictObject({
  name: z.string().min(1).max(255),
  cert: pem,
  nonce: bytes(NONCE_BYTES),
  eph: bytes(X25519_SPKI_BYTES),
  sig: z.string().min(1).max(2048),
});
export const loginSchema = z.strictObject({
  cert: pem,
  sig: z.string().min(1).max(2048),
});
export type HelloMessage = z.infer<typeof helloSchema>;
export type ChallengeMessage = z.infer<typeof challengeSchema>;
export type LoginMessage = z.infer<typeof loginSchema>;

export interface SessionKeys {
  readonly clientToServer: Buffer;
  readonly serverToClient: Buffer;
}

function ephemeral(): { priv: KeyObject; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { priv: privateKey, spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })) };
}

function deriveKeys(priv: KeyObject, peerSpki: Uint8Array, nonceC: Uint8Array, nonceS: Uint8Array, info: Buffer): SessionKeys {
  let peer: KeyObject;
  try {
    peer = createPublicKey({ key: Buffer.from(peerSpki), format: "der", type: "spki" });
  } catch {
    throw new CohortError(AuthErrorCode.Malformed, "the peer's ephemeral key is not a valid X25519 public key", {});
  }
  if (peer.asymmetricKeyType !== "x25519") throw new CohortError(AuthErrorCode.Malformed, "the peer's ephemeral key is not X25519", {});
  return sessionKeysFromSecret(diffieHellman({ privateKey: priv, publicKey: peer }), nonceC, nonceS, info);
}

/**
 * The session keys from the X25519 shared secret (docs/protocol.md §2.3): HKDF-SHA256 with salt
 * nonce_c ‖ nonce_s and info T_c[0:1024]; the first 32 bytes are client → server, the next server → client.
 */
export function sessionKeysFromSecret(shared: Uint8Array, nonceC: Uint8Array, nonceS: Uint8Array, info: Uint8Array): SessionKeys {
  const okm = Buffer.from(hkdfSync("sha256", shared, Buffer.concat([nonceC, nonceS]), Buffer.from(info).subarray(0, 1024), 64));
  return { clientToServer: okm.subarray(0, 32), serverToClient: okm.subarray(32, 64) };
}

function serverTranscript(h: HelloMessage, c: Omit<ChallengeMessage, "sig" | "cert">): Buffer {
  return transcript("cohort-login-v1/server", [h.project, h.name, h.type, h.nonce, h.eph, c.name, c.nonce, c.eph]);
}

function clientTranscript(h: HelloMessage, c: ChallengeMessage): Buffer {
  return transcript("cohort-login-v1/client", [h.project, h.name, h.type, h.nonce, h.eph, c.name, c.nonce, c.eph, c.sig]);
}

export interface ClientCredentials {
  readonly name: string;
  readonly type: PeerType;
  readonly project: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** The project root (kit rootCA.pem): the server's certificate must chain to it. */
  readonly rootPem: string;
  /** The server's CN (fed_client.json servers[0].identity / fed_admin.json server_identity). */
  readonly serverName: string;
}

/** The client side of one login attempt. */
export class ClientLogin {
  private readonly eph = ephemeral();
  private readonly nonce = randomBytes(NONCE_BYTES);
  private helloSent: HelloMessage | undefined;
  private readonly key: KeyObject;

  constructor(private readonly creds: ClientCredentials) {
    this.key = createPrivateKey(creds.keyPem);
  }

  hello(): HelloMessage {
    this.helloSent = { v: 1, name: this.creds.name, type: this.creds.type, project: this.creds.project, nonce: new Uint8Array(this.nonce), eph: this.eph.spki };
    return this.helloSent;
  }

  /** Verifies the server's challenge and returns the login message and the session keys. */
  answer(raw: unknown, at = new Date()): { login: LoginMessage; keys: SessionKeys } {
    const hello = this.helloSent;
    if (!hello) throw new Error("hello() first");
    const parsed = challengeSchema.safeParse(raw);
    if (!parsed.success)
      throw new CohortError(AuthErrorCode.Malformed, `the server's login challenge is malformed: ${parsed.error.issues[0]?.message ?? ""}`, {});
    const c = parsed.data;
    if (c.name !== this.creds.serverName) {
      throw new CohortError(
        AuthErrorCode.ServerIdentity,
        `the server calls itself ${JSON.stringify(c.name)}, expected ${JSON.stringify(this.creds.serverName)}`,
        { name: c.name },
      );
    }
    verifyServerCertificate(c.cert, this.creds.rootPem, this.creds.serverName, at);
    if (!verifyBytes(new X509Certificate(c.cert).publicKey, serverTranscript(hello, c), c.sig)) {
      throw new CohortError(
        AuthErrorCode.BadSignature,
        "the server's login signature does not verify: not the holder of the server key (man in the middle?)",
        {},
      );
    }
    const tc = clientTranscript(hello, c);
    return {
      login: { cert: this.creds.certPem, sig: signBytes(this.key, tc) },
      keys: deriveKeys(this.eph.priv, c.eph, hello.nonce, c.nonce, tc),
    };
  }
}

export interface ServerCredentials {
  readonly name: string;
  readonly project: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly rootPem: string;
}

export interface PendingLogin {
  readonly hello: HelloMessage;
  readonly challenge: ChallengeMessage;
  readonly eph: KeyObject;
}

/** The server side of the login protocol (stateless; the caller keeps one PendingLogin per link). */
export class ServerLogin {
  private readonly key: KeyObject;

  constructor(private readonly creds: ServerCredentials) {
    this.key = createPrivateKey(creds.keyPem);
  }

  challenge(raw: unknown): PendingLogin {
    const parsed = helloSchema.safeParse(raw);
    if (!parsed.success)
      throw new CohortError(
        AuthErrorCode.Malformed,
        `login hello is malformed: ${parsed.error.issues[0]?.message ?? ""} at ${parsed.error.issues[0]?.path.join(".") ?? ""}`,
        {},
      );
    const hello = parsed.data;
    if (hello.project !== this.creds.project) {
      throw new CohortError(
        AuthErrorCode.ProjectMismatch,
        `${hello.name} belongs to project ${JSON.stringify(hello.project)}, this server to ${JSON.stringify(this.creds.project)}`,
        { name: hello.name, project: hello.project },
      );
    }
    const eph = ephemeral();
    const unsigned = { name: this.creds.name, nonce: new Uint8Array(randomBytes(NONCE_BYTES)), eph: eph.spki };
    const challenge: ChallengeMessage = { ...unsigned, cert: this.creds.certPem, sig: signBytes(this.key, serverTranscript(hello, unsigned)) };
    return { hello, challenge, eph: eph.priv };
  }

  /**
   * Verifies the client's login; `tlsPeer` is the link's verified client certificate on mTLS
   * (its CN must be the claimed name). Returns the identity and the session keys.
   */
  finish(pending: PendingLogin, raw: unknown, tlsPeer: X509Certificate | undefined, at = new Date()): { identity: PeerIdentity; keys: SessionKeys } {
    const parsed = loginSchema.safeParse(raw);
    if (!parsed.success) throw new CohortError(AuthErrorCode.Malformed, "login message is malformed", {});
    const { hello, challenge } = pending;
    const identity = verifyPeerCertificate(parsed.data.cert, this.creds.rootPem, { name: hello.name, type: hello.type }, at);
    const tc = clientTranscript(hello, challenge);
    if (!verifyBytes(new X509Certificate(parsed.data.cert).publicKey, tc, parsed.data.sig)) {
      throw new CohortError(AuthErrorCode.BadSignature, `${hello.name}'s login signature does not verify: not the holder of its kit key`, { name: hello.name });
    }
    if (tlsPeer) {
      const cn = /(?:^|\n)CN=([^\n]*)/.exec(tlsPeer.subject)?.[1];
      if (cn !== hello.name || !tlsPeer.checkIssued(new X509Certificate(this.creds.rootPem))) {
        throw new CohortError(
          AuthErrorCode.TlsPeerMismatch,
          `the TLS client certificate (CN ${JSON.stringify(cn)}) is not ${hello.name}'s: one identity per connection`,
          { cn, claimed: hello.name },
        );
      }
    }
    return { identity, keys: deriveKeys(pending.eph, hello.eph, hello.nonce, challenge.nonce, tc) };
  }
}
