// Mutants of src/auth/: login and session keys, certificates at login, MACs, replay window, tokens,
// signed admin commands, sealed peer messages. Each is a bug that would be a security hole.
import { mutant, type MutationArea } from "./_engine.js";

const LOGIN = "src/auth/login.ts";
const IDENTITY = "src/auth/peer-identity.ts";
const MAC = "src/auth/mac.ts";
const REPLAY = "src/auth/replay-window.ts";
const TOKEN = "src/auth/token.ts";
const TRANSCRIPT = "src/auth/transcript.ts";
const COMMAND = "src/auth/command-signature.ts";
const ENVELOPE = "src/auth/peer-envelope.ts";

const area: MutationArea = {
  title: "auth (src/auth/: login, peer identity, mac, token, replay window, transcript, command signature, peer envelope)",
  tests: [
    "test/auth/primitives.test.ts",
    "test/auth/peer-identity.test.ts",
    "test/auth/vectors.test.ts",
    "test/auth/login-impostors.test.ts",
    "test/auth/peer-envelope.test.ts",
    "test/runtime/site-security.test.ts",
    "test/transport/secure-channel.test.ts",
    "test/transport/login-limits.test.ts",
  ],
  mutants: [
    // Session keys (login.ts deriveKeys): both ends run the same code, so only vectors catch these.
    mutant(
      "login-hkdf-salt-order",
      "session keys differ from the documented derivation (salt nonce_s ‖ nonce_c): other implementations cannot interoperate, the vectors are wrong",
      LOGIN,
      "Buffer.concat([nonceC, nonceS])",
      "Buffer.concat([nonceS, nonceC])",
    ),
    mutant(
      "login-hkdf-info-unbound",
      "session keys no longer bound to the login transcript (HKDF info empty)",
      LOGIN,
      "Buffer.from(info).subarray(0, 1024)",
      "Buffer.alloc(0)",
    ),
    mutant(
      "login-key-halves-swapped",
      "client→server and server→client keys swapped against the documented derivation",
      LOGIN,
      "{ clientToServer: okm.subarray(0, 32), serverToClient: okm.subarray(32, 64) }",
      "{ clientToServer: okm.subarray(32, 64), serverToClient: okm.subarray(0, 32) }",
    ),
    mutant(
      "login-one-key-both-directions",
      "the same key both ways: a frame can be reflected back to its sender",
      LOGIN,
      "serverToClient: okm.subarray(32, 64)",
      "serverToClient: okm.subarray(0, 32)",
    ),
    // Login transcripts and checks.
    mutant(
      "login-server-sig-omits-eph",
      "the server's signature does not cover its ephemeral key: a man in the middle substitutes its own",
      LOGIN,
      "[h.project, h.name, h.type, h.nonce, h.eph, c.name, c.nonce, c.eph]);",
      "[h.project, h.name, h.type, h.nonce, h.eph, c.name, c.nonce]);",
    ),
    mutant(
      "login-client-sig-omits-server-sig",
      "the client's signature does not cover the server's signature (transcript not chained)",
      LOGIN,
      "c.name, c.nonce, c.eph, c.sig]",
      "c.name, c.nonce, c.eph]",
    ),
    mutant(
      "login-client-skips-server-signature",
      "the client does not check the server's login signature: anyone holding the server certificate (public) impersonates it",
      LOGIN,
      "if (!verifyBytes(new X509Certificate(c.cert).publicKey, serverTranscript(hello, c), c.sig)) {",
      "if (false) {",
    ),
    mutant(
      "login-server-skips-project",
      "a site of another project with the same root is let in",
      LOGIN,
      "if (hello.project !== this.creds.project) {",
      "if (false) {",
    ),
    mutant(
      "login-server-skips-client-signature",
      "the server does not check the client's login signature: a copied certificate without its key logs in",
      LOGIN,
      "if (!verifyBytes(new X509Certificate(parsed.data.cert).publicKey, tc, parsed.data.sig)) {",
      "if (false) {",
    ),
    mutant("login-tls-peer-unchecked", "on mTLS the TLS client certificate need not be the login identity", LOGIN, "if (tlsPeer) {", "if (false) {"),
    mutant(
      "login-tls-peer-issuer-unchecked",
      "on mTLS a TLS client certificate from another CA with the right CN passes",
      LOGIN,
      "if (cn !== hello.name || !tlsPeer.checkIssued(new X509Certificate(this.creds.rootPem))) {",
      "if (cn !== hello.name) {",
    ),
    // Certificates at login (peer-identity.ts).
    mutant(
      "identity-cn-unchecked",
      "a site logs in under another site's name with its own certificate",
      IDENTITY,
      "if (info.commonName !== claimed.name) {",
      "if (false) {",
    ),
    mutant(
      "identity-client-eku-unchecked",
      "a server certificate (no clientAuth) logs in as a client",
      IDENTITY,
      "if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH_OID)) {",
      "if (false) {",
    ),
    mutant(
      "identity-type-unchecked",
      "an admin certificate logs in as a site (or a site as an admin)",
      IDENTITY,
      "if (certType !== claimed.type) {",
      "if (false) {",
    ),
    mutant("identity-server-cn-unchecked", "the client accepts a server certificate with another CN", IDENTITY, "if (cn !== expectedName) {", "if (false) {"),
    mutant(
      "identity-server-eku-unchecked",
      "the client accepts a site's certificate (no serverAuth) as the server's",
      IDENTITY,
      "if (eku && eku.length > 0 && !eku.includes(SERVER_AUTH_OID)) {",
      "if (false) {",
    ),
    // Message MACs, transcripts, replay window.
    mutant(
      "mac-compare-length-only",
      "any MAC of the right length is accepted",
      MAC,
      "return expected.byteLength === actual.byteLength && timingSafeEqual(expected, actual);",
      "return expected.byteLength === actual.byteLength;",
    ),
    mutant(
      "mac-omits-seq",
      "the sequence number is not authenticated: replay protection can be bypassed by renumbering",
      MAC,
      "  o = put(o, String(f.seq));\n",
      "",
    ),
    mutant(
      "mac-label-changed",
      "the MAC label differs from the documented one (interop, vectors)",
      MAC,
      'const LABEL = "cohort-msg-v1";',
      'const LABEL = "cohort-msg-v2";',
    ),
    mutant(
      "transcript-no-length-prefix",
      'transcript fields can run into each other ("ab","c" = "a","bc")',
      TRANSCRIPT,
      "parts.push(len, bytes);",
      "parts.push(bytes);",
    ),
    mutant(
      "replay-reordered-not-recorded",
      "a reordered message (below the highest) can be replayed",
      REPLAY,
      "    this.seen[seq % this.size] = 1;\n    return undefined;\n  }\n}",
      "    return undefined;\n  }\n}",
    ),
    // Tokens.
    mutant(
      "token-signature-unchecked",
      "forged session tokens are accepted",
      TOKEN,
      'if (!verifyBytes(key, Buffer.from(body, "ascii"), sig)) {',
      "if (false) {",
    ),
    mutant("token-expiry-unchecked", "expired session tokens are accepted", TOKEN, "if (nowS > claims.exp + skewS) {", "if (false) {"),
    mutant(
      "token-future-iat-accepted",
      "a token issued in the future (clock tampering) is accepted",
      TOKEN,
      "if (claims.iat > nowS + skewS) {",
      "if (false) {",
    ),
    mutant(
      "token-non-canonical-accepted",
      "altered (non-canonical base64url) tokens are accepted",
      TOKEN,
      'if (sigBytes.toString("base64url") !== token.slice(dot + 1) || Buffer.from(body, "base64url").toString("base64url") !== body) {',
      "if (false) {",
    ),
    // Signed admin commands.
    mutant(
      "command-args-unsigned",
      "a command's arguments can be altered by the server on the way",
      COMMAND,
      "c.cmd, JSON.stringify(c.args), c.nonce",
      'c.cmd, "", c.nonce',
    ),
    mutant(
      "command-signer-not-user",
      "a command signed by one admin runs as another admin",
      COMMAND,
      "if (info.commonName !== c.user) throw",
      "if (false) throw",
    ),
    mutant("command-role-not-required", "a command signed with a site's key (no admin role) is accepted", COMMAND, "if (!info.role) throw", "if (false) throw"),
    mutant(
      "command-time-unchecked",
      "an old signed command is accepted after its nonce was forgotten",
      COMMAND,
      "if (Math.abs(now - c.time) > o.skewMs) throw",
      "if (false) throw",
    ),
    mutant("command-nonce-unchecked", "a signed command can be replayed", COMMAND, "if (!o.nonces.remember(c.nonce, now)) throw", "if (false) throw"),
    mutant(
      "command-nonces-forgotten-at-once",
      "the nonce cache forgets at once: a replay a moment later runs again",
      COMMAND,
      "for (const [n, t] of this.seen) if (now - t > 2 * this.windowMs) this.seen.delete(n);",
      "for (const [n, t] of this.seen) if (now - t > 0) this.seen.delete(n);",
    ),
    mutant(
      "command-target-unchecked",
      "a command the admin addressed to one site is run by another (server redirect)",
      COMMAND,
      "if (target === undefined || target === site || EVERY_SITE.has(target)) return;",
      "return;",
    ),
    // Sealed peer messages.
    mutant("envelope-recipient-unchecked", "a peer message sealed for another site is accepted", ENVELOPE, "if (header.to !== o.me) throw", "if (false) throw"),
    mutant(
      "envelope-sender-unchecked",
      "the relay can name another sender than the one that sealed",
      ENVELOPE,
      "if (header.from !== o.from) throw",
      "if (false) throw",
    ),
    mutant(
      "envelope-signature-unchecked",
      "a peer message sealed by anyone (the server) is accepted",
      ENVELOPE,
      "if (!verifyBytes(o.senderCertPem, signedBytes(e.h, e.alg, e.k, e.iv, e.tag, e.ct), e.sig)) {",
      "if (false) {",
    ),
    mutant(
      "envelope-replay-unchecked",
      "a peer message can be replayed",
      ENVELOPE,
      "if (!o.nonces.remember(`${header.from}:${header.id}`, now)) throw",
      "if (false) throw",
    ),
    mutant(
      "envelope-hkdf-salt-info-swapped",
      "the ECIES key derivation differs from the documented one (salt = id, info = label + header)",
      ENVELOPE,
      'hkdfSync("sha256", secret, Buffer.from(id, "hex"), transcript(LABEL, [header]), 32)',
      'hkdfSync("sha256", secret, transcript(LABEL, [header]), Buffer.from(id, "hex"), 32)',
    ),
  ],
};

export default area;
