/**
 * The login limits of docs/security.md ("Link limits") and docs/protocol.md §2.3, each pinned at the
 * limit and one past it with the server's defaults, the number read from the docs and from the
 * settings deployed servers use (DEFAULT_SERVER_SETTINGS):
 * - 64 logins in progress: the 64th connection still logs in, the 65th is refused;
 * - the 10 s login timeout: a login still open at 10 s − 1 ms, refused at 10 s (mocked clock);
 * - listeners take TLS ≥ 1.2 (`MIN_TLS_VERSION`): TLS 1.2 handshakes, TLS 1.1 does not;
 * - tokens: a renewed token works and outlives the first, which works until its expiry; older ones are dropped;
 * - one session per site: a second login with the name of a live site is refused and audited, the
 *   live session keeps working; admins may hold several sessions.
 */
import { after, before, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:tls";
import { decode, encode } from "../../src/wire/index.js";
import { createMemoryDriver } from "../../src/transport/memory-driver.js";
import { TOPIC_RENEW } from "../../src/transport/server.js";
import { tcpDriver } from "../../src/transport/drivers/tcp.js";
import { MIN_TLS_VERSION } from "../../src/transport/drivers/tls-options.js";
import { DEFAULT_SERVER_SETTINGS } from "../../src/config/index.js";
import { provisionTestProject, RawSession, startTestServer, testClient, type TestProject } from "../helpers/secure-session.js";
import { documentedNumber } from "../helpers/doc-limits.js";

let p: TestProject;
before(async () => {
  p = await provisionTestProject();
});

const settle = async (until: () => boolean, rounds = 2000): Promise<void> => {
  for (let i = 0; i < rounds && !until(); i++) await new Promise((r) => setImmediate(r));
};

describe("login limits at and past the limit", () => {
  const MAX_PENDING = documentedNumber("docs/security.md", /\| login \| \d+ s, (\d+) in progress/);
  const LOGIN_TIMEOUT_MS = documentedNumber("docs/security.md", /\| login \| (\d+) (s), \d+ in progress/);

  test("the documented numbers are the ones deployed servers use", () => {
    assert.equal(DEFAULT_SERVER_SETTINGS.max_pending_logins, MAX_PENDING);
    assert.equal(MAX_PENDING, documentedNumber("docs/protocol.md", /at most (\d+) logins may be in progress/));
    assert.equal(MAX_PENDING, documentedNumber("docs/runtime.md", /`servers\[0\]\.max_pending_logins` \| (\d+) \|/));
    assert.equal(LOGIN_TIMEOUT_MS, documentedNumber("docs/protocol.md", /A login must complete within (\d+) (s)/));
  });

  test("logins in progress: the last one within the limit still logs in; the next is refused (ERR_TRANSPORT_TOO_MANY_LOGINS)", {
    timeout: 60_000,
  }, async () => {
    const d = createMemoryDriver();
    // The server's own default (no maxPendingLogins given); only the per-minute attempts are raised.
    const t = await startTestServer(p, d, "clear", { loginAttemptsPerMinute: 10_000 });
    const held: RawSession[] = [];
    try {
      for (let i = 0; i < MAX_PENDING; i++) held.push(await RawSession.open(d, t.port, p.kit("site-1")));
      await settle(() => false, 50);
      assert.equal(held.filter((r) => r.closed).length, 0, `${MAX_PENDING} logins in progress are all kept`);
      const over = await RawSession.open(d, t.port, p.kit("site-2"));
      const refused = await over.next(10_000);
      assert.equal(refused.header.k, "refused");
      assert.equal(refused.header.code, "ERR_TRANSPORT_TOO_MANY_LOGINS", refused.header.msg);
      assert.ok(t.auditLines().some((l) => l["code"] === "ERR_TRANSPORT_TOO_MANY_LOGINS"));
      // The one at the limit completes its login.
      const last = held.at(-1);
      assert.ok(last && !last.closed);
      await last.login();
      assert.ok(last.token, "the last login within the limit completes");
    } finally {
      for (const r of held) r.conn.close();
      await t.server.stop();
    }
  });

  test("login timeout: a login still open just before the limit, refused at it (ERR_TRANSPORT_LOGIN_TIMEOUT)", { timeout: 60_000 }, async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear");
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const r = await RawSession.open(d, t.port, p.kit("site-1"));
      await settle(() => false, 50);
      mock.timers.tick(LOGIN_TIMEOUT_MS - 1);
      await settle(() => r.closed, 50);
      assert.equal(r.closed, false, "open at the limit less 1 ms");
      assert.equal(r.received.length, 0);
      mock.timers.tick(1);
      await settle(() => r.closed);
      assert.ok(r.closed, "closed at the limit");
      assert.equal(r.received[0]?.header.code, "ERR_TRANSPORT_LOGIN_TIMEOUT");
    } finally {
      mock.timers.reset();
      await t.server.stop();
    }
    assert.ok(t.auditLines().some((l) => l["code"] === "ERR_TRANSPORT_LOGIN_TIMEOUT"));
  });
});

describe("attempts per address and the liveness check, with the server's defaults", () => {
  const ATTEMPTS = documentedNumber("docs/security.md", /\| login \| \d+ s, \d+ in progress, (\d+) attempts per address per minute/);
  const LIVENESS_MS = documentedNumber(
    "docs/security.md",
    /\| sessions per site \| 1 \| at login: the live session gets an authenticated ping, (\d+) (s) \(`livenessCheckMs`\)/,
  );

  test("the documented numbers are the ones deployed servers use", () => {
    assert.equal(DEFAULT_SERVER_SETTINGS.login_attempts_per_minute, ATTEMPTS);
    assert.equal(ATTEMPTS, documentedNumber("docs/runtime.md", /`servers\[0\]\.login_attempts_per_minute` \| (\d+) \|/));
    assert.equal(ATTEMPTS, documentedNumber("docs/protocol.md", /(\d+) attempts per address per minute are taken/));
    assert.equal(LIVENESS_MS, documentedNumber("docs/protocol.md", /authenticated `ping` within (\d+) (s)/));
  });

  test("login attempts: the last one within a minute logs in, the next is refused (ERR_AUTH_RATE_LIMITED); a minute later one gets in again", {
    timeout: 60_000,
  }, async () => {
    const d = createMemoryDriver();
    let clock = Date.now();
    const t = await startTestServer(p, d, "clear", { now: () => clock });
    const attempt = async (): Promise<void> => {
      const r = await RawSession.open(d, t.port, p.kit("site-1"));
      try {
        await r.login();
      } finally {
        r.conn.close();
      }
      await settle(() => false, 20); // the session ends before the next login of the same site
    };
    try {
      for (let i = 0; i < ATTEMPTS; i++) await attempt();
      await assert.rejects(attempt(), (e: { code?: string }) => e.code === "ERR_AUTH_RATE_LIMITED");
      assert.ok(t.auditLines().some((l) => l["code"] === "ERR_AUTH_RATE_LIMITED"));
      clock += 60_000;
      await attempt();
    } finally {
      await t.server.stop();
    }
  });

  test("liveness check: a second login of a silent live session waits until the limit less 1 ms, and replaces it at the limit", {
    timeout: 60_000,
  }, async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear");
    const first = await RawSession.open(d, t.port, p.kit("site-1"));
    await first.login(); // answers no pings from now on: a frozen site
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const second = await RawSession.open(d, t.port, p.kit("site-1"));
      let admitted = false;
      const login = second.login().then(() => (admitted = true));
      await settle(() => false, 200);
      mock.timers.tick(LIVENESS_MS - 1);
      await settle(() => admitted, 200);
      assert.equal(admitted, false, "still checking at the limit less 1 ms");
      assert.equal(first.closed, false, "the live session is kept while it is checked");
      mock.timers.tick(1);
      await login;
      assert.ok(second.token, "admitted once the check timed out");
      await settle(() => first.closed);
      assert.ok(first.closed, "the silent session was replaced");
    } finally {
      mock.timers.reset();
      await t.server.stop();
    }
  });
});

describe("heart_beat_timeout, with the server's default", () => {
  const TIMEOUT_S = documentedNumber("docs/runtime.md", /`servers\[0\]\.heart_beat_timeout` \| (\d+) \|/);

  test("the documented number is the one deployed servers use", () => {
    assert.equal(DEFAULT_SERVER_SETTINGS.heart_beat_timeout, TIMEOUT_S);
    assert.equal(TIMEOUT_S, documentedNumber("docs/protocol.md", /`servers\[0\]\.heart_beat_timeout`, default (\d+) s\)/));
  });

  test("a session silent for exactly heart_beat_timeout is kept; 1 ms more and it is removed (ERR_TRANSPORT_HEARTBEAT_MISSED)", {
    timeout: 60_000,
  }, async () => {
    const d = createMemoryDriver();
    let clock = Date.now();
    // The sweep runs on an interval: mocked, so the test moves time instead of waiting 10 minutes.
    mock.timers.enable({ apis: ["setInterval"] });
    const t = await startTestServer(p, d, "clear", { now: () => clock, heartbeatTimeoutMs: DEFAULT_SERVER_SETTINGS.heart_beat_timeout * 1000 });
    try {
      const r = await RawSession.open(d, t.port, p.kit("site-1"));
      await r.login();
      clock += TIMEOUT_S * 1000;
      mock.timers.tick(5_000);
      assert.deepEqual(t.server.sessionNames(), ["site-1"], "kept at the limit");
      clock += 1;
      mock.timers.tick(5_000);
      assert.deepEqual(t.server.sessionNames(), [], "removed one past it");
      assert.ok(t.auditLines().some((l) => l["code"] === "ERR_TRANSPORT_HEARTBEAT_MISSED"));
    } finally {
      mock.timers.reset();
      await t.server.stop();
    }
  });
});

describe("TLS versions of listeners", () => {
  test(`listeners take ${MIN_TLS_VERSION} and refuse TLS 1.1`, { timeout: 60_000 }, async () => {
    assert.equal(MIN_TLS_VERSION, "TLSv1.2");
    const t = await startTestServer(p, tcpDriver, "mtls");
    const site = p.kit("site-1");
    const attempt = (version: "TLSv1.1" | "TLSv1.2" | "TLSv1.3"): Promise<string> =>
      new Promise((resolve) => {
        // SECLEVEL=0 lets this client offer TLS 1.1 at all: the refusal must come from the server.
        const s = connect({
          host: "127.0.0.1",
          port: t.port,
          minVersion: version,
          maxVersion: version,
          ca: site.rootPem,
          cert: site.certPem,
          key: site.keyPem,
          rejectUnauthorized: false,
          ciphers: "DEFAULT@SECLEVEL=0",
        });
        s.once("secureConnect", () => {
          const v = s.getProtocol() ?? "?";
          s.destroy();
          resolve(v);
        });
        s.once("error", (e) => resolve(`error: ${e.message}`));
      });
    try {
      assert.equal(await attempt("TLSv1.3"), "TLSv1.3");
      assert.equal(await attempt("TLSv1.2"), "TLSv1.2", "at the limit: TLS 1.2 handshakes");
      const old = await attempt("TLSv1.1");
      assert.match(old, /^error: .*(protocol version|unsupported protocol|wrong version)/i, "one past: TLS 1.1 is refused by the server");
    } finally {
      await t.server.stop();
    }
  });
});

describe("tokens and same-name logins", () => {
  test("a port that takes one kind of login refuses the other (ERR_AUTH_WRONG_TYPE)", { timeout: 30_000 }, async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear", { listeners: [{ driver: d, host: "127.0.0.1", port: 0, security: "clear", accepts: "client" }] });
    try {
      const admin = await RawSession.open(d, t.port, p.kit("admin@nvidia.com"));
      await assert.rejects(
        admin.login({ type: "admin" }),
        (e: { code?: string; message: string }) => e.code === "ERR_AUTH_WRONG_TYPE" && /takes client logins only/.test(e.message),
      );
      const site = await RawSession.open(d, t.port, p.kit("site-1"));
      await site.login();
      assert.ok(site.token.length > 0, "a site logs in on the sites' port");
      site.conn.close();
    } finally {
      await t.server.stop();
    }
  });

  test("a refused frame never reaches its handler: only the accepted one runs it", { timeout: 30_000 }, async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear");
    const ran: unknown[] = [];
    t.server.handleRequest("echo", (body) => {
      ran.push(decode(body));
      return encode("ok");
    });
    try {
      const r = await RawSession.open(d, t.port, p.kit("site-1"));
      await r.login();
      const stale = await r.exchange(r.frame("req", "echo", encode("stale"), { ts: 1 }));
      assert.equal(stale.header.code, "ERR_AUTH_STALE");
      const badToken = await r.exchange(r.frame("req", "echo", encode("no token"), { token: "" }));
      assert.equal(badToken.header.code, "ERR_AUTH_TOKEN_INVALID");
      assert.equal((await r.exchange(r.frame("req", "echo", encode("good")))).header.k, "rep");
      assert.deepEqual(ran, ["good"], "the handler ran for the accepted frame only");
      r.conn.close();
    } finally {
      await t.server.stop();
    }
  });

  test("a frame without a session token is refused (ERR_AUTH_TOKEN_INVALID), a correct one is served", { timeout: 30_000 }, async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear");
    t.server.handleRequest("echo", () => encode("ok"));
    try {
      const r = await RawSession.open(d, t.port, p.kit("site-1"));
      await r.login();
      const none = await r.exchange(r.frame("req", "echo", encode(1), { token: "" }));
      assert.equal(none.header.code, "ERR_AUTH_TOKEN_INVALID", none.header.msg);
      assert.match(String(none.header.msg), /no session token/);
      assert.equal((await r.exchange(r.frame("req", "echo", encode(1)))).header.k, "rep");
      r.conn.close();
    } finally {
      await t.server.stop();
    }
  });

  test("a renewed token works and lives longer; the previous one works until it expires; older ones are dropped", { timeout: 30_000 }, async () => {
    const d = createMemoryDriver();
    // The server's clock (tokens) moves; message timestamps stay on the real clock (freshness).
    let now = Date.now();
    const lifetimeS = 100;
    const t = await startTestServer(p, d, "clear", { tokenLifetimeS: lifetimeS, skewMs: 1000, now: () => now });
    t.server.handleRequest("echo", () => encode("ok"));
    try {
      const r = await RawSession.open(d, t.port, p.kit("site-1"));
      await r.login();
      const first = r.token;
      const renew = async (token: string): Promise<string> => {
        const renewed = await r.exchange(r.frame("req", TOPIC_RENEW, encode(null), { token }));
        assert.equal(renewed.header.k, "rep", renewed.header.msg);
        return (decode(renewed.body) as { token: string }).token;
      };
      now += 0.8 * lifetimeS * 1000;
      const second = await renew(first);
      assert.notEqual(second, first);
      const ask = (token: string) => r.exchange(r.frame("req", "echo", encode(1), { token }));
      assert.equal((await ask(second)).header.k, "rep", "the new token works");
      assert.equal((await ask(first)).header.k, "rep", "a request in flight with the previous token is still served");
      now += 0.3 * lifetimeS * 1000; // past the first token's expiry, within the second's
      assert.equal((await ask(first)).header.code, "ERR_AUTH_TOKEN_EXPIRED", "the previous token ends at its expiry");
      assert.equal((await ask(second)).header.k, "rep", "the renewed one outlives the first");
      const third = await renew(second);
      assert.equal((await ask(second)).header.k, "rep", "the newest previous token is kept");
      assert.equal((await ask(first)).header.code, "ERR_AUTH_TOKEN_NOT_YOURS", "older tokens are dropped: at most two are valid");
      now += 1.2 * lifetimeS * 1000;
      assert.equal((await ask(third)).header.code, "ERR_AUTH_TOKEN_EXPIRED", "and expires in turn");
      r.conn.close();
    } finally {
      await t.server.stop();
    }
  });

  test("a second login as a live site is refused (ERR_TRANSPORT_SESSION_CONFLICT, audited) and the live session keeps working; admins may hold several", {
    timeout: 60_000,
  }, async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear");
    t.server.handleRequest("echo", (_b, meta) => encode(meta.sender));
    const live = testClient(p, d, t.port);
    await live.start();
    try {
      const second = await RawSession.open(d, t.port, p.kit("site-1"));
      await assert.rejects(second.login(), (e: { code?: string }) => e.code === "ERR_TRANSPORT_SESSION_CONFLICT");
      assert.ok(
        t.auditLines().some((l) => l["action"] === "login.refused" && l["code"] === "ERR_TRANSPORT_SESSION_CONFLICT"),
        "audited as login.refused",
      );
      assert.equal(decode(await live.request("echo", encode(1))), "site-1", "the live session keeps working");
      assert.deepEqual(
        t.server.sessionNames().filter((n) => n === "site-1"),
        ["site-1"],
      );
      // Admins: two sessions of one admin at once, both served.
      const a = await RawSession.open(d, t.port, p.kit("admin@nvidia.com"));
      const b = await RawSession.open(d, t.port, p.kit("admin@nvidia.com"));
      await a.login({ type: "admin" });
      await b.login({ type: "admin" });
      for (const x of [a, b]) assert.equal((await x.exchange(x.frame("req", "echo", encode(1)))).header.k, "rep");
      a.conn.close();
      b.conn.close();
    } finally {
      await live.stop();
      await t.server.stop();
    }
  });
});

after(() => mock.timers.reset());
