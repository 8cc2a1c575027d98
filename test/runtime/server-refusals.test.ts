/**
 * Refusals of a running server (`cohort start`, mTLS) that no other test attacks:
 * - on mTLS the TLS client certificate must be the login identity (ERR_AUTH_TLS_PEER_MISMATCH);
 * - the server checks admin commands itself: a site session sending one, and an admin sending a
 *   command another admin signed, are refused (ERR_ADMIN_NOT_ADMIN), with audit lines;
 * - max_num_clients: at the limit a site logs in; one past it a real `cohort start` is refused
 *   (ERR_AUTH_TOO_MANY_CLIENTS) while admins, who do not count, still log in.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClientLogin, signCommand } from "../../src/auth/index.js";
import { DEFAULT_SERVER_SETTINGS } from "../../src/config/index.js";
import { decode, encode } from "../../src/wire/index.js";
import { driverFor, TransportClient, type Scheme } from "../../src/transport/index.js";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "../../src/transport/envelope.js";
import { TOPIC_ADMIN } from "../../src/runtime/participant/topics.js";
import { writeFile } from "../helpers/index.js";
import { documentedNumber } from "../helpers/doc-limits.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, auditRecords, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2"];
const ADMIN = "admin@nvidia.com";
const OTHER_ADMIN = "other@nvidia.com";
/** The server is started with this max_num_clients: the two sites and one test session fill it. */
const MAX_CLIENTS = 3;
let prodDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);
const startup = (n: string, f: string): string => readFileSync(join(kit(n), "startup", f), "utf8");

interface Target {
  scheme: Scheme;
  port: number;
  security: "clear" | "tls" | "mtls";
}
function siteTarget(): Target {
  const cfg = JSON.parse(startup("site-1", "fed_client.json")) as {
    servers: { service: { target: string; scheme: Scheme } }[];
    client: { connection_security: Target["security"] };
  };
  const s = cfg.servers[0];
  assert.ok(s);
  return { scheme: s.service.scheme, port: Number(s.service.target.split(":").at(-1)), security: cfg.client.connection_security };
}
function adminTarget(): Target {
  const a = (JSON.parse(startup(ADMIN, "fed_admin.json")) as { admin: { scheme: Scheme; port: number; connection_security: Target["security"] } }).admin;
  return { scheme: a.scheme, port: a.port, security: a.connection_security };
}
function clientOf(name: string, type: "client" | "admin"): TransportClient {
  const t = type === "client" ? siteTarget() : adminTarget();
  return new TransportClient({
    name,
    type,
    project: "server_refusals",
    certPem: startup(name, "client.crt"),
    keyPem: startup(name, "client.key"),
    rootPem: startup(name, "rootCA.pem"),
    serverName: "localhost",
    driver: driverFor(t.scheme),
    host: "127.0.0.1",
    port: t.port,
    security: t.security,
  });
}
const auditLines = (): Record<string, unknown>[] => auditRecords(kit("localhost"));

before(async () => {
  const fed = await startFederation({
    project: "server_refusals",
    sites: SITES,
    idleSites: ["site-3", "site-8", "site-9"],
    admins: [
      { name: ADMIN, org: "nvidia", role: "project_admin" },
      { name: OTHER_ADMIN, org: "nvidia", role: "project_admin" },
    ],
    prepare: (k) => {
      const res = JSON.parse(readFileSync(join(k("localhost"), "local", "resources.json.default"), "utf8")) as { servers: Record<string, unknown>[] };
      Object.assign(res.servers[0] ?? {}, { max_num_clients: MAX_CLIENTS });
      writeFile(join(k("localhost"), "local", "resources.json"), JSON.stringify(res));
    },
  });
  ({ prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values()));

describe("a running server refuses", () => {
  test("mTLS: a login whose TLS client certificate is another site's is refused (ERR_AUTH_TLS_PEER_MISMATCH), audited", { timeout: 60_000 }, async () => {
    const t = siteTarget();
    assert.equal(t.security, "mtls", "precondition: the federation runs mTLS");
    // TLS with site-9's certificate and key; the login proves site-8's kit key.
    const conn = await driverFor(t.scheme).dial({
      host: "127.0.0.1",
      port: t.port,
      security: "mtls",
      tls: { rootCaPem: startup("site-9", "rootCA.pem"), certPem: startup("site-9", "client.crt"), keyPem: startup("site-9", "client.key") },
    });
    const frames: Envelope[] = [];
    conn.onFrame((f) => frames.push(decodeEnvelope(f)));
    const next = async (): Promise<Envelope> => {
      for (let i = 0; i < 1000 && frames.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const f = frames.shift();
      assert.ok(f, "the server answers within 10 s");
      return f;
    };
    const login = new ClientLogin({
      name: "site-8",
      type: "client",
      project: "server_refusals",
      certPem: startup("site-8", "client.crt"),
      keyPem: startup("site-8", "client.key"),
      rootPem: startup("site-8", "rootCA.pem"),
      serverName: "localhost",
    });
    await conn.send(encodeEnvelope({ k: "hello", id: randomBytes(16).toString("hex") }, [encode(login.hello())]));
    const challenge = await next();
    assert.equal(challenge.header.k, "challenge");
    const answer = login.answer(decode(challenge.body));
    await conn.send(encodeEnvelope({ k: "login", id: randomBytes(16).toString("hex") }, [encode(answer.login)]));
    const refused = await next();
    assert.equal(refused.header.k, "refused");
    assert.equal(refused.header.code, "ERR_AUTH_TLS_PEER_MISMATCH", refused.header.msg);
    assert.match(refused.header.msg ?? "", /site-9.*site-8|not site-8's/);
    conn.close();
    assert.ok(
      auditLines().some((l) => l["action"] === "login.refused" && l["code"] === "ERR_AUTH_TLS_PEER_MISMATCH"),
      "audited as login.refused",
    );
    // Control: the same TLS certificate with its own login is admitted (the refusal is the mismatch).
    const own = clientOf("site-9", "client");
    await own.connectOnce();
    await own.stop();
  });

  test("admin commands: from a site session, or signed by another admin than the sender: ERR_ADMIN_NOT_ADMIN, audited", { timeout: 60_000 }, async () => {
    const site = clientOf("site-9", "client");
    await site.connectOnce();
    try {
      const command = signCommand({
        user: ADMIN,
        target: "server",
        cmd: "list_jobs",
        args: [],
        certPem: startup(ADMIN, "client.crt"),
        keyPem: startup(ADMIN, "client.key"),
      });
      await assert.rejects(
        site.request(TOPIC_ADMIN, encode({ command }), { timeoutMs: 20_000 }),
        (e: { code?: string; message: string }) => e.code === "ERR_ADMIN_NOT_ADMIN" && /site-9 is not logged in as an admin/.test(e.message),
      );
    } finally {
      await site.stop();
    }
    const other = clientOf(OTHER_ADMIN, "admin");
    await other.connectOnce();
    try {
      // Control: the other admin's own signed command runs.
      const own = signCommand({
        user: OTHER_ADMIN,
        target: "server",
        cmd: "list_jobs",
        args: [],
        certPem: startup(OTHER_ADMIN, "client.crt"),
        keyPem: startup(OTHER_ADMIN, "client.key"),
      });
      await other.request(TOPIC_ADMIN, encode({ command: own }), { timeoutMs: 20_000 });
      const stolen = signCommand({
        user: ADMIN,
        target: "server",
        cmd: "list_jobs",
        args: [],
        certPem: startup(ADMIN, "client.crt"),
        keyPem: startup(ADMIN, "client.key"),
      });
      await assert.rejects(
        other.request(TOPIC_ADMIN, encode({ command: stolen }), { timeoutMs: 20_000 }),
        (e: { code?: string; message: string }) =>
          e.code === "ERR_ADMIN_NOT_ADMIN" && /signed by admin@nvidia\.com but sent by other@nvidia\.com/.test(e.message),
      );
    } finally {
      await other.stop();
    }
    const denied = auditLines().filter((l) => l["code"] === "ERR_ADMIN_NOT_ADMIN" && l["outcome"] === "denied");
    assert.ok(
      denied.some((l) => JSON.stringify(l).includes("site-9")),
      `the site's attempt is audited: ${JSON.stringify(denied)}`,
    );
    assert.ok(
      denied.some((l) => l["user"] === OTHER_ADMIN),
      `the re-sent command is audited: ${JSON.stringify(denied)}`,
    );
  });

  test("max_num_clients: at the limit a site logs in; one past it `cohort start` is refused; admins do not count", { timeout: 120_000 }, async () => {
    assert.equal(
      DEFAULT_SERVER_SETTINGS.max_num_clients,
      documentedNumber("docs/runtime.md", /`servers\[0\]\.max_num_clients` \| (\d+) \|/),
      "the default is the documented one",
    );
    assert.deepEqual([...sites.keys()], SITES);
    const third = clientOf("site-9", "client");
    await third.connectOnce(); // sites: site-1, site-2, site-9 = MAX_CLIENTS
    let refusedStart: CohortProcess | undefined;
    try {
      const mark = server.lines.length;
      refusedStart = startParticipantProcess(kit("site-3"));
      await server.waitFor(/ERR_AUTH_TOO_MANY_CLIENTS|max_num_clients/, 90_000, mark).catch(() => undefined);
      for (let i = 0; i < 600 && !auditLines().some((l) => l["code"] === "ERR_AUTH_TOO_MANY_CLIENTS" && l["peer"] === "site-3"); i++)
        await new Promise((r) => setTimeout(r, 100));
      const line = auditLines().find((l) => l["code"] === "ERR_AUTH_TOO_MANY_CLIENTS");
      assert.ok(line, `site-3 refused with ERR_AUTH_TOO_MANY_CLIENTS:\n${server.output.slice(-2000)}\n${refusedStart.output.slice(-2000)}`);
      assert.match(String(line["reason"]), new RegExp(`already has ${MAX_CLIENTS} sites connected \\(max_num_clients ${MAX_CLIENTS}\\)`));
      assert.doesNotMatch(server.output.slice(0), /client site-3 .* logged in/);
      // Admins do not count.
      const r = await adminCli(kit(ADMIN), "check_status server", 60_000);
      assert.equal(r.code, 0, r.text);
    } finally {
      await third.stop();
    }
    // A slot is free again: site-3's own retries get it in.
    await server.waitFor(/client site-3 .* logged in/, 90_000);
    if (refusedStart) sites.set("site-3", refusedStart);
  });
});
