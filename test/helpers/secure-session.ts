/**
 * Helpers for transport tests: a provisioned project's credentials, a server over any driver, and
 * a hand-driven client ("raw session") that performs the login with the real protocol and then
 * lets a test craft any frame (forged tokens, replays, swapped bodies…).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { AuditLog, RefusalAuditor } from "../../src/audit/index.js";
import { ClientLogin, computeMac, type LoginMessage, type SessionKeys } from "../../src/auth/index.js";
import { decode, encode } from "../../src/wire/index.js";
import type { Connection, ConnectionSecurity, Driver } from "../../src/transport/driver.js";
import { decodeEnvelope, encodeEnvelope, type Envelope, type Header, type Kind } from "../../src/transport/envelope.js";
import { TransportServer, type TransportServerConfig } from "../../src/transport/server.js";
import { TransportClient } from "../../src/transport/client.js";
import { tempDir, writeFile } from "./index.js";

export interface Kit {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly rootPem: string;
}

export interface TestProject {
  readonly dir: string;
  readonly prodDir: string;
  readonly project: string;
  readonly server: Kit;
  kit(name: string): Kit;
}

/** Provisions a small project (server `localhost`, sites site-1..3, two admins) once per test file. */
export async function provisionTestProject(name = "transport_test", extra = ""): Promise<TestProject> {
  const dir = tempDir("cohort-transport-");
  const file = writeFile(
    join(dir, "project.yml"),
    `api_version: 3
name: ${name}
participants:
  - {name: localhost, type: server, org: nvidia, host_names: [127.0.0.1, "::1"]}
  - {name: site-1, type: client, org: org_a}
  - {name: site-2, type: client, org: org_b}
  - {name: site-3, type: client, org: org_c}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
  - {name: lead@org-a.org, type: admin, org: org_a, role: lead}
${extra}`,
  );
  const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
  const kit = (n: string): Kit => readKit(r.prodDir, n);
  return { dir, prodDir: r.prodDir, project: name, server: kit("localhost"), kit };
}

/** A participant's credentials from a provisioned prod folder (`localhost` is the server). */
export function readKit(prodDir: string, name: string): Kit {
  const startup = join(prodDir, name, "startup");
  const server = name === "localhost";
  return {
    name,
    certPem: readFileSync(join(startup, server ? "server.crt" : "client.crt"), "utf8"),
    keyPem: readFileSync(join(startup, server ? "server.key" : "client.key"), "utf8"),
    rootPem: readFileSync(join(startup, "rootCA.pem"), "utf8"),
  };
}

export interface TestServer {
  readonly server: TransportServer;
  readonly port: number;
  readonly auditPath: string;
  auditLines(): Record<string, unknown>[];
}

/** A real TransportClient of `name` (site-1 by default) for a server started by {@link startTestServer} on a clear link. */
export function testClient(p: TestProject, driver: Driver, port: number, name = "site-1"): TransportClient {
  const kit = p.kit(name);
  return new TransportClient({
    name,
    type: "client",
    project: p.project,
    certPem: kit.certPem,
    keyPem: kit.keyPem,
    rootPem: kit.rootPem,
    serverName: "localhost",
    driver,
    host: "127.0.0.1",
    port,
    security: "clear",
  });
}

export async function startTestServer(
  p: TestProject,
  driver: Driver,
  security: ConnectionSecurity = "clear",
  overrides: Partial<TransportServerConfig> = {},
): Promise<TestServer> {
  const auditPath = join(tempDir("cohort-audit-"), "audit.log");
  const audit = AuditLog.open(auditPath, "localhost");
  const server = new TransportServer({
    name: "localhost",
    project: p.project,
    certPem: p.server.certPem,
    keyPem: p.server.keyPem,
    rootPem: p.server.rootPem,
    listeners: [{ driver, host: "127.0.0.1", port: 0, security, accepts: "all" }],
    audit,
    refusals: new RefusalAuditor(audit, { burst: 1000, perSecond: 1000 }),
    ...overrides,
  });
  const [addr] = await server.start();
  return {
    server,
    port: addr?.port ?? 0,
    auditPath,
    auditLines: () =>
      readFileSync(auditPath, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A client driven by hand: real login, then arbitrary frames. */
export class RawSession {
  private seq = 0;
  private readonly waiters: ((e: Envelope) => void)[] = [];
  readonly received: Envelope[] = [];
  keys: SessionKeys | undefined;
  token = "";
  closed = false;

  private constructor(
    readonly conn: Connection,
    readonly kit: Kit,
    answerPings: boolean,
  ) {
    conn.onFrame((f) => {
      const e = decodeEnvelope(f);
      if (answerPings && e.header.k === "ping" && this.keys) {
        // A live session: the server's liveness check is answered like a real peer would.
        void this.send(this.frame("pong", "", new Uint8Array(), { re: e.header.id })).catch(() => undefined);
        return;
      }
      const w = this.waiters.shift();
      if (w) w(e);
      else this.received.push(e);
    });
    conn.onClose(() => {
      this.closed = true;
    });
  }

  /**
   * Dials the server. `localAddress`: connect from this address (tcp, http); `tlsKit`: the
   * certificate shown in the mtls handshake when it is not the login's; `answerPings`: answer the
   * server's liveness checks (authenticated pongs) once logged in.
   */
  static async open(
    driver: Driver,
    port: number,
    kit: Kit,
    options: { security?: ConnectionSecurity; localAddress?: string; tlsKit?: Kit; answerPings?: boolean } = {},
  ): Promise<RawSession> {
    const security = options.security ?? "clear";
    const tlsKit = options.tlsKit ?? kit;
    const conn = await driver.dial({
      host: "127.0.0.1",
      port,
      security,
      tls: { rootCaPem: kit.rootPem, ...(security === "mtls" ? { certPem: tlsKit.certPem, keyPem: tlsKit.keyPem } : {}) },
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    return new RawSession(conn, kit, options.answerPings ?? false);
  }

  next(timeoutMs = 5_000): Promise<Envelope> {
    const queued = this.received.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no frame within timeout")), timeoutMs);
      this.waiters.push((e) => {
        clearTimeout(t);
        resolve(e);
      });
    });
  }

  /** Runs the login protocol; resolves with the welcome, or rejects with the server's refusal. */
  async login(
    options: { claimName?: string; type?: "client" | "admin"; project?: string; serverName?: string; tweakLogin?: (login: LoginMessage) => LoginMessage } = {},
  ): Promise<void> {
    const login = new ClientLogin({
      name: options.claimName ?? this.kit.name,
      type: options.type ?? "client",
      project: options.project ?? "transport_test",
      certPem: this.kit.certPem,
      keyPem: this.kit.keyPem,
      rootPem: this.kit.rootPem,
      serverName: options.serverName ?? "localhost",
    });
    await this.conn.send(encodeEnvelope({ k: "hello", id: randomBytes(16).toString("hex") }, [encode(login.hello())]));
    const challenge = await this.next();
    if (challenge.header.k === "refused") throw Object.assign(new Error(challenge.header.msg ?? ""), { code: challenge.header.code });
    const answer = login.answer(decode(challenge.body));
    this.keys = answer.keys;
    const message = options.tweakLogin ? options.tweakLogin(answer.login) : answer.login;
    await this.conn.send(encodeEnvelope({ k: "login", id: randomBytes(16).toString("hex") }, [encode(message)]));
    const welcome = await this.next();
    if (welcome.header.k === "refused") throw Object.assign(new Error(welcome.header.msg ?? ""), { code: welcome.header.code });
    this.token = (decode(welcome.body) as { token: string }).token;
  }

  /** Builds a correctly authenticated frame; `tweak` may change anything before sending. */
  frame(
    kind: Kind,
    topic: string,
    body: Uint8Array,
    tweak: { sender?: string; token?: string; ts?: number; seq?: number; key?: Uint8Array; re?: string } = {},
  ): { header: Header; body: Uint8Array } {
    const id = randomBytes(16).toString("hex");
    const ts = tweak.ts ?? Date.now();
    const seq = tweak.seq ?? ++this.seq;
    const sender = tweak.sender ?? this.kit.name;
    const key = tweak.key ?? this.keys?.clientToServer ?? new Uint8Array(32);
    const mac = computeMac(key, { kind, id, replyTo: tweak.re ?? "", topic, sender, timestamp: ts, seq }, [body]);
    return { header: { k: kind, id, ...(tweak.re ? { re: tweak.re } : {}), t: topic, n: sender, tok: tweak.token ?? this.token, ts, sq: seq, mac }, body };
  }

  send(f: { header: Header; body: Uint8Array }): Promise<void> {
    return this.conn.send(encodeEnvelope(f.header, [f.body]));
  }

  /** Sends a frame and returns the server's answer to it (rep or refused). */
  async exchange(f: { header: Header; body: Uint8Array }): Promise<Envelope> {
    await this.send(f);
    for (;;) {
      const e = await this.next();
      if (e.header.re === f.header.id) return e;
    }
  }
}
