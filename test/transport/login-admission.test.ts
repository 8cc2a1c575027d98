/**
 * Who the server admits after a valid login (src/transport/server.ts), against an in-process
 * TransportServer: on mTLS the TLS client certificate must be the login identity (a real tcp mTLS
 * socket), a removed site stays out, and max_num_clients holds at the limit and one past it (admins
 * do not count). The same checks run through `cohort start` in test/runtime/server-refusals.test.ts;
 * these are fast enough for `npm run mutate -- channel`.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createMemoryDriver } from "../../src/transport/memory-driver.js";
import { tcpDriver } from "../../src/transport/drivers/tcp.js";
import { provisionTestProject, RawSession, startTestServer, type TestProject } from "../helpers/secure-session.js";

let p: TestProject;
before(async () => {
  p = await provisionTestProject();
});

const refusalCode = (err: unknown): unknown => (err as { code?: unknown }).code;

test("mTLS: a login whose TLS client certificate is another site's is refused (ERR_AUTH_TLS_PEER_MISMATCH); its own is admitted", async () => {
  const d = tcpDriver;
  const t = await startTestServer(p, d, "mtls");
  try {
    const mismatched = await RawSession.open(d, t.port, p.kit("site-1"), { security: "mtls", tlsKit: p.kit("site-2") });
    await assert.rejects(mismatched.login(), (err) => refusalCode(err) === "ERR_AUTH_TLS_PEER_MISMATCH");
    mismatched.conn.close();
    assert.ok(t.auditLines().some((l) => l["action"] === "login.refused" && l["code"] === "ERR_AUTH_TLS_PEER_MISMATCH"));
    const own = await RawSession.open(d, t.port, p.kit("site-1"), { security: "mtls" });
    await own.login();
    assert.ok(own.token, "the same login over its own TLS certificate is admitted");
    own.conn.close();
  } finally {
    await t.server.stop();
  }
});

test("a removed site is refused at login (ERR_AUTH_BANNED); the others are admitted", async () => {
  const d = createMemoryDriver();
  const t = await startTestServer(p, d, "clear", { isBanned: (identity) => identity.name === "site-3" });
  try {
    const banned = await RawSession.open(d, t.port, p.kit("site-3"));
    await assert.rejects(banned.login(), (err) => refusalCode(err) === "ERR_AUTH_BANNED");
    const other = await RawSession.open(d, t.port, p.kit("site-1"));
    await other.login();
    assert.ok(other.token);
  } finally {
    await t.server.stop();
  }
});

test("max_num_clients: at the limit a site is admitted, one past it is refused (ERR_AUTH_TOO_MANY_CLIENTS); admins do not count", async () => {
  const d = createMemoryDriver();
  const MAX = 2;
  const t = await startTestServer(p, d, "clear", { maxClients: MAX });
  try {
    const sessions: RawSession[] = [];
    for (const name of ["site-1", "site-2"]) {
      const r = await RawSession.open(d, t.port, p.kit(name));
      await r.login();
      sessions.push(r);
    }
    assert.equal(sessions.length, MAX, "precondition: the limit is filled by live sessions");
    const over = await RawSession.open(d, t.port, p.kit("site-3"));
    await assert.rejects(over.login(), (err) => refusalCode(err) === "ERR_AUTH_TOO_MANY_CLIENTS");
    const admin = await RawSession.open(d, t.port, p.kit("admin@nvidia.com"));
    await admin.login({ type: "admin" });
    assert.ok(admin.token, "an admin logs in with the sites at the limit");
  } finally {
    await t.server.stop();
  }
});
