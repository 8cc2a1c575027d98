/**
 * Every refusal code of the error catalogues against real server processes (`cohort start`, tcp):
 * one row per code, either a trigger causing exactly one such refusal, or why the server never
 * writes it (`notAServerRefusal`), or the test that causes it when that needs a whole federation
 * (`coveredBy`). A code added to a catalogue without a row fails the first test.
 *
 * With a small refusal-writer rate in the servers' local/resources.json (burst 2, one line per
 * 10 s), each trigger is fired burst+2 times: exactly `burst` audit lines with its code, then,
 * after the refill interval, one more refusal gives one `audit.suppressed` line counting the 2 that
 * were not written, then its own line. Each row connects from an address of its own (127.0.0.x):
 * the writer and the login limits count per address.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { AuditErrorCode, AuditLog, createCheckpoint, type Checkpoint } from "../../src/audit/index.js";
import { AuthErrorCode, type LoginMessage } from "../../src/auth/index.js";
import { generateKeyPair, issueCertificate, loadIssuer } from "../../src/pki/index.js";
import { encode } from "../../src/wire/index.js";
import { PRE_LOGIN_FRAME_BYTES, TransportErrorCode, driverFor, type ConnectionSecurity } from "../../src/transport/index.js";
import { LinkErrorCode } from "../../src/transport/drivers/index.js";
import { frameHeader } from "../../src/transport/drivers/framing.js";
import type { Header } from "../../src/transport/envelope.js";
import { TOPIC_ADMIN, TOPIC_CHECKPOINT } from "../../src/runtime/participant/topics.js";
import { REPO_ROOT, tempDir, writeFile } from "../helpers/index.js";
import { auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { RawSession, readKit, type Kit } from "../helpers/secure-session.js";

const BURST = 2;
const PER_SECOND = 0.1;
/** One token of the refusal writer, plus a margin for a loaded machine. */
const REFILL_MS = 1000 / PER_SECOND + 1_000;
const driver = driverFor("tcp");

interface RunningServer {
  readonly security: ConnectionSecurity;
  readonly project: string;
  readonly kitDir: string;
  readonly port: number;
  readonly rootKeyPem: string;
  readonly process: CohortProcess;
  kit(name: string): Kit;
}

/** One fire of a row: the server it targets, the address it connects from, state kept between fires. */
interface Fire {
  readonly server: RunningServer;
  readonly from: string;
  readonly state: Map<string, unknown>;
}

interface Triggered {
  readonly on: "mtls" | "tls";
  /** Causes exactly one refusal with the row's code (it may reach the audit log a little later). */
  readonly trigger: (f: Fire) => Promise<void>;
  /** The refusal waits for a server timer (seconds): fired concurrently, beside the other rows. */
  readonly slow?: true;
  /** Before the first fire (e.g. a checkpoint the later ones are refused against). */
  readonly prepare?: (f: Fire) => Promise<void>;
  /** Around each round of fires: connections held while the round fires. */
  readonly round?: { readonly before: (f: Fire) => Promise<void>; readonly after: (f: Fire) => Promise<void> };
  /** A defect in a file this test may not change: the row is skipped with this reason. */
  readonly knownDefect?: string;
}
type Row = Triggered | { readonly notAServerRefusal: string } | { readonly coveredBy: string };

// ---------------------------------------------------------------------------------------------
// Triggers and their helpers

/** Bounded poll: resolves once `check` holds, fails after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const open = (f: Fire, kit: Kit, options: { tlsKit?: Kit; answerPings?: boolean } = {}): Promise<RawSession> =>
  RawSession.open(driver, f.server.port, kit, { security: f.server.security, localAddress: f.from, ...options });

async function loggedIn(f: Fire, name: string, options: { type?: "client" | "admin"; answerPings?: boolean } = {}): Promise<RawSession> {
  const r = await open(f, f.server.kit(name), options);
  await r.login({ project: f.server.project, type: options.type ?? "client" });
  return r;
}

const admin = (f: Fire): Promise<RawSession> => loggedIn(f, "admin@nvidia.com", { type: "admin" });

/** Closes a session and waits until the server has ended it (site sessions count against max_num_clients). */
async function leave(f: Fire, r: RawSession): Promise<void> {
  const mark = f.server.process.mark();
  r.conn.close();
  await f.server.process.waitFor(new RegExp(`${r.kit.name} disconnected`), 10_000, mark);
}

/** Waits until the server closed the link (a refusal during login, a link-level refusal). */
async function closedByServer(r: RawSession, timeoutMs = 10_000): Promise<void> {
  await until(
    () => r.closed,
    timeoutMs,
    () => `the server did not close the link from ${r.kit.name}`,
  );
}

/** A login the server must refuse with `code`. */
async function refusedLogin(
  f: Fire,
  code: string,
  kit: Kit,
  options: { tlsKit?: Kit; claimName?: string; project?: string; type?: "client" | "admin"; tweakLogin?: (login: LoginMessage) => LoginMessage } = {},
): Promise<void> {
  const { tlsKit, ...login } = options;
  const r = await open(f, kit, tlsKit ? { tlsKit } : {});
  await assert.rejects(r.login({ project: f.server.project, ...login }), (e: { code?: string }) => e.code === code);
  await closedByServer(r);
}

/** A request the server must refuse with `code` on an admin session. */
async function refusedRequest(
  f: Fire,
  code: string,
  build: (r: RawSession) => { header: Header; body: Uint8Array },
  session?: (f: Fire) => Promise<RawSession>,
): Promise<void> {
  const r = await (session ?? admin)(f);
  const rep = await r.exchange(build(r));
  assert.equal(rep.header.code, code, rep.header.msg);
  r.conn.close();
}

/** A dial with this client certificate (none: a `tls` dialer) that the server refuses at the link level. */
async function refusedDial(f: Fire, kit: Kit | undefined): Promise<void> {
  // The dialer trusts the server (its project's root) whatever certificate it shows.
  const rootCaPem = f.server.kit("site-1").rootPem;
  const tls = kit ? { rootCaPem, certPem: kit.certPem, keyPem: kit.keyPem } : { rootCaPem };
  await assert.rejects(
    driver.dial({ host: "127.0.0.1", port: f.server.port, security: kit ? "mtls" : "tls", tls, localAddress: f.from }).then(async (c) => {
      // Under TLS 1.3 the refusal of a client certificate can arrive after the dial resolved.
      await until(
        () => c.closed,
        10_000,
        () => "the link was not closed",
      );
      throw new Error("closed");
    }),
  );
}

/** A raw TCP socket from the row's address (or `from`); resolves once connected. */
function rawSocket(f: Fire, from = f.from): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: "127.0.0.1", port: f.server.port, localAddress: from }, () => resolve(s));
    s.on("error", reject);
  });
}

/** TLS to the server (with site-1's certificate on mtls), nothing sent yet. */
async function rawTls(f: Fire, from = f.from): Promise<TLSSocket> {
  const k = f.server.kit("site-1");
  const s = tlsConnect({
    socket: await rawSocket(f, from),
    ca: k.rootPem,
    ...(f.server.security === "mtls" ? { cert: k.certPem, key: k.keyPem } : {}),
    rejectUnauthorized: false,
  });
  await new Promise<void>((resolve, reject) => s.once("secureConnect", resolve).once("error", reject));
  s.on("error", () => undefined);
  return s;
}

/** A link frame (u32 length, bytes) as the tcp driver writes it. */
const linkFrame = (bytes: Uint8Array): Buffer => Buffer.concat([frameHeader(bytes.byteLength), bytes]);

async function closedSocket(s: Socket, timeoutMs = 15_000): Promise<void> {
  s.on("error", () => undefined);
  s.resume(); // reads (and drops) what arrives, so that the server's close is seen
  await until(
    () => s.destroyed || s.readableEnded,
    timeoutMs,
    () => "the server did not close the socket",
  );
}

/** A certificate under the server's project root, valid from `notBefore` for `validDays`. */
async function issued(server: RunningServer, name: string, notBefore: Date, validDays: number): Promise<Kit> {
  const base = server.kit(name);
  const keys = await generateKeyPair();
  const certPem = await issueCertificate({
    subject: { commonName: name, organization: "org_b" },
    subjectPublicKeySpki: keys.publicKeySpki,
    subjectAltNames: [name],
    extendedKeyUsages: ["clientAuth"],
    validDays,
    issuer: await loadIssuer(base.rootPem, server.rootKeyPem),
    now: notBefore,
  });
  return { ...base, certPem, keyPem: keys.privateKeyPem };
}

const DAY_MS = 24 * 3600 * 1000;
const expired = (server: RunningServer): Promise<Kit> => issued(server, "site-2", new Date(Date.now() - 3 * DAY_MS), 1);

/** A site's own audit log, to checkpoint (each call adds a line, so the checkpoint moves on). */
function siteCheckpoint(f: Fire, site: string, signer: Kit = f.server.kit(site)): Checkpoint {
  const key = `log:${site}`;
  let log = f.state.get(key) as AuditLog | undefined;
  if (!log) {
    log = AuditLog.open(join(tempDir("cohort-catalogue-"), "audit.log"), site);
    f.state.set(key, log);
  }
  log.append({ action: "event", outcome: "ok" });
  return createCheckpoint(log, signer);
}

/** Sends a checkpoint over a site's session; resolves with the refusal code, or undefined when witnessed. */
async function sendCheckpoint(f: Fire, session: string, cp: unknown): Promise<string | undefined> {
  const r = await loggedIn(f, session);
  try {
    const rep = await r.exchange(r.frame("req", TOPIC_CHECKPOINT, encode(cp)));
    return rep.header.k === "refused" ? (rep.header.code ?? "?") : undefined;
  } finally {
    r.conn.close();
  }
}

async function refusedCheckpoint(f: Fire, code: string, session: string, cp: unknown): Promise<void> {
  assert.equal(await sendCheckpoint(f, session, cp), code);
}

/** Link-level frames (after the link preface) before login. */
async function refusedFrameBeforeLogin(f: Fire, frame: Uint8Array): Promise<void> {
  const r = await open(f, f.server.kit("site-1"));
  await r.conn.send([frame]);
  await closedByServer(r);
}

/** Holds `count` sockets for a round of fires (closed by `release`). */
function holding(count: number, connect: (f: Fire, i: number) => Promise<{ close(): void }>): NonNullable<Triggered["round"]> {
  return {
    before: async (f) => {
      const held: { close(): void }[] = [];
      for (let i = 0; i < count; i++) held.push(await connect(f, i));
      f.state.set("held", held);
    },
    after: async (f) => {
      for (const h of (f.state.get("held") as { close(): void }[] | undefined) ?? []) h.close();
      f.state.delete("held");
    },
  };
}

/**
 * The mtls server's pre-login budget (`prelogin_budget_bytes`): four links from another address,
 * each holding the preface and 65 000 bytes of an unfinished frame, leave 10 000 bytes, fewer than
 * a trigger adds and more than a login frame of another row needs.
 */
const HELD_PER_CONNECTION = 65_000;
// Two, so that holders and a trigger stay within the tls server's 4 pending logins (no eviction frees the budget).
const BUDGET_HOLDERS = 2;
const PRELOGIN_BUDGET = BUDGET_HOLDERS * (HELD_PER_CONNECTION + 17) + 10_000;

/** A link (preface accepted) holding `bytes` of an unfinished frame that announces the pre-login limit. */
async function partialFrame(f: Fire, from: string, bytes: number): Promise<TLSSocket> {
  const s = await rawTls(f, from);
  s.write(linkFrame(Buffer.from("COHORT-LINK/1")));
  // The status frame: u32 length 1, then 0x00 (accepted); it may come in two reads.
  await new Promise<void>((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 5) return;
      s.off("data", onData);
      if (got[4] === 0) resolve();
      else reject(new Error(`link refused: ${got.subarray(5).toString()}`));
    };
    s.on("data", onData);
  });
  // Handed to the kernel before the next connection: the holders' bytes reach the server first.
  await new Promise<void>((resolve, reject) =>
    s.write(Buffer.concat([frameHeader(PRE_LOGIN_FRAME_BYTES), Buffer.alloc(bytes - 4)]), (err) => (err ? reject(err) : resolve())),
  );
  return s;
}

// ---------------------------------------------------------------------------------------------
// The table

const ROWS: Record<string, Row> = {
  // Links (src/transport/drivers/errors.ts)
  [LinkErrorCode.Refused]: {
    notAServerRefusal: "the dialer's error for a server that closed before accepting; a listener uses it only for handshakes cut by its own shutdown",
  },
  [LinkErrorCode.Timeout]: {
    on: "mtls",
    slow: true,
    trigger: async (f) => closedSocket(await rawSocket(f)), // no TLS handshake within 10 s
  },
  [LinkErrorCode.Aborted]: { notAServerRefusal: "a dial aborted by its caller (AbortSignal)" },
  [LinkErrorCode.Dns]: { notAServerRefusal: "the dialer's error for a server name that does not resolve (test/transport/dial-errors.test.ts)" },
  [LinkErrorCode.Unreachable]: { notAServerRefusal: "the dialer's error for a network with no route to the server (test/transport/dial-errors.test.ts)" },
  [LinkErrorCode.UntrustedServer]: { notAServerRefusal: "the connector's check of the server certificate" },
  [LinkErrorCode.TlsVersion]: { notAServerRefusal: "the connector's refusal of a server below TLS 1.3" },
  [LinkErrorCode.ServerIdentity]: { notAServerRefusal: "the connector's check of the server certificate's CN" },
  [LinkErrorCode.FrameTooLarge]: { on: "mtls", trigger: (f) => refusedFrameBeforeLogin(f, new Uint8Array(PRE_LOGIN_FRAME_BYTES + 1)) },
  [LinkErrorCode.PreLoginBudget]: {
    // Anonymous links only: on mtls a link whose certificate verified is not charged.
    on: "tls",
    // Unauthenticated links from another address hold the budget but 10 000 bytes.
    round: holding(BUDGET_HOLDERS, async (f) => {
      const s = await partialFrame(f, "127.0.1.1", HELD_PER_CONNECTION);
      return { close: () => s.destroy() };
    }),
    trigger: async (f) => closedSocket(await partialFrame(f, f.from, 30_000)),
  },
  [LinkErrorCode.Closed]: { notAServerRefusal: "a link that closed is not a refusal (the server skips ERR_LINK_CLOSED)" },
  [LinkErrorCode.Config]: { notAServerRefusal: "bad local options (TLS material, limits), thrown at listen or dial" },
  [LinkErrorCode.Protocol]: {
    on: "mtls",
    trigger: async (f) => {
      // TLS with a valid certificate, then a frame that is not the link preface.
      const s = await rawTls(f);
      s.write(linkFrame(Buffer.from("HELLO")));
      await closedSocket(s);
    },
  },
  [LinkErrorCode.NoClientCert]: { on: "mtls", trigger: (f) => refusedDial(f, undefined) },
  [LinkErrorCode.UntrustedCert]: { on: "mtls", trigger: (f) => refusedDial(f, servers.tls.kit("site-1")) },
  [LinkErrorCode.CertExpired]: { on: "mtls", trigger: async (f) => refusedDial(f, await expired(f.server)) },
  [LinkErrorCode.CertNotYetValid]: { on: "mtls", trigger: async (f) => refusedDial(f, await issued(f.server, "site-2", new Date(Date.now() + 2 * DAY_MS), 5)) },
  [LinkErrorCode.TooManyConnections]: {
    on: "mtls",
    // 32 sockets from the row's address held (no TLS yet): the 33rd is closed at accept.
    round: holding(32, async (f) => {
      const s = await rawSocket(f);
      s.on("error", () => undefined);
      return { close: () => s.destroy() };
    }),
    trigger: async (f) => closedSocket(await rawSocket(f)),
  },
  [LinkErrorCode.TlsHandshake]: {
    on: "mtls",
    trigger: async (f) => {
      // A client that connects and leaves before any TLS byte.
      const s = await rawSocket(f);
      s.destroy();
      await new Promise((r) => setTimeout(r, 50)); // lets the server see this close before the next connection
    },
  },
  [LinkErrorCode.NotTls]: {
    on: "mtls",
    trigger: async (f) => {
      const s = await rawSocket(f);
      s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await closedSocket(s);
    },
  },

  // Login and messages (src/auth/errors.ts)
  [AuthErrorCode.BadServer]: { notAServerRefusal: "the site's check of the server's login certificate" },
  [AuthErrorCode.ServerIdentity]: { notAServerRefusal: "the site's check of the server's name in the login challenge" },
  [AuthErrorCode.BadSignature]: {
    on: "mtls",
    trigger: (f) =>
      refusedLogin(f, AuthErrorCode.BadSignature, f.server.kit("site-1"), {
        tweakLogin: (m) => ({ ...m, sig: `${m.sig.slice(0, 10)}${m.sig[10] === "A" ? "B" : "A"}${m.sig.slice(11)}` }),
      }),
  },
  // The other project's site-1 (its certificate and key), trusting this server.
  [AuthErrorCode.CertUntrusted]: {
    on: "tls",
    trigger: (f) => refusedLogin(f, AuthErrorCode.CertUntrusted, { ...servers.mtls.kit("site-1"), rootPem: f.server.kit("site-1").rootPem }),
  },
  [AuthErrorCode.CertExpired]: { on: "tls", trigger: async (f) => refusedLogin(f, AuthErrorCode.CertExpired, await expired(f.server)) },
  [AuthErrorCode.NameMismatch]: { on: "mtls", trigger: (f) => refusedLogin(f, AuthErrorCode.NameMismatch, f.server.kit("site-1"), { claimName: "site-2" }) },
  [AuthErrorCode.WrongType]: { on: "mtls", trigger: (f) => refusedLogin(f, AuthErrorCode.WrongType, f.server.kit("admin@nvidia.com"), { type: "client" }) },
  [AuthErrorCode.TlsPeerMismatch]: {
    on: "mtls",
    trigger: (f) => refusedLogin(f, AuthErrorCode.TlsPeerMismatch, f.server.kit("site-1"), { tlsKit: f.server.kit("site-2") }),
  },
  [AuthErrorCode.ProjectMismatch]: {
    on: "mtls",
    trigger: (f) => refusedLogin(f, AuthErrorCode.ProjectMismatch, f.server.kit("site-1"), { project: "another_project" }),
  },
  [AuthErrorCode.Banned]: { on: "mtls", trigger: (f) => refusedLogin(f, AuthErrorCode.Banned, f.server.kit("site-5")) }, // removed_clients.json
  [AuthErrorCode.NoSession]: {
    notAServerRefusal: "a guard of the server's stream digest lookup: a channel gets frames only while its session is in the table",
  },
  [AuthErrorCode.TokenInvalid]: {
    on: "mtls",
    trigger: (f) =>
      refusedRequest(f, AuthErrorCode.TokenInvalid, (r) => {
        const [body = "", sig = ""] = r.token.split(".");
        return r.frame("req", "__heartbeat", new Uint8Array(), { token: `${body}.${sig.slice(0, -4)}AAAA` });
      }),
  },
  [AuthErrorCode.TokenExpired]: {
    on: "mtls",
    slow: true,
    trigger: async (f) => {
      const r = await admin(f);
      await new Promise((res) => setTimeout(res, 3_300)); // token lifetime 2 s + skew 1 s
      const rep = await r.exchange(r.frame("req", "__heartbeat", new Uint8Array()));
      assert.equal(rep.header.code, AuthErrorCode.TokenExpired);
      r.conn.close();
    },
  },
  [AuthErrorCode.TokenNotYours]: {
    on: "mtls",
    trigger: async (f) => {
      const other = await admin(f);
      await refusedRequest(f, AuthErrorCode.TokenNotYours, (r) => r.frame("req", "__heartbeat", new Uint8Array(), { token: other.token }));
      other.conn.close();
    },
  },
  [AuthErrorCode.BadMac]: {
    on: "mtls",
    trigger: (f) =>
      refusedRequest(f, AuthErrorCode.BadMac, (r) => {
        const g = r.frame("req", "__heartbeat", encode(1));
        return { header: g.header, body: encode(2) };
      }),
  },
  [AuthErrorCode.Replay]: {
    on: "mtls",
    trigger: async (f) => {
      const r = await admin(f);
      const frame = r.frame("req", "__heartbeat", encode(1));
      assert.equal((await r.exchange(frame)).header.k, "rep");
      assert.equal((await r.exchange(frame)).header.code, AuthErrorCode.Replay);
      r.conn.close();
    },
  },
  [AuthErrorCode.Stale]: {
    on: "mtls",
    trigger: (f) => refusedRequest(f, AuthErrorCode.Stale, (r) => r.frame("req", "__heartbeat", new Uint8Array(), { ts: Date.now() - 30_000 })),
  },
  [AuthErrorCode.Malformed]: {
    on: "mtls",
    trigger: (f) =>
      refusedRequest(f, AuthErrorCode.Malformed, (r) => {
        const { mac: _mac, ...header } = r.frame("req", "__heartbeat", new Uint8Array()).header;
        return { header, body: new Uint8Array() };
      }),
  },
  [AuthErrorCode.WrongTarget]: { notAServerRefusal: "a site's check that a command the server forwards was addressed to it" },
  [AuthErrorCode.LoginRateLimited]: {
    on: "mtls",
    // The server takes 15 login attempts a minute per address: spend them first.
    prepare: async (f) => {
      for (let i = 0; i < 15; i++) (await open(f, f.server.kit("site-1"))).conn.close();
    },
    trigger: (f) => refusedLogin(f, AuthErrorCode.LoginRateLimited, f.server.kit("site-1")),
  },
  [AuthErrorCode.TooManyClients]: {
    on: "mtls",
    trigger: async (f) => {
      const holder = await loggedIn(f, "site-3"); // max_num_clients 1
      await refusedLogin(f, AuthErrorCode.TooManyClients, f.server.kit("site-2"));
      await leave(f, holder);
    },
  },
  [AuthErrorCode.PluginRefused]: { on: "mtls", trigger: (f) => refusedLogin(f, AuthErrorCode.PluginRefused, f.server.kit("site-4")) }, // cohort.RegistrationAllowList

  // Messaging (src/transport/errors.ts)
  [TransportErrorCode.BadFrame]: { on: "mtls", trigger: (f) => refusedFrameBeforeLogin(f, Uint8Array.from([0, 0, 0, 9])) },
  [TransportErrorCode.HeaderTooLarge]: { on: "mtls", trigger: (f) => refusedFrameBeforeLogin(f, Uint8Array.from([0, 1, 0, 0])) },
  [TransportErrorCode.Timeout]: { notAServerRefusal: "the caller's timeout of a request or a liveness check" },
  [TransportErrorCode.Closed]: { notAServerRefusal: "the caller's error for a closed link" },
  [TransportErrorCode.NoHandler]: {
    on: "mtls",
    trigger: (f) => refusedRequest(f, TransportErrorCode.NoHandler, (r) => r.frame("req", "no.such.topic", new Uint8Array())),
  },
  // The admin handler's request schema throws a plain (zod) error for a body that is not a command.
  [TransportErrorCode.HandlerFailed]: {
    notAServerRefusal:
      "a handler that failed with something other than a CohortError (a bug): every handler a peer reaches decodes and validates its body first (decodeBody), so a bad body is ERR_AUTH_MALFORMED instead (test/transport/typed-body.test.ts)",
  },
  [TransportErrorCode.Refused]: { notAServerRefusal: "the caller's code for a refusal that named none" },
  [TransportErrorCode.LoginTimeout]: {
    on: "mtls",
    slow: true,
    trigger: async (f) => closedByServer(await open(f, f.server.kit("site-1")), 20_000), // no hello within 10 s
  },
  [TransportErrorCode.TooManyLogins]: {
    on: "tls",
    // max_pending_logins 4: four links that have not logged in are held, the fifth is refused.
    round: holding(4, (f) => open(f, f.server.kit("site-1")).then((r) => ({ close: () => r.conn.close() }))),
    trigger: async (f) => closedByServer(await open(f, f.server.kit("site-1"))),
  },
  [TransportErrorCode.NotConnected]: { notAServerRefusal: "the caller's error for a peer without a session" },
  [TransportErrorCode.StreamFailed]: { notAServerRefusal: "not thrown: a failed stream is audited (stream.refused) with the wire error's own code" },
  [TransportErrorCode.SessionConflict]: {
    on: "mtls",
    trigger: async (f) => {
      const live = await loggedIn(f, "site-1", { answerPings: true });
      await refusedLogin(f, TransportErrorCode.SessionConflict, f.server.kit("site-1"));
      await leave(f, live);
    },
  },
  [TransportErrorCode.HeartbeatMissed]: {
    on: "tls",
    // heart_beat_timeout 2 s: a session that stays silent is removed.
    trigger: async (f) => {
      const r = await loggedIn(f, "site-1");
      await closedByServer(r, 15_000);
    },
  },

  // Audit checkpoints (src/audit/errors.ts)
  [AuditErrorCode.LogUnreadable]: { notAServerRefusal: "`cohort audit verify` reading a log file" },
  [AuditErrorCode.WitnessInvalid]: { notAServerRefusal: "`cohort audit verify --witness` given the site's own log" },
  [AuditErrorCode.CheckpointInvalid]: { on: "tls", trigger: (f) => refusedCheckpoint(f, AuditErrorCode.CheckpointInvalid, "site-1", { v: 1, site: "site-1" }) },
  [AuditErrorCode.CheckpointCert]: {
    on: "tls",
    trigger: (f) => refusedCheckpoint(f, AuditErrorCode.CheckpointCert, "site-2", siteCheckpoint(f, "site-2", servers.mtls.kit("site-2"))),
  },
  [AuditErrorCode.CheckpointSigner]: {
    on: "tls",
    trigger: (f) => refusedCheckpoint(f, AuditErrorCode.CheckpointSigner, "site-2", siteCheckpoint(f, "site-3")),
  },
  [AuditErrorCode.CheckpointSignature]: {
    on: "tls",
    trigger: (f) => refusedCheckpoint(f, AuditErrorCode.CheckpointSignature, "site-2", { ...siteCheckpoint(f, "site-2"), seq: 999_999 }),
  },
  [AuditErrorCode.CheckpointTorn]: { notAServerRefusal: "the sender cannot checkpoint its own torn log" },
  [AuditErrorCode.CheckpointNotAllowed]: {
    on: "mtls",
    trigger: (f) => refusedRequest(f, AuditErrorCode.CheckpointNotAllowed, (r) => r.frame("req", TOPIC_CHECKPOINT, encode({}))),
  },
  [AuditErrorCode.CheckpointRate]: {
    on: "tls",
    // Witnessed at most once per 5 s per site: when this one is taken, the next is refused.
    trigger: async (f) => {
      const first = await sendCheckpoint(f, "site-1", siteCheckpoint(f, "site-1"));
      if (first === undefined) await refusedCheckpoint(f, AuditErrorCode.CheckpointRate, "site-1", siteCheckpoint(f, "site-1"));
      else assert.equal(first, AuditErrorCode.CheckpointRate);
    },
  },
  [AuditErrorCode.CheckpointStale]: {
    on: "tls",
    // A checkpoint witnessed at the start; more than 5 s later, the same one again is stale.
    prepare: async (f) => {
      const cp = siteCheckpoint(f, "site-3");
      assert.equal(await sendCheckpoint(f, "site-3", cp), undefined);
      f.state.set("cp", cp);
      f.state.set("staleFrom", Date.now() + 5_500);
    },
    trigger: async (f) => {
      const wait = (f.state.get("staleFrom") as number) - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await refusedCheckpoint(f, AuditErrorCode.CheckpointStale, "site-3", f.state.get("cp"));
    },
  },
  [AuditErrorCode.CertNotFound]: { notAServerRefusal: "`cohort audit verify` without the signer's certificate" },
  [AuditErrorCode.TraceNotFound]: { notAServerRefusal: "`cohort audit trace` of an unknown event" },

  // Outside the catalogues, passed to the transport's refusal writer by a server handler.
  ERR_ADMIN_NOT_ADMIN: {
    on: "mtls",
    trigger: (f) =>
      refusedRequest(
        f,
        "ERR_ADMIN_NOT_ADMIN",
        (r) => r.frame("req", TOPIC_ADMIN, encode({})),
        (g) => loggedIn(g, "site-2"),
      ),
  },
};

/** Codes of the four catalogues. */
const CATALOGUE_CODES: readonly string[] = [LinkErrorCode, AuthErrorCode, TransportErrorCode, AuditErrorCode].flatMap((c) => Object.values(c));
/** Codes from elsewhere that the server's refusal writer takes and this table covers. */
const EXTRA_CODES: readonly string[] = ["ERR_ADMIN_NOT_ADMIN"];

const isTriggered = (row: Row): row is Triggered => "trigger" in row;

// ---------------------------------------------------------------------------------------------

test("every code of the catalogues has exactly one row, and every row a known code", () => {
  assert.equal(new Set(CATALOGUE_CODES).size, CATALOGUE_CODES.length, "a code appears in two catalogues");
  const known = new Set([...CATALOGUE_CODES, ...EXTRA_CODES]);
  const missing = CATALOGUE_CODES.filter((c) => !(c in ROWS));
  assert.deepEqual(missing, [], "codes without a row: add a trigger, notAServerRefusal or coveredBy for each");
  assert.deepEqual(
    Object.keys(ROWS).filter((c) => !known.has(c)),
    [],
    "rows naming a code that no catalogue has",
  );
  for (const [code, row] of Object.entries(ROWS)) {
    const kinds = ["trigger", "notAServerRefusal", "coveredBy"].filter((k) => k in row);
    assert.equal(kinds.length, 1, `${code}: exactly one of trigger, notAServerRefusal, coveredBy`);
  }
});

test("every coveredBy row names a test that exists", () => {
  for (const [code, row] of Object.entries(ROWS)) {
    if (!("coveredBy" in row)) continue;
    const [file = "", name = ""] = row.coveredBy.split(" › ");
    const path = join(REPO_ROOT, file);
    assert.ok(existsSync(path), `${code}: ${file} does not exist`);
    assert.ok(readFileSync(path, "utf8").includes(name), `${code}: ${file} has no test named ${JSON.stringify(name)}`);
  }
});

// The servers, started once for the table's rows.
const servers = {} as { mtls: RunningServer; tls: RunningServer };

async function startServer(
  security: "mtls" | "tls",
  settings: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  prepareKit?: (kitDir: string) => void,
): Promise<RunningServer> {
  const name = `catalogue_${security}`;
  const sites = ["site-3", "site-4", "site-5"].map((s, i) => `  - {name: ${s}, type: client, org: org_${"cde"[i]}, connect_to: 127.0.0.1}\n`).join("");
  const { dir, prodDir, port } = await provisionProject("tcp", security, { name, extraParticipants: sites });
  const kitDir = join(prodDir, "localhost");
  const resPath = join(kitDir, "local", "resources.json");
  const res = JSON.parse(readFileSync(`${resPath}.default`, "utf8")) as { servers: Record<string, unknown>[] };
  Object.assign(res.servers[0] ?? {}, { audit_refusal_burst: BURST, audit_refusal_per_second: PER_SECOND, ...settings });
  writeFile(resPath, JSON.stringify({ ...res, ...extra }));
  prepareKit?.(kitDir);
  const proc = startParticipantProcess(kitDir, { server: true });
  await proc.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`), 60_000);
  return {
    security,
    project: name,
    kitDir,
    port,
    rootKeyPem: readFileSync(join(dir, "ws", name, "state", "rootCA.key"), "utf8"),
    process: proc,
    kit: (n) => readKit(prodDir, n),
  };
}

describe("refusals of every catalogue code, through the rate-limited refusal writer", { timeout: 240_000 }, () => {
  before(async () => {
    [servers.mtls, servers.tls] = await Promise.all([
      startServer(
        "mtls",
        { session_token_lifetime: 2, clock_skew_tolerance: 1, login_attempts_per_minute: 15, max_num_clients: 1 },
        { plugins: [{ path: "cohort.RegistrationAllowList", args: { names: ["site-1", "site-2", "site-3", "site-5"] } }] },
        (kitDir) =>
          writeFile(
            join(kitDir, "workspace", "removed_clients.json"),
            JSON.stringify({ "site-5": { fingerprint: "*", by: "admin@nvidia.com", at: new Date().toISOString() } }),
          ),
      ),
      startServer("tls", { heart_beat_timeout: 2, login_attempts_per_minute: 100, max_pending_logins: 4, prelogin_budget_bytes: PRELOGIN_BUDGET }),
    ]);
  });
  after(async () => {
    for (const s of [servers.mtls, servers.tls]) if (s) assert.equal(await s.process.stop(), 0, s.process.output);
  });

  test(`each trigger: ${BURST} lines of ${BURST + 2} refusals, then after the refill one audit.suppressed line and the refusal's own; the servers still serve`, async (t) => {
    const started = Date.now();
    const rows = Object.entries(ROWS).filter((e): e is [string, Triggered] => isTriggered(e[1]));
    const fires = new Map(
      rows.map(([code, row], i) => [code, { server: servers[row.on], from: `127.0.0.${10 + i}`, state: new Map<string, unknown>() } satisfies Fire]),
    );
    const fireOf = (code: string): Fire => fires.get(code) as Fire;
    const lines = (code: string): Record<string, unknown>[] => {
      const f = fireOf(code);
      // Lines without an address (null: checkpoint refusals name the peer only) count for the row too.
      return auditRecords(f.server.kitDir).filter((l) => l["code"] === code && (l["address"] ?? f.from) === f.from);
    };
    const describeLine = (l: Record<string, unknown>): string =>
      `${String(l["action"])} ${String(l["outcome"])} [${String(l["code"])}] ${String(l["reason"]).slice(0, 160)}`;
    // The row's lines, and what else its address got (a refusal audited under another code).
    const show = (code: string): string =>
      JSON.stringify(
        {
          lines: lines(code).map(describeLine),
          fromItsAddress: auditRecords(fireOf(code).server.kitDir)
            .filter((l) => l["address"] === fireOf(code).from && l["code"] !== code)
            .map(describeLine),
        },
        null,
        1,
      );

    const active = rows.filter(([code, row]) => {
      if (row.knownDefect) t.diagnostic(`${code}: skipped, known defect: ${row.knownDefect}`);
      return !row.knownDefect;
    });
    await Promise.all(active.filter(([, row]) => row.prepare).map(([code, row]) => row.prepare?.(fireOf(code))));

    /** One round of `times` fires; resolves when `expected` lines with the code are in the log. */
    const round = async (code: string, row: Triggered, times: number, expected: number): Promise<number> => {
      const f = fireOf(code);
      await row.round?.before(f);
      try {
        if (row.slow) await Promise.all(Array.from({ length: times }, () => row.trigger(f)));
        else for (let i = 0; i < times; i++) await row.trigger(f);
      } finally {
        await row.round?.after(f);
      }
      await until(
        () => lines(code).length >= expected,
        20_000,
        () => `${code}: ${expected} audit lines expected, got ${show(code)}`,
      );
      return Date.now();
    };
    // Rows in turn (they share the servers' session and login limits), the slow ones beside them.
    const runRows = async (list: [string, Triggered][]): Promise<void> => {
      const firstDone = new Map<string, number>();
      for (const [code, row] of list) firstDone.set(code, await round(code, row, BURST + 2, BURST));
      for (const [code, row] of list) {
        const wait = (firstDone.get(code) ?? 0) + REFILL_MS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await round(code, row, 1, BURST + 2);
      }
    };
    await Promise.all([runRows(active.filter(([, row]) => !row.slow)), ...active.filter(([, row]) => row.slow).map((e) => runRows([e]))]);

    const failures: string[] = [];
    for (const [code] of active) {
      const got = lines(code);
      const suppressed = got[BURST];
      const ok =
        got.length === BURST + 2 &&
        got.every((l) => l["outcome"] === "denied") &&
        got.filter((l, i) => i !== BURST && l["action"] !== "audit.suppressed").length === BURST + 1 &&
        suppressed?.["action"] === "audit.suppressed" &&
        /^2 similar refusals were not written/.test(String(suppressed["reason"]));
      if (!ok) failures.push(`${code}: ${show(code)}`);
    }
    assert.deepEqual(failures, [], "rows whose audit lines are not burst, summary, line");

    // Both servers still take a real login and answer on it.
    for (const s of [servers.mtls, servers.tls]) {
      const r = await RawSession.open(driver, s.port, s.kit("site-2"), { security: s.security });
      await r.login({ project: s.project });
      assert.equal((await r.exchange(r.frame("req", "__heartbeat", new Uint8Array()))).header.k, "rep");
      r.conn.close();
    }
    t.diagnostic(`${active.length} rows triggered in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});
