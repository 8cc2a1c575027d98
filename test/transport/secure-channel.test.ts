/**
 * The login protocol and per-message authentication over the in-memory driver: every refusal the
 * issue lists, each with an audit line, and the server keeps serving good clients.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode } from "../../src/wire/index.js";
import { createMemoryDriver } from "../../src/transport/memory-driver.js";
import { MAX_REFUSALS_PER_LINK } from "../../src/transport/channel.js";
import { documentedNumber } from "../helpers/doc-limits.js";
import { generateKeyPair, issueCertificate, loadIssuer, publicKeySpkiOf } from "../../src/pki/index.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { provisionTestProject, RawSession, startTestServer, testClient, type TestProject, type TestServer } from "../helpers/secure-session.js";

let p: TestProject;
let foreign: TestProject;
const driver = createMemoryDriver();
let s: TestServer;

before(async () => {
  p = await provisionTestProject();
  foreign = await provisionTestProject("transport_test");
  s = await startTestServer(p, driver, "clear", { loginAttemptsPerMinute: 1000 });
  s.server.handleRequest("echo", (body, meta) => encode({ from: meta.sender, got: decode(body) }));
});
after(async () => {
  await s.server.stop();
});

function audited(code: string): boolean {
  return s.auditLines().some((l) => l["code"] === code && l["outcome"] === "denied");
}

async function loggedIn(name = "site-1"): Promise<RawSession> {
  const r = await RawSession.open(driver, s.port, p.kit(name));
  await r.login();
  return r;
}

async function assertGoodClientStillServed(): Promise<void> {
  const r = await loggedIn("site-3");
  const rep = await r.exchange(r.frame("req", "echo", encode("ping")));
  assert.equal(rep.header.k, "rep");
  assert.deepEqual(decode(rep.body), { from: "site-3", got: "ping" });
  r.conn.close();
}

describe("login", () => {
  test("a client refuses a server whose certificate is from another project's CA", async () => {
    const r = await RawSession.open(driver, s.port, foreign.kit("site-1"));
    await assert.rejects(
      r.login(),
      (e: { code?: string; message: string }) =>
        e.code === "ERR_AUTH_CERT_UNTRUSTED" && /server's certificate was issued by a different root CA/.test(e.message),
    );
    r.conn.close();
  });

  test("a site logs in with its kit and its requests are answered", async () => {
    const r = await loggedIn();
    const rep = await r.exchange(r.frame("req", "echo", encode({ x: 1 })));
    assert.deepEqual(decode(rep.body), { from: "site-1", got: { x: 1 } });
    assert.ok(s.auditLines().some((l) => l["action"] === "login" && l["peer"] === "site-1" && l["outcome"] === "ok"));
    r.conn.close();
  });

  test("a certificate from another project's CA is refused", async () => {
    // The impostor trusts our server (our root) but holds a certificate from another project's CA.
    const r = await RawSession.open(driver, s.port, { ...foreign.kit("site-1"), rootPem: p.server.rootPem });
    await assert.rejects(r.login(), (e: { code?: string; message: string }) => e.code === "ERR_AUTH_CERT_UNTRUSTED" && /different root CA/.test(e.message));
    assert.ok(audited("ERR_AUTH_CERT_UNTRUSTED"));
    await assertGoodClientStillServed();
  });

  test("CN ≠ claimed name is refused", async () => {
    const r = await RawSession.open(driver, s.port, p.kit("site-1"));
    await assert.rejects(
      r.login({ claimName: "site-2" }),
      (e: { code?: string; message: string }) => e.code === "ERR_AUTH_NAME_MISMATCH" && /site-1/.test(e.message),
    );
    assert.ok(audited("ERR_AUTH_NAME_MISMATCH"));
  });

  test("an admin certificate used to log in as a site is refused", async () => {
    const r = await RawSession.open(driver, s.port, p.kit("admin@nvidia.com"));
    await assert.rejects(r.login(), (e: { code?: string; message: string }) => e.code === "ERR_AUTH_WRONG_TYPE" && /admin certificate/.test(e.message));
    assert.ok(audited("ERR_AUTH_WRONG_TYPE"));
  });

  test("an admin logs in as an admin", async () => {
    const r = await RawSession.open(driver, s.port, p.kit("admin@nvidia.com"));
    await r.login({ type: "admin" });
    assert.ok(r.token.length > 0);
    r.conn.close();
  });

  test("an expired certificate is refused", async () => {
    const site = p.kit("site-2");
    const rootKey = readFileSync(join(p.dir, "ws", "transport_test", "state", "rootCA.key"), "utf8");
    const keys = await generateKeyPair();
    const old = new Date(Date.now() - 2 * 365 * 24 * 3600 * 1000);
    const certPem = await issueCertificate({
      subject: { commonName: "site-2", organization: "org_b" },
      subjectPublicKeySpki: publicKeySpkiOf(keys.privateKeyPem),
      subjectAltNames: ["site-2"],
      extendedKeyUsages: ["clientAuth"],
      validDays: 1,
      issuer: await loadIssuer(site.rootPem, rootKey),
      now: old,
    });
    const r = await RawSession.open(driver, s.port, { ...site, certPem, keyPem: keys.privateKeyPem });
    await assert.rejects(r.login(), (e: { code?: string; message: string }) => e.code === "ERR_AUTH_CERT_EXPIRED" && /expired/.test(e.message));
    assert.ok(audited("ERR_AUTH_CERT_EXPIRED"));
  });

  test("a client refuses a server that is not the expected identity", async () => {
    const r = await RawSession.open(driver, s.port, p.kit("site-1"));
    await assert.rejects(r.login({ serverName: "fl.other.org" }), /calls itself "localhost", expected "fl.other.org"/);
    r.conn.close();
  });

  test("a wrong project name is refused", async () => {
    const r = await RawSession.open(driver, s.port, p.kit("site-1"));
    await assert.rejects(r.login({ project: "other" }), (e: { code?: string }) => e.code === "ERR_AUTH_PROJECT_MISMATCH");
  });
});

describe("per-message authentication", () => {
  test("a forged token signature is refused", async () => {
    const r = await loggedIn();
    const [body = "", sig = ""] = r.token.split(".");
    const forged = `${body}.${sig.slice(0, -4)}AAAA`;
    const rep = await r.exchange(r.frame("req", "echo", encode(1), { token: forged }));
    assert.equal(rep.header.k, "refused");
    assert.equal(rep.header.code, "ERR_AUTH_TOKEN_INVALID");
    assert.match(rep.header.msg ?? "", /forged or altered/);
    assert.ok(audited("ERR_AUTH_TOKEN_INVALID"));
    r.conn.close();
  });

  test("another client's token is refused", async () => {
    const a = await loggedIn("site-1");
    const b = await loggedIn("site-2");
    const rep = await a.exchange(a.frame("req", "echo", encode(1), { token: b.token }));
    assert.equal(rep.header.code, "ERR_AUTH_TOKEN_NOT_YOURS");
    assert.match(rep.header.msg ?? "", /belongs to site-2/);
    assert.ok(audited("ERR_AUTH_TOKEN_NOT_YOURS"));
    a.conn.close();
    b.conn.close();
  });

  test("a message claiming another sender is refused", async () => {
    const r = await loggedIn();
    const rep = await r.exchange(r.frame("req", "echo", encode(1), { sender: "site-2" }));
    assert.equal(rep.header.code, "ERR_AUTH_NAME_MISMATCH");
    r.conn.close();
  });

  test("a replayed message is refused", async () => {
    const r = await loggedIn();
    const f = r.frame("req", "echo", encode("once"));
    assert.equal((await r.exchange(f)).header.k, "rep");
    const again = await r.exchange(f);
    assert.equal(again.header.code, "ERR_AUTH_REPLAY");
    assert.ok(audited("ERR_AUTH_REPLAY"));
    r.conn.close();
  });

  test("a body swapped under a valid header is refused", async () => {
    const r = await loggedIn();
    const f = r.frame("req", "echo", encode({ amount: 1 }));
    const rep = await r.exchange({ header: f.header, body: encode({ amount: 1000 }) });
    assert.equal(rep.header.code, "ERR_AUTH_BAD_MAC");
    assert.ok(audited("ERR_AUTH_BAD_MAC"));
    r.conn.close();
  });

  test("a stale timestamp is refused", async () => {
    const r = await loggedIn();
    const rep = await r.exchange(r.frame("req", "echo", encode(1), { ts: Date.now() - 5 * 60_000 }));
    assert.equal(rep.header.code, "ERR_AUTH_STALE");
    r.conn.close();
  });

  test("a message MAC'd with another session's key is refused", async () => {
    const a = await loggedIn("site-1");
    const b = await loggedIn("site-2");
    const rep = await a.exchange(a.frame("req", "echo", encode(1), { key: b.keys?.clientToServer }));
    assert.equal(rep.header.code, "ERR_AUTH_BAD_MAC");
    a.conn.close();
    b.conn.close();
  });

  test("too many refused messages close the link, and others are still served", async () => {
    // At the limit less one the link still serves; the refusal that reaches the limit closes it.
    assert.equal(MAX_REFUSALS_PER_LINK, documentedNumber("docs/protocol.md", /(\d+) refusals \(`MAX_REFUSALS_PER_LINK`\) close the link/));
    assert.equal(MAX_REFUSALS_PER_LINK, documentedNumber("docs/security.md", /(\d+) refusals \(`MAX_REFUSALS_PER_LINK`\) close a link/));
    const r = await loggedIn("site-2");
    for (let i = 1; i < MAX_REFUSALS_PER_LINK; i++) {
      const rep = await r.exchange(r.frame("req", "echo", encode(i), { ts: 1 }));
      assert.equal(rep.header.code, "ERR_AUTH_STALE", `refusal ${i}`);
    }
    const ok = await r.exchange(r.frame("req", "echo", encode("still here")));
    assert.equal(ok.header.k, "rep", `${MAX_REFUSALS_PER_LINK - 1} refusals leave the link open`);
    assert.ok(!r.closed);
    const last = await r.exchange(r.frame("req", "echo", encode("one more"), { ts: 1 }));
    assert.equal(last.header.code, "ERR_AUTH_STALE");
    for (let i = 0; i < 500 && !r.closed; i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(r.closed, `refusal ${MAX_REFUSALS_PER_LINK} closes the link`);
    await assertGoodClientStillServed();
  });
});

describe("tokens, heartbeats, floods", () => {
  test("an expired token is refused", async () => {
    let now = Date.now();
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear", { tokenLifetimeS: 60, skewMs: 1000, now: () => now });
    t.server.handleRequest("echo", () => encode("ok"));
    const r = await RawSession.open(d, t.port, p.kit("site-1"));
    await r.login();
    now += 120_000;
    const rep = await r.exchange(r.frame("req", "echo", encode(1), { ts: now }));
    assert.equal(rep.header.code, "ERR_AUTH_TOKEN_EXPIRED");
    assert.ok(t.auditLines().some((l) => l["code"] === "ERR_AUTH_TOKEN_EXPIRED"));
    await t.server.stop();
  });

  test("the client renews its token before it expires and keeps working", async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear", { tokenLifetimeS: 2, skewMs: 500 });
    t.server.handleRequest("echo", () => encode("ok"));
    const c = testClient(p, d, t.port);
    await c.start();
    const first = c.currentToken();
    // Renewal at 80 % of a 2 s life: wait for the new token (bounded), not a fixed time.
    for (let i = 0; i < 400 && c.currentToken() === first; i++) await new Promise((res) => setTimeout(res, 50));
    assert.notEqual(c.currentToken(), first, "token renewed");
    assert.equal(decode(await c.request("echo", encode(1))), "ok");
    await c.stop();
    await t.server.stop();
  });

  test("a session silent beyond heart_beat_timeout is removed", async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear", { heartbeatTimeoutMs: 300 });
    const r = await RawSession.open(d, t.port, p.kit("site-1"));
    await r.login();
    assert.deepEqual(t.server.sessionNames(), ["site-1"]);
    for (let i = 0; i < 400 && t.server.sessionNames().length > 0; i++) await new Promise((res) => setTimeout(res, 25));
    assert.deepEqual(t.server.sessionNames(), []);
    assert.ok(t.auditLines().some((l) => l["code"] === "ERR_TRANSPORT_HEARTBEAT_MISSED"));
    await t.server.stop();
  });

  test("a flood of logins from one address is refused beyond the per-minute limit; others keep logging in", async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear", { loginAttemptsPerMinute: 5 });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, async () => {
        const r = await RawSession.open(d, t.port, p.kit("site-1"));
        await r.login();
        r.conn.close();
      }),
    );
    const refused = results.filter((x) => x.status === "rejected" && (x.reason as { code?: string }).code === "ERR_AUTH_RATE_LIMITED");
    assert.equal(refused.length, 7);
    assert.ok(t.auditLines().some((l) => l["code"] === "ERR_AUTH_RATE_LIMITED"));
    await t.server.stop();
  });

  test("a stream arrives whole; a stream whose chunk was altered is refused", async () => {
    const d = createMemoryDriver();
    const t = await startTestServer(p, d, "clear");
    const got: number[] = [];
    t.server.handleStream("model", (st) => {
      got.push(st.read().reduce((a, b) => a + b, 0));
      st.dispose();
    });
    const c = testClient(p, d, t.port);
    await c.start();
    const payload = new Uint8Array(3 * 1024 * 1024 + 17).fill(1);
    await c.sendStream("model", payload, { chunkBytes: 1024 * 1024 });
    for (let i = 0; i < 500 && got.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(got, [payload.byteLength]);
    await c.stop();

    // A raw session re-sends a stream whose second chunk payload was changed: the per-chunk MAC
    // covers only chunk headers, so the keyed stream digest must catch it at the end.
    const r = await RawSession.open(d, t.port, p.kit("site-1"));
    await r.login();
    const { chunkPayload } = await import("../../src/wire/index.js");
    const { createHmac } = await import("node:crypto");
    const { streamKey } = await import("../../src/transport/channel.js");
    const k = streamKey(r.keys?.clientToServer ?? new Uint8Array());
    const chunks = [...chunkPayload(new Uint8Array(2048).fill(2), { chunkBytes: 1024, digest: () => createHmac("sha256", k) }).chunks];
    chunks[1] = [chunks[1]?.[0] ?? new Uint8Array(), new Uint8Array(1024).fill(9)];
    const { computeMac } = await import("../../src/auth/index.js");
    const { encodeEnvelope } = await import("../../src/transport/envelope.js");
    const { randomBytes } = await import("node:crypto");
    let seq = 100;
    for (const ch of chunks) {
      const id = randomBytes(16).toString("hex");
      const ts = Date.now();
      const sq = ++seq;
      const mac = computeMac(
        r.keys?.clientToServer ?? new Uint8Array(),
        { kind: "chunk", id, replyTo: "", topic: "model", sender: "site-1", timestamp: ts, seq: sq },
        [(ch[0] ?? new Uint8Array()).subarray(0, 40)],
      );
      await r.conn.send(encodeEnvelope({ k: "chunk", id, t: "model", n: "site-1", tok: r.token, ts, sq, mac }, ch));
    }
    const refused = await r.next();
    assert.equal(refused.header.k, "refused");
    assert.equal(refused.header.code, "ERR_WIRE_STREAM_INTEGRITY");
    assert.deepEqual(got, [payload.byteLength], "the altered stream was not delivered");
    r.conn.close();
    await t.server.stop();
  });
});
