import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { CohortError, isCohortError } from "../errors/index.js";
import {
  AuthErrorCode,
  DEFAULT_TOKEN_LIFETIME_S,
  ServerLogin,
  issueToken,
  verifyToken,
  type PeerIdentity,
  type PendingLogin,
  type SessionKeys,
} from "../auth/index.js";
import type { AuditLog, RefusalAuditor } from "../audit/index.js";
import { decode, encode, StreamReceiver, type StreamReceiverOptions } from "../wire/index.js";
import type { Connection, ConnectionRefusal, ConnectionSecurity, Driver, LinkLimits, Listener, TlsMaterial } from "./driver.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope.js";
import { SecureChannel, type Body, type MessageHandler, type RequestHandler, type StreamHandler } from "./channel.js";
import { TransportErrorCode } from "./errors.js";
import { LoginRateLimiter } from "./login-limiter.js";
import { PreLoginBudget } from "./drivers/prelogin.js";
import { LinkErrorCode } from "./drivers/errors.js";

export const TOPIC_HEARTBEAT = "__heartbeat";
export const TOPIC_RENEW = "__renew";

export interface ServerListenerConfig {
  readonly driver: Driver;
  readonly host: string;
  readonly port: number;
  readonly security: ConnectionSecurity;
  /** Which peers this listener takes: both (one port), or only sites / only admins (two ports). */
  readonly accepts: "all" | "client" | "admin";
}

export interface TransportServerConfig {
  /** Server CN and project name. */
  readonly name: string;
  readonly project: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly rootPem: string;
  readonly listeners: readonly ServerListenerConfig[];
  readonly audit: AuditLog;
  readonly refusals: RefusalAuditor;
  readonly tokenLifetimeS?: number;
  readonly skewMs?: number;
  /** Sessions silent for longer are removed (FLARE's heart_beat_timeout, default 600 s). */
  readonly heartbeatTimeoutMs?: number;
  /** hello → login must complete within this (default 10 s). */
  readonly loginTimeoutMs?: number;
  /**
   * A login as a site that has a session is refused when that session answers a ping within this
   * time (default 3 s); otherwise the old session is replaced.
   */
  readonly livenessCheckMs?: number;
  /** Logins in progress at once, all addresses (default 64). */
  readonly maxPendingLogins?: number;
  /** Login attempts per address per minute (default 30). */
  readonly loginAttemptsPerMinute?: number;
  readonly linkLimits?: Partial<LinkLimits>;
  /** Bytes buffered for all connections that have not logged in, every listener together (default 16 MiB). */
  readonly preLoginBudgetBytes?: number;
  readonly streams?: StreamReceiverOptions;
  /** Site sessions allowed at once (FLARE's max_num_clients, default 100); admins do not count. */
  readonly maxClients?: number;
  /** Refuses logins of banned certificates (remove_client, a later issue). */
  readonly isBanned?: (identity: PeerIdentity) => boolean;
  /** Site plugins' registration check: a refusal reason, or undefined to admit. */
  readonly admit?: (identity: PeerIdentity) => string | undefined;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

export interface Session {
  /** Key in the session table: the site name, or `admin#sid` (an admin may hold several sessions). */
  readonly key: string;
  readonly sid: string;
  readonly identity: PeerIdentity;
  readonly channel: SecureChannel;
  readonly connection: Connection;
  readonly since: Date;
  lastSeen: number;
  /** Tokens of this session and their expiry (s): the current one, and the previous until it expires. */
  readonly tokens: Map<string, number>;
}

/**
 * The server end of the transport: listeners, login, sessions with expiring tokens, per-message
 * authentication (SecureChannel), heartbeats and removal of silent sessions, and an audit line for
 * every refusal. Handlers registered with `handle*` serve every authenticated peer.
 */
export class TransportServer {
  private readonly login: ServerLogin;
  private readonly key: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly sessions = new Map<string, Session>();
  private readonly listeners: Listener[] = [];
  private readonly connections = new Set<Connection>();
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly messageHandlers = new Map<string, MessageHandler>();
  private readonly streamHandlers = new Map<string, StreamHandler>();
  private readonly sessionListeners: ((s: Session, event: "open" | "close") => void)[] = [];
  private readonly limiter: LoginRateLimiter;
  private readonly streams: StreamReceiver;
  private pendingLogins = 0;
  /** Logins in progress per address (oldest first), as the function that drops each. */
  private readonly pendingByAddress = new Map<string, (() => void)[]>();
  /** Site names whose live session is being ping-checked because of a new login. */
  private readonly livenessChecks = new Set<string>();
  private sweeper: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(private readonly c: TransportServerConfig) {
    this.login = new ServerLogin({ name: c.name, project: c.project, certPem: c.certPem, keyPem: c.keyPem, rootPem: c.rootPem });
    this.key = createPrivateKey(c.keyPem);
    this.publicKey = createPublicKey(this.key);
    this.limiter = new LoginRateLimiter(c.loginAttemptsPerMinute ?? 30, c.now);
    this.streams = new StreamReceiver({
      ...c.streams,
      digestFor: (peer) => {
        const s = this.sessions.get(peer);
        if (!s) throw new CohortError(AuthErrorCode.NoSession, `no session for ${peer}`, {});
        return s.channel.incomingStreamDigest();
      },
      onStreamFailed: ({ peer, error }) => this.refused({ action: "stream.refused", peer, code: error.code, reason: error.message }),
    });
  }

  private now(): number {
    return this.c.now?.() ?? Date.now();
  }

  /** Starts every listener; resolves with their bound addresses. */
  async start(): Promise<{ host: string; port: number }[]> {
    const tls: TlsMaterial = { rootCaPem: this.c.rootPem, certPem: this.c.certPem, keyPem: this.c.keyPem };
    // One budget for every listener: the cap is on the whole server's unauthenticated memory.
    const preLoginBudget = new PreLoginBudget(this.c.preLoginBudgetBytes);
    for (const l of this.c.listeners) {
      const listener = await l.driver.listen({
        host: l.host,
        port: l.port,
        security: l.security,
        tls,
        preLoginBudget,
        ...(this.c.linkLimits ? { limits: this.c.linkLimits } : {}),
        onConnection: (conn) => this.accept(conn, l.accepts),
        onRefused: (r: ConnectionRefusal) => this.refused({ action: "link.refused", address: r.remoteAddress, code: r.code, reason: r.reason }),
      });
      this.listeners.push(listener);
    }
    this.streams.start();
    const timeout = this.c.heartbeatTimeoutMs ?? 600_000;
    this.sweeper = setInterval(() => this.sweepSilent(timeout), Math.max(50, Math.min(5_000, timeout / 4)));
    this.sweeper.unref();
    this.c.audit.append({ action: "server.start", outcome: "ok", reason: `listening on ${this.listeners.map((l) => `${l.host}:${l.port}`).join(", ")}` });
    return this.listeners.map((l) => ({ host: l.host, port: l.port }));
  }

  handleRequest(topic: string, handler: RequestHandler): void {
    this.requestHandlers.set(topic, handler);
    for (const s of this.sessions.values()) s.channel.onRequest(topic, handler);
  }

  handleMessage(topic: string, handler: MessageHandler): void {
    this.messageHandlers.set(topic, handler);
    for (const s of this.sessions.values()) s.channel.onMessage(topic, handler);
  }

  handleStream(topic: string, handler: StreamHandler): void {
    this.streamHandlers.set(topic, handler);
    for (const s of this.sessions.values()) s.channel.onStream(topic, handler);
  }

  onSession(listener: (s: Session, event: "open" | "close") => void): void {
    this.sessionListeners.push(listener);
  }

  session(name: string): Session | undefined {
    return this.sessions.get(name);
  }

  sessionNames(): string[] {
    return [...this.sessions.keys()].sort();
  }

  private channelOf(name: string): SecureChannel {
    const s = this.sessions.get(name);
    if (!s) throw new CohortError(TransportErrorCode.NotConnected, `${name} is not connected`, { peer: name });
    return s.channel;
  }

  // These never throw: a peer that is gone is a rejected promise, like any other link failure.
  request(peer: string, topic: string, body: Body, options?: { timeoutMs?: number }): Promise<Uint8Array> {
    try {
      return this.channelOf(peer).request(topic, body, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  send(peer: string, topic: string, body: Body): Promise<void> {
    try {
      return this.channelOf(peer).send(topic, body);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  sendStream(peer: string, topic: string, payload: Body, options?: { chunkBytes?: number }): Promise<void> {
    try {
      return this.channelOf(peer).sendStream(topic, payload, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Disconnects a session now (e.g. remove_client); its peer must log in again. */
  drop(key: string, reason: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.endSession(s, reason);
    s.channel.close(reason);
  }

  /** Graceful stop: says bye to every peer, closes listeners and links. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.allSettled([...this.sessions.values()].map((s) => s.channel.sendFrame("bye", { id: randomBytes(16).toString("hex") }, [])));
    for (const s of [...this.sessions.values()]) this.drop(s.key, "server stopping");
    await Promise.allSettled(this.listeners.map((l) => l.close()));
    for (const conn of this.connections) conn.close("server stopping");
    this.streams.close();
    this.c.audit.append({ action: "server.stop", outcome: "ok" });
  }

  private refused(event: { action: string; code: string; reason: string; peer?: string; address?: string; user?: string }): void {
    this.c.refusals.record({ ...event, outcome: "denied" });
    this.c.log?.(
      `refused ${event.action}${event.peer ? ` from ${event.peer}` : ""}${event.address ? ` (${event.address})` : ""}: [${event.code}] ${event.reason}`,
    );
  }

  /** A new link: run the login protocol on it, then hand it to a SecureChannel. */
  private accept(conn: Connection, accepts: ServerListenerConfig["accepts"]): void {
    if (this.stopping) {
      conn.close("server stopping");
      return;
    }
    this.connections.add(conn);
    let channel: SecureChannel | undefined;
    let pending: PendingLogin | undefined;
    let finished = false;
    const address = conn.remoteAddress;
    const fail = (code: string, reason: string, peer?: string): void => {
      if (finished) return;
      finished = true;
      release();
      this.refused({ action: "login.refused", code, reason, address, ...(peer ? { peer } : {}) });
      const refusal = encodeEnvelope({ k: "refused", id: randomBytes(16).toString("hex"), code, msg: reason.slice(0, 2000) }, []);
      conn
        .send(refusal)
        .catch(() => undefined)
        .finally(() => conn.close(reason));
    };
    let released = false;
    // On mtls a link whose client certificate verified is not anonymous: it does not take a slot
    // of the unauthenticated pool.
    const counted = conn.peerCertificate === undefined;
    const evict = (): void =>
      fail(
        TransportErrorCode.TooManyLogins,
        `the login pool is full and ${address} holds the most logins in progress; the oldest was dropped for another address`,
      );
    const release = (): void => {
      if (released) return;
      released = true;
      if (counted) {
        this.pendingLogins--;
        this.forgetPending(address, evict);
      }
      clearTimeout(timer);
    };
    if (counted) {
      this.pendingLogins++;
      this.pendingByAddress.set(address, [...(this.pendingByAddress.get(address) ?? []), evict]);
    }
    const timer = setTimeout(
      () => fail(TransportErrorCode.LoginTimeout, `login not completed within ${this.c.loginTimeoutMs ?? 10_000} ms`),
      this.c.loginTimeoutMs ?? 10_000,
    );
    timer.unref();
    if (counted && this.pendingLogins > (this.c.maxPendingLogins ?? 64)) {
      // Full: the address holding the most logins in progress gives up its oldest, so that many
      // addresses at their connection limit cannot lock other peers out until the login timer.
      const victim = this.evictionCandidate(address);
      if (victim) victim();
      else fail(TransportErrorCode.TooManyLogins, `too many logins in progress (${this.pendingLogins - 1}); try again shortly`);
    }
    if (finished) {
      // refused above
    } else if (!this.limiter.allow(address)) {
      fail(AuthErrorCode.LoginRateLimited, `more than ${this.c.loginAttemptsPerMinute ?? 30} login attempts from ${address} within a minute`);
    }
    conn.onClose((error) => {
      this.connections.delete(conn);
      if (!finished) {
        finished = true;
        release();
        // The link failed before login (a frame above the pre-login limit, the pre-login budget): audit why.
        if (isCohortError(error) && error.code !== LinkErrorCode.Closed) {
          this.refused({ action: "login.refused", code: error.code, reason: error.message, address, ...(pending ? { peer: pending.hello.name } : {}) });
        }
      }
      channel?.handleClose();
    });
    conn.onFrame((frame) => {
      if (channel) {
        channel.handleFrame(frame);
        return;
      }
      if (finished) return;
      try {
        const env = decodeEnvelope(frame);
        const body = decode(env.body, { maxMessageBytes: 64 * 1024, maxDepth: 4 });
        if (env.header.k === "hello" && !pending) {
          pending = this.login.challenge(body);
          if (accepts !== "all" && pending.hello.type !== accepts) {
            throw new CohortError(
              AuthErrorCode.WrongType,
              `this port takes ${accepts} logins only; ${pending.hello.name} logged in as ${pending.hello.type}`,
              {},
            );
          }
          void conn.send(encodeEnvelope({ k: "challenge", id: randomBytes(16).toString("hex") }, [encode(pending.challenge)])).catch(() => undefined);
          return;
        }
        if (env.header.k === "login" && pending) {
          const { identity, keys } = this.login.finish(pending, body, conn.peerCertificate, new Date(this.now()));
          if (this.c.isBanned?.(identity))
            throw new CohortError(
              AuthErrorCode.Banned,
              `${identity.name} has been removed from the project (remove_client); an admin must enable_client it first`,
              {},
            );
          const pluginRefusal = this.c.admit?.(identity);
          if (pluginRefusal) throw new CohortError(AuthErrorCode.PluginRefused, pluginRefusal, { name: identity.name });
          const sites = [...this.sessions.values()].filter((x) => x.identity.type === "client" && x.identity.name !== identity.name).length;
          if (identity.type === "client" && sites >= (this.c.maxClients ?? 100)) {
            throw new CohortError(
              AuthErrorCode.TooManyClients,
              `the server already has ${sites} sites connected (max_num_clients ${this.c.maxClients ?? 100})`,
              { max: this.c.maxClients ?? 100 },
            );
          }
          const admitSession = (): void => {
            if (finished) return;
            finished = true;
            release();
            // Logged in: the link now takes frames up to maxFrameBytes and leaves the pre-login budget.
            conn.authenticated?.();
            channel = this.openSession(conn, identity, keys);
          };
          const live = identity.type === "client" ? this.sessions.get(identity.name) : this.adminSessionElsewhere(identity.name, address);
          if (live === undefined) {
            admitSession();
            return;
          }
          // One session per site, and an admin's sessions from one address at a time: the live one
          // keeps it unless it fails a liveness check (a participant restarted after a crash, whose
          // old link is half-open, gets back in within seconds).
          if (this.livenessChecks.has(identity.name)) {
            throw new CohortError(
              TransportErrorCode.SessionConflict,
              `another login as ${identity.name} is being checked against its live session; retry in a few seconds`,
              { name: identity.name },
            );
          }
          this.livenessChecks.add(identity.name);
          const checkMs = this.c.livenessCheckMs ?? 3_000;
          void live.channel
            .ping(checkMs)
            .then(
              () => {
                if (this.sessions.get(live.key) !== live) return admitSession();
                fail(
                  TransportErrorCode.SessionConflict,
                  identity.type === "client"
                    ? `${identity.name} already has a live session (since ${live.since.toISOString()}, from ${live.connection.remoteAddress}) that answered a liveness check: a second login with its certificate is refused (a copied kit or a stolen key?). If this is the site restarting, it gets in once the old session stops answering (within ${checkMs / 1000} s); otherwise remove_client it and issue a new kit.`
                    : `${identity.name} already has a live console session from ${live.connection.remoteAddress} (since ${live.since.toISOString()}) that answered a liveness check: a login with the same admin certificate from ${address} is refused (a copied kit or a stolen key?). Consoles of one admin may run side by side from one address; close the other one first, or have the project admin re-issue this admin's kit.`,
                  identity.name,
                );
              },
              () => {
                if (this.sessions.get(live.key) === live) {
                  this.endSession(live, `replaced by a new login (no answer to a liveness check within ${checkMs} ms)`);
                  live.channel.close("replaced by a new login");
                }
                admitSession();
              },
            )
            .finally(() => this.livenessChecks.delete(identity.name));
          return;
        }
        throw new CohortError(AuthErrorCode.Malformed, `unexpected ${env.header.k} during login`, { kind: env.header.k });
      } catch (err) {
        fail(isCohortError(err) ? err.code : AuthErrorCode.Malformed, err instanceof Error ? err.message : String(err), pending?.hello.name);
      }
    });
  }

  /** The newest live session of admin `name` from an address other than `address`. */
  private adminSessionElsewhere(name: string, address: string): Session | undefined {
    let newest: Session | undefined;
    for (const s of this.sessions.values()) {
      if (s.identity.type !== "admin" || s.identity.name !== name || s.connection.remoteAddress === address) continue;
      if (newest === undefined || s.since > newest.since) newest = s;
    }
    return newest;
  }

  private forgetPending(address: string, evict: () => void): void {
    const list = (this.pendingByAddress.get(address) ?? []).filter((e) => e !== evict);
    if (list.length === 0) this.pendingByAddress.delete(address);
    else this.pendingByAddress.set(address, list);
  }

  /** The oldest login of the address holding the most, when that is more than `address` holds. */
  private evictionCandidate(address: string): (() => void) | undefined {
    const own = this.pendingByAddress.get(address)?.length ?? 0;
    let most: (() => void)[] | undefined;
    for (const list of this.pendingByAddress.values()) if (most === undefined || list.length > most.length) most = list;
    return most !== undefined && most.length > own ? most[0] : undefined;
  }

  private openSession(conn: Connection, identity: PeerIdentity, keys: SessionKeys): SecureChannel {
    const sid = randomBytes(16).toString("hex");
    const key = identity.type === "admin" ? `${identity.name}#${sid.slice(0, 8)}` : identity.name;
    const previous = identity.type === "client" ? this.sessions.get(key) : undefined;
    if (previous) {
      // FLARE's rule: a new login replaces the old registration (its token stops working).
      this.endSession(previous, "replaced by a new login");
      previous.channel.close("replaced by a new login");
    }
    const tokens = new Map<string, number>();
    const session: Session = {
      key,
      sid,
      identity,
      connection: conn,
      since: new Date(this.now()),
      lastSeen: this.now(),
      tokens,
      channel: undefined as unknown as SecureChannel,
    };
    const channel = new SecureChannel({
      connection: conn,
      role: "server",
      selfName: this.c.name,
      peerName: identity.name,
      peerInfo: { type: identity.type, org: identity.org, role: identity.role, sessionKey: key },
      keys,
      streams: this.streams,
      skewMs: this.c.skewMs ?? 60_000,
      checkToken: (tok) => this.checkToken(session, tok),
      onActivity: () => {
        session.lastSeen = this.now();
      },
      onRefusal: (r) => this.refused({ action: "message.refused", peer: identity.name, address: conn.remoteAddress, code: r.code, reason: r.reason }),
    });
    (session as { channel: SecureChannel }).channel = channel;
    for (const [t, h] of this.requestHandlers) channel.onRequest(t, h);
    for (const [t, h] of this.messageHandlers) channel.onMessage(t, h);
    for (const [t, h] of this.streamHandlers) channel.onStream(t, h);
    channel.onRequest(TOPIC_HEARTBEAT, () => encode({ now: this.now() }));
    channel.onRequest(TOPIC_RENEW, () => {
      const token = this.issue(session);
      return encode({ token: token.token, exp: token.exp });
    });
    channel.onClose(() => {
      if (this.sessions.get(key) === session) this.endSession(session, "link closed");
    });
    this.sessions.set(key, session);
    const { token, exp } = this.issue(session);
    this.c.audit.append({
      action: "login",
      outcome: "ok",
      peer: identity.name,
      ...(identity.type === "admin" ? { user: identity.name } : {}),
      address: conn.remoteAddress,
      reason: `${identity.type} session ${sid.slice(0, 8)} until ${new Date(exp * 1000).toISOString()}`,
    });
    this.c.log?.(`${identity.type} ${identity.name} (${identity.org ?? "-"}) logged in from ${conn.remoteAddress}`);
    void channel
      .sendFrame("welcome", { id: randomBytes(16).toString("hex") }, [
        encode({ token, sid, exp, now: this.now(), heartbeatTimeoutMs: this.c.heartbeatTimeoutMs ?? 600_000 }),
      ])
      .catch(() => undefined);
    for (const l of this.sessionListeners) l(session, "open");
    return channel;
  }

  private issue(session: Session): { token: string; exp: number } {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + (this.c.tokenLifetimeS ?? DEFAULT_TOKEN_LIFETIME_S);
    const token = issueToken({ sub: session.identity.name, typ: session.identity.type, sid: session.sid, iat, exp, prj: this.c.project }, this.key);
    // Keep the newest previous token until it expires (requests in flight at the renewal carry
    // it); drop older ones, so a renewal never leaves more than two of a session's tokens valid.
    let previous: [string, number] | undefined;
    for (const entry of session.tokens) if (previous === undefined || entry[1] > previous[1]) previous = entry;
    session.tokens.clear();
    if (previous) session.tokens.set(previous[0], previous[1]);
    session.tokens.set(token, exp);
    return { token, exp };
  }

  /** Token check per message: a string lookup (signature checked once, when it was issued). */
  private checkToken(session: Session, tok: string | undefined): void {
    if (!tok) throw new CohortError(AuthErrorCode.TokenInvalid, "message carries no session token", {});
    const exp = session.tokens.get(tok);
    const nowS = this.now() / 1000;
    if (exp !== undefined) {
      if (nowS > exp + (this.c.skewMs ?? 60_000) / 1000)
        throw new CohortError(AuthErrorCode.TokenExpired, `session token expired at ${new Date(exp * 1000).toISOString()}; log in again`, { exp });
      return;
    }
    // Not this session's: tell forged tokens from other sessions' tokens, for a useful refusal.
    const claims = verifyToken(tok, this.publicKey, nowS, 1e9);
    throw new CohortError(
      AuthErrorCode.TokenNotYours,
      `session token belongs to ${claims.sub} (session ${claims.sid.slice(0, 8)}), not to ${session.identity.name}'s session`,
      { tokenSubject: claims.sub },
    );
  }

  private endSession(s: Session, reason: string): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    this.c.audit.append({ action: "logout", outcome: "ok", peer: s.identity.name, reason });
    this.c.log?.(`${s.identity.type} ${s.identity.name} disconnected: ${reason}`);
    for (const l of this.sessionListeners) l(s, "close");
  }

  private sweepSilent(timeoutMs: number): void {
    const now = this.now();
    for (const s of [...this.sessions.values()]) {
      if (now - s.lastSeen <= timeoutMs) continue;
      this.refused({
        action: "session.expired",
        peer: s.identity.name,
        address: s.connection.remoteAddress,
        code: TransportErrorCode.HeartbeatMissed,
        reason: `no heartbeat for ${Math.round((now - s.lastSeen) / 1000)} s (heart_beat_timeout ${timeoutMs / 1000} s)`,
      });
      this.drop(s.key, "missed heartbeats");
    }
  }
}
