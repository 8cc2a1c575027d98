import { randomBytes } from "node:crypto";
import { z } from "zod";
import { CohortError, isCohortError } from "../errors/index.js";
import { AuthErrorCode, ClientLogin, type PeerType, type SessionKeys } from "../auth/index.js";
import { decode, encode, StreamReceiver, type StreamReceiverOptions } from "../wire/index.js";
import type { AuditLog, RefusalAuditor } from "../audit/index.js";
import type { Connection, ConnectionSecurity, Driver, LinkLimits, TlsMaterial } from "./driver.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope.js";
import { SecureChannel, type Body, type MessageHandler, type RequestHandler, type StreamHandler } from "./channel.js";
import { TransportErrorCode } from "./errors.js";
import { TOPIC_HEARTBEAT, TOPIC_RENEW } from "./server.js";
import { backoffDelay } from "./backoff.js";
import { LinkErrorCode } from "./drivers/errors.js";

export interface TransportClientConfig {
  readonly name: string;
  readonly type: PeerType;
  readonly project: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly rootPem: string;
  /** startup/customRootCA.pem: verifies a TLS-terminating proxy on `tls` links. */
  readonly customCaPem?: string;
  /** The server's CN (fed_client.json servers[0].identity). */
  readonly serverName: string;
  readonly driver: Driver;
  readonly host: string;
  readonly port: number;
  readonly security: ConnectionSecurity;
  readonly heartbeatIntervalMs?: number;
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  readonly skewMs?: number;
  readonly linkLimits?: Partial<LinkLimits>;
  readonly streams?: StreamReceiverOptions;
  readonly audit?: AuditLog;
  /** Refused messages from the server go through it when given (a server cannot grow the site's log). */
  readonly refusals?: RefusalAuditor;
  readonly log?: (line: string) => void;
  readonly now?: () => number;
}

const welcomeSchema = z.object({ token: z.string(), sid: z.string(), exp: z.number(), now: z.number(), heartbeatTimeoutMs: z.number() });
const renewSchema = z.object({ token: z.string(), exp: z.number() });

export type ClientState = "connecting" | "connected" | "disconnected" | "stopped";

/**
 * The site (or admin) end of the transport: dials the server, logs in with the kit credentials,
 * keeps the session alive with heartbeats, renews its token before it expires, and reconnects with
 * capped exponential backoff and jitter when the link drops.
 */
/** Dial failures that mean the server did not prove itself (audited at the site or console). */
const SERVER_REFUSAL_CODES: ReadonlySet<string> = new Set([LinkErrorCode.UntrustedServer, LinkErrorCode.ServerIdentity, LinkErrorCode.TlsVersion]);

export class TransportClient {
  private channel: SecureChannel | undefined;
  private lastServerRefusal: { code: string; at: number } | undefined;
  private token: string | undefined;
  private tokenExp = 0;
  private state: ClientState = "disconnected";
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly messageHandlers = new Map<string, MessageHandler>();
  private readonly streamHandlers = new Map<string, StreamHandler>();
  private readonly stateListeners: ((s: ClientState, detail?: string) => void)[] = [];
  private readonly streams: StreamReceiver;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly c: TransportClientConfig) {
    this.streams = new StreamReceiver({
      ...c.streams,
      digestFor: () => {
        if (!this.channel) throw new CohortError(TransportErrorCode.NotConnected, "not connected", {});
        return this.channel.incomingStreamDigest();
      },
    });
    this.streams.start();
  }

  get connected(): boolean {
    return this.state === "connected";
  }

  onState(listener: (s: ClientState, detail?: string) => void): void {
    this.stateListeners.push(listener);
  }

  private setState(s: ClientState, detail?: string): void {
    this.state = s;
    for (const l of this.stateListeners) l(s, detail);
  }

  handleRequest(topic: string, handler: RequestHandler): void {
    this.requestHandlers.set(topic, handler);
    this.channel?.onRequest(topic, handler);
  }

  handleMessage(topic: string, handler: MessageHandler): void {
    this.messageHandlers.set(topic, handler);
    this.channel?.onMessage(topic, handler);
  }

  handleStream(topic: string, handler: StreamHandler): void {
    this.streamHandlers.set(topic, handler);
    this.channel?.onStream(topic, handler);
  }

  private live(): SecureChannel {
    if (!this.channel || this.channel.closed) throw new CohortError(TransportErrorCode.NotConnected, `not connected to ${this.c.serverName}`, {});
    return this.channel;
  }

  // These never throw: not being connected is a rejected promise, like any other link failure.
  request(topic: string, body: Body, options?: { timeoutMs?: number }): Promise<Uint8Array> {
    try {
      return this.live().request(topic, body, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  send(topic: string, body: Body): Promise<void> {
    try {
      return this.live().send(topic, body);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  sendStream(topic: string, payload: Body, options?: { chunkBytes?: number }): Promise<void> {
    try {
      return this.live().sendStream(topic, payload, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Current session token (for tests and diagnostics; never logged). */
  currentToken(): string | undefined {
    return this.token;
  }

  /** One connection attempt: dial and log in. Rejects with the link or login refusal. */
  async connectOnce(): Promise<void> {
    this.setState("connecting");
    const tls: TlsMaterial = {
      rootCaPem: this.c.rootPem,
      ...(this.c.customCaPem ? { customCaPem: this.c.customCaPem } : {}),
      ...(this.c.security === "mtls" ? { certPem: this.c.certPem, keyPem: this.c.keyPem } : {}),
    };
    const conn = await this.c.driver.dial({
      host: this.c.host,
      port: this.c.port,
      security: this.c.security,
      tls,
      // Behind a TLS-terminating proxy (custom CA) the certificate is the proxy's: identity is
      // proven by the login signature instead.
      ...(this.c.security !== "clear" && !this.c.customCaPem ? { expectedServerIdentity: this.c.serverName } : {}),
      ...(this.c.linkLimits ? { limits: this.c.linkLimits } : {}),
    });
    try {
      await this.login(conn);
    } catch (err) {
      conn.close("login failed");
      throw err;
    }
  }

  private login(conn: Connection): Promise<void> {
    const login = new ClientLogin({
      name: this.c.name,
      type: this.c.type,
      project: this.c.project,
      certPem: this.c.certPem,
      keyPem: this.c.keyPem,
      rootPem: this.c.rootPem,
      serverName: this.c.serverName,
    });
    return new Promise<void>((resolve, reject) => {
      let channel: SecureChannel | undefined;
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => settle(new CohortError(TransportErrorCode.LoginTimeout, `no login answer from ${this.c.host}:${this.c.port} within 15 s`, {})),
        15_000,
      );
      timer.unref();
      conn.onClose((err) => {
        channel?.handleClose(err);
        settle(new CohortError(TransportErrorCode.Closed, `the server closed the link during login${err ? `: ${err.message}` : ""}`, {}));
      });
      conn.onFrame((frame) => {
        if (channel && settled) {
          channel.handleFrame(frame);
          return;
        }
        try {
          const env = decodeEnvelope(frame);
          if (env.header.k === "refused" && !env.header.mac) {
            throw new CohortError(env.header.code ?? AuthErrorCode.Malformed, `the server refused the login: ${env.header.msg ?? "no reason given"}`, {
              remoteCode: env.header.code,
            });
          }
          if (!channel && env.header.k === "challenge") {
            const answer = login.answer(decode(env.body, { maxMessageBytes: 64 * 1024, maxDepth: 4 }), new Date(this.c.now?.() ?? Date.now()));
            channel = this.makeChannel(conn, answer.keys, (body) => {
              const w = welcomeSchema.parse(decode(body));
              this.token = w.token;
              this.tokenExp = w.exp;
              this.attach(channel as SecureChannel, w.heartbeatTimeoutMs);
              settle();
            });
            void conn.send(encodeEnvelope({ k: "login", id: randomBytes(16).toString("hex") }, [encode(answer.login)])).catch((e: Error) => settle(e));
            return;
          }
          if (channel) {
            channel.handleFrame(frame);
            return;
          }
          throw new CohortError(AuthErrorCode.Malformed, `unexpected ${env.header.k} during login`, {});
        } catch (err) {
          settle(err instanceof Error ? err : new Error(String(err)));
        }
      });
      void conn.send(encodeEnvelope({ k: "hello", id: randomBytes(16).toString("hex") }, [encode(login.hello())])).catch((e: Error) => settle(e));
    });
  }

  private makeChannel(conn: Connection, keys: SessionKeys, onWelcome: (body: Uint8Array) => void): SecureChannel {
    const channel = new SecureChannel({
      connection: conn,
      role: "client",
      selfName: this.c.name,
      peerName: this.c.serverName,
      keys,
      token: () => this.token ?? "",
      streams: this.streams,
      skewMs: this.c.skewMs ?? 60_000,
      onWelcome,
      onRefusal: (r) => {
        const event = { action: "message.refused", outcome: "denied" as const, peer: this.c.serverName, code: r.code, reason: r.reason };
        if (this.c.refusals) this.c.refusals.record(event);
        else this.c.audit?.append(event);
        this.c.log?.(`refused a message from the server: [${r.code}] ${r.reason}`);
      },
    });
    for (const [t, h] of this.requestHandlers) channel.onRequest(t, h);
    for (const [t, h] of this.messageHandlers) channel.onMessage(t, h);
    for (const [t, h] of this.streamHandlers) channel.onStream(t, h);
    return channel;
  }

  /** After welcome: heartbeats, token renewal, reconnect on close. */
  private attach(channel: SecureChannel, heartbeatTimeoutMs: number): void {
    this.channel = channel;
    this.setState("connected");
    this.c.audit?.append({
      action: "login",
      outcome: "ok",
      peer: this.c.serverName,
      reason: `connected to ${this.c.host}:${this.c.port} (${this.c.security})`,
    });
    const interval = this.c.heartbeatIntervalMs ?? Math.max(1_000, Math.min(15_000, heartbeatTimeoutMs / 4));
    this.heartbeat = setInterval(() => {
      channel.request(TOPIC_HEARTBEAT, [], { timeoutMs: interval * 2 }).catch((err: Error) => this.c.log?.(`heartbeat failed: ${err.message}`));
    }, interval);
    this.heartbeat.unref();
    this.scheduleRenew(channel);
    channel.onClose(() => {
      clearInterval(this.heartbeat);
      clearTimeout(this.renewTimer);
      if (this.channel === channel) this.channel = undefined;
      if (!this.stopped) {
        this.setState("disconnected", "link closed");
        this.c.audit?.append({ action: "logout", outcome: "error", peer: this.c.serverName, reason: "link to the server closed" });
        this.wake?.();
      }
    });
  }

  private scheduleRenew(channel: SecureChannel): void {
    const nowS = (this.c.now?.() ?? Date.now()) / 1000;
    const inMs = Math.max(1_000, (this.tokenExp - nowS) * 0.8 * 1000);
    this.renewTimer = setTimeout(
      () => {
        channel
          .request(TOPIC_RENEW, [])
          .then((body) => {
            const r = renewSchema.parse(decode(body));
            this.token = r.token;
            this.tokenExp = r.exp;
            this.scheduleRenew(channel);
          })
          .catch((err: Error) => {
            this.c.log?.(`token renewal failed (${err.message}); reconnecting`);
            channel.close("token renewal failed");
          });
      },
      Math.min(inMs, 2_147_000_000),
    );
    this.renewTimer.unref();
  }

  /**
   * Connects and stays connected until `stop`: retries with capped exponential backoff and jitter.
   * Resolves once the first login succeeded.
   */
  start(): Promise<void> {
    let firstResolve: (() => void) | undefined;
    const first = new Promise<void>((r) => (firstResolve = r));
    this.loop ??= (async () => {
      let attempt = 0;
      while (!this.stopped) {
        if (!this.channel) {
          try {
            await this.connectOnce();
            attempt = 0;
            firstResolve?.();
          } catch (err) {
            const delay = backoffDelay(attempt++, this.c.reconnect?.initialDelayMs ?? 500, this.c.reconnect?.maxDelayMs ?? 30_000);
            const code = isCohortError(err) ? `[${err.code}] ` : "";
            this.setState("disconnected", (err as Error).message);
            this.auditServerRefusal(err);
            this.c.log?.(`connecting to ${this.c.host}:${this.c.port} failed: ${code}${(err as Error).message}; retrying in ${(delay / 1000).toFixed(1)} s`);
            await this.sleep(delay);
            continue;
          }
        }
        await this.sleep(60_000);
      }
    })();
    return first;
  }

  /**
   * A server that failed this connector's checks (untrusted certificate, wrong CN, no TLS 1.3) is
   * written to the audit log: once per code, and again at most every 5 minutes while it persists.
   */
  private auditServerRefusal(err: unknown): void {
    if (!isCohortError(err) || !SERVER_REFUSAL_CODES.has(err.code)) return;
    const now = Date.now();
    if (this.lastServerRefusal?.code === err.code && now - this.lastServerRefusal.at < 300_000) return;
    this.lastServerRefusal = { code: err.code, at: now };
    this.c.audit?.append({
      action: "server.refused",
      outcome: "denied",
      peer: this.c.serverName,
      address: `${this.c.host}:${this.c.port}`,
      code: err.code,
      reason: err.message,
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Says bye, closes the link and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.renewTimer);
    const ch = this.channel;
    if (ch && !ch.closed) {
      await ch.sendFrame("bye", { id: randomBytes(16).toString("hex") }, []).catch(() => undefined);
      ch.close("client stopping");
    }
    this.wake?.();
    this.streams.close();
    this.setState("stopped");
  }
}
