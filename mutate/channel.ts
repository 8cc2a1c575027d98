// Mutants of the transport channel: per-message authentication (src/transport/channel.ts) and the
// server's login and session checks (src/transport/server.ts). Each is a bug that would be a hole.
import { mutant, type MutationArea } from "./_engine.js";

const CHANNEL = "src/transport/channel.ts";
const SERVER = "src/transport/server.ts";

const area: MutationArea = {
  title: "transport channel (src/transport/channel.ts; login and session checks of src/transport/server.ts)",
  // server-refusals.test.ts and refusal-catalogue.test.ts run the same server checks through
  // real processes (30 s or more a run); login-admission.test.ts repeats them in-process.
  tests: [
    "test/transport/secure-channel.test.ts",
    "test/transport/placement.test.ts",
    "test/auth/vectors.test.ts",
    "test/transport/login-limits.test.ts",
    "test/transport/link-limits.test.ts",
    "test/transport/login-admission.test.ts",
  ],
  mutants: [
    // Inbound interceptors (SecureChannel.authenticate).
    mutant("channel-sender-unchecked", "a frame claiming another sender on this link is accepted", CHANNEL, "if (h.n !== this.o.peerName) {", "if (false) {"),
    mutant("channel-token-unchecked", "the server runs no token check on incoming frames", CHANNEL, "    this.o.checkToken?.(h.tok);\n", ""),
    mutant("channel-freshness-unchecked", "stale frames (old timestamps) are accepted", CHANNEL, "if (Math.abs(now - h.ts) > skew) {", "if (false) {"),
    mutant(
      "channel-mac-unchecked",
      "frames with a wrong MAC (altered, or another session's key) are accepted",
      CHANNEL,
      "if (!macMatches(expected, h.mac)) {",
      "if (false) {",
    ),
    mutant("channel-replay-unchecked", "a replayed frame is accepted", CHANNEL, "if (replay) throw", "if (false) throw"),
    mutant(
      "channel-chunk-mac-skips-header",
      "a chunk's MAC does not cover its chunk header (offset, stream id) on the receiving side",
      CHANNEL,
      'const macBody = h.k === "chunk" ? [env.body.subarray(0, CHUNK_HEADER_BYTES)] : [env.body];',
      'const macBody = h.k === "chunk" ? [] : [env.body];',
    ),
    mutant(
      "channel-refused-frame-dispatched",
      "a refused frame still reaches its handler",
      CHANNEL,
      "      this.refuse(err, env?.header);\n      return;\n",
      "      this.refuse(err, env?.header);\n",
    ),
    mutant(
      "channel-placed-chunk-unauthenticated",
      "a large chunk is written into a stream before its MAC is checked",
      CHANNEL,
      "    try {\n      this.authenticate(env);\n    } catch {\n      return undefined;\n    }\n",
      "",
    ),
    // Keys.
    mutant(
      "channel-one-key-both-directions",
      "both ends send and receive with the client→server key: a frame can be reflected back to its sender",
      CHANNEL,
      '    const sendKey = o.role === "client" ? o.keys.clientToServer : o.keys.serverToClient;\n    const recvKey = o.role === "client" ? o.keys.serverToClient : o.keys.clientToServer;\n',
      "    const sendKey = o.keys.clientToServer;\n    const recvKey = o.keys.clientToServer;\n",
    ),
    mutant(
      "channel-stream-key-label",
      "the stream key label differs from the documented one (interop, vectors)",
      CHANNEL,
      'update("cohort-stream-v1")',
      'update("cohort-stream-v2")',
    ),
    mutant(
      "channel-stream-key-is-message-key",
      "streams are digested with the message key itself, not a derived key",
      CHANNEL,
      "    this.sendStreamKey = createSecretKey(streamKey(sendKey));\n    this.recvStreamKey = createSecretKey(streamKey(recvKey));",
      "    this.sendStreamKey = createSecretKey(sendKey);\n    this.recvStreamKey = createSecretKey(recvKey);",
    ),
    // Refusal limit.
    mutant(
      "channel-refusal-limit-20-to-2",
      "the documented limit of 20 refusals per link becomes 2",
      CHANNEL,
      "(this.o.maxRefusals ?? MAX_REFUSALS_PER_LINK)",
      "(this.o.maxRefusals ?? 2)",
    ),
    mutant(
      "channel-refusal-limit-removed",
      "a link is never closed however many frames are refused",
      CHANNEL,
      "if (++this.refusals >= (this.o.maxRefusals ?? MAX_REFUSALS_PER_LINK))",
      "if (++this.refusals >= Infinity)",
    ),
    mutant(
      "channel-refusal-limit-off-by-one",
      "the link closes after 21 refusals, not 20",
      CHANNEL,
      "if (++this.refusals >= (this.o.maxRefusals ?? MAX_REFUSALS_PER_LINK))",
      "if (++this.refusals > (this.o.maxRefusals ?? MAX_REFUSALS_PER_LINK))",
    ),
    // Server: login.
    mutant(
      "server-tls-peer-not-passed",
      "the server never gives login the mTLS peer certificate: a link authenticated as one site logs in as another",
      SERVER,
      "this.login.finish(pending, body, conn.peerCertificate, new Date(this.now()))",
      "this.login.finish(pending, body, undefined, new Date(this.now()))",
    ),
    mutant(
      "server-port-type-unchecked",
      "an admin logs in on the sites-only port (or a site on the admin port)",
      SERVER,
      'if (accepts !== "all" && pending.hello.type !== accepts) {',
      "if (false) {",
    ),
    mutant(
      "server-rate-limit-removed",
      "login attempts per address per minute are unlimited",
      SERVER,
      "} else if (!this.limiter.allow(address)) {",
      "} else if (false) {",
    ),
    mutant(
      "server-login-timeout-60x",
      "the 10 s login timeout becomes 10 min: half-open logins hold pool slots",
      SERVER,
      "this.c.loginTimeoutMs ?? 10_000,\n    );",
      "this.c.loginTimeoutMs ?? 600_000);",
    ),
    mutant(
      "server-pending-logins-unbounded",
      "the 64 logins in progress limit is gone",
      SERVER,
      "if (counted && this.pendingLogins > (this.c.maxPendingLogins ?? 64)) {",
      "if (false) {",
    ),
    mutant(
      "server-max-clients-unchecked",
      "max_num_clients is not enforced",
      SERVER,
      'if (identity.type === "client" && sites >= (this.c.maxClients ?? 100)) {',
      "if (false) {",
    ),
    mutant("server-ban-ignored", "a removed (banned) certificate logs in again", SERVER, "if (this.c.isBanned?.(identity)) throw", "if (false) throw"),
    mutant(
      "server-live-session-replaced-unchecked",
      "a second login with a site's key replaces its live session without a liveness check",
      SERVER,
      "if (live === undefined) {",
      "if (true) {",
    ),
    // Server: session tokens.
    mutant(
      "server-missing-token-accepted",
      "a frame without a session token is accepted",
      SERVER,
      'if (!tok) throw new CohortError(AuthErrorCode.TokenInvalid, "message carries no session token", {});',
      "if (!tok) return;",
    ),
    mutant(
      "server-token-expiry-unchecked",
      "an expired session token keeps working",
      SERVER,
      "if (nowS > exp + (this.c.skewMs ?? 60_000) / 1000) throw",
      "if (false) throw",
    ),
    mutant(
      "server-other-session-token-accepted",
      "any token the server signed is accepted on any session (another site's token)",
      SERVER,
      "const claims = verifyToken(tok, this.publicKey, nowS, 1e9);\n",
      "const claims = verifyToken(tok, this.publicKey, nowS, 1e9);\n    if (claims.sid) return;\n",
    ),
    mutant(
      "server-same-name-old-token-accepted",
      "a token of an earlier session of the same site is accepted on the new session",
      SERVER,
      "const claims = verifyToken(tok, this.publicKey, nowS, 1e9);\n",
      "const claims = verifyToken(tok, this.publicKey, nowS, 1e9);\n    if (claims.sub === session.identity.name) return;\n",
    ),
    mutant(
      "server-renewed-tokens-kept",
      "renewal leaves every older token of the session valid",
      SERVER,
      "session.tokens.clear();\n    if (previous) session.tokens.set(previous[0], previous[1]);",
      "",
    ),
    mutant(
      "server-token-lifetime-100x",
      "tokens live 100 times longer than configured",
      SERVER,
      "const exp = iat + (this.c.tokenLifetimeS ?? DEFAULT_TOKEN_LIFETIME_S);",
      "const exp = iat + 100 * (this.c.tokenLifetimeS ?? DEFAULT_TOKEN_LIFETIME_S);",
    ),
    mutant(
      "server-skew-default-100x",
      "the server tolerates 100 min of clock skew on frames instead of 60 s",
      SERVER,
      "skewMs: this.c.skewMs ?? 60_000,",
      "skewMs: this.c.skewMs ?? 6_000_000,",
    ),
    mutant(
      "server-silent-sessions-kept",
      "sessions silent beyond heart_beat_timeout are never removed",
      SERVER,
      "if (now - s.lastSeen <= timeoutMs) continue;",
      "if (now - s.lastSeen >= 0) continue;",
    ),
  ],
};

export default area;
