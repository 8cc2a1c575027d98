/**
 * The listener front every driver shares, so that all three report the same refusals: a plain
 * net.Server counts connections per address (over the limit: closed before any TLS work), hands
 * the raw socket to a non-listening tls.Server (tls/mtls) and checks the client certificate itself,
 * and runs one handshake timer from accept until the driver declares the link established.
 *
 * What it reports through onRefused: too many connections from one address; handshake timeout
 * (TLS or link preface); a plaintext client on a TLS listener (OpenSSL "wrong version number" /
 * "http request"); other TLS handshake failures (the client aborted or sent a fatal alert); on
 * mtls a missing, expired, not-yet-valid or foreign-CA client certificate; and a client that
 * closed before starting the link (typically one that does not trust our certificate). What it
 * cannot see: why a client that silently closed did so.
 */
import type { X509Certificate } from "node:crypto";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { ConnectionRefusal, ConnectionSecurity, LinkLimits, TlsMaterial } from "../driver.js";
import { LinkErrorCode, errorMessage } from "./errors.js";
import { AddressCounter } from "./limits.js";
import { checkClientCertificate, handshakeRefusal, listenerTlsOptions, type Refusal } from "./tls-options.js";

/** A connection that passed the transport stage (TCP, or TLS and the client-certificate check). */
export interface Admitted {
  /** The socket to speak the link protocol on (the TLSSocket on tls/mtls). */
  readonly socket: Socket;
  readonly remoteAddress: string;
  /** The verified client certificate (mtls only). */
  readonly peerCertificate: X509Certificate | undefined;
  /**
   * Set when the client certificate was refused (already reported): the driver tells the client
   * why if its protocol can, then closes. Nothing the client sends may be treated as a frame.
   */
  readonly refusal: Refusal | undefined;
  /** The link is up: stops the handshake timer; the connection no longer counts as pending. */
  established(): void;
  /** Reports a refusal (once per connection) and destroys the socket. */
  refuse(code: string, reason: string): void;
  /** Reports a refusal (once per connection) without closing: the driver answers, then closes. */
  report(code: string, reason: string): void;
}

export interface AcceptorOptions {
  readonly host: string;
  readonly port: number;
  readonly security: ConnectionSecurity;
  readonly tls?: TlsMaterial | undefined;
  readonly limits: LinkLimits;
  readonly onRefused: ((refusal: ConnectionRefusal) => void) | undefined;
  /** ALPN protocols the TLS server offers (grpc: ["h2"]). */
  readonly alpn?: readonly string[];
  readonly onSocket: (admitted: Admitted) => void;
}

/** OpenSSL errors that mean the client did not speak TLS at all. */
const NOT_TLS_CODES = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_HTTP_REQUEST",
  "ERR_SSL_HTTPS_PROXY_REQUEST",
  "ERR_SSL_UNKNOWN_PROTOCOL",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_RECORD_LENGTH_MISMATCH",
  "ERR_SSL_UNSUPPORTED_PROTOCOL",
]);

class Pending {
  reported = false;
  done = false;
  socket: Socket;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly raw: Socket,
    readonly remoteAddress: string,
  ) {
    this.socket = raw;
  }
}

export class Acceptor {
  private readonly net: NetServer;
  private readonly tlsServer: TlsServer | undefined;
  private readonly counter: AddressCounter;
  private readonly sockets = new Set<Socket>();
  private readonly pendingByPeer = new Map<string, Pending>();
  private readonly pendingAll = new Set<Pending>();
  private readonly pendingByRaw = new WeakMap<Socket, Pending>();
  private closing = false;
  private onEmpty: (() => void) | undefined;
  port = 0;

  private constructor(private readonly options: AcceptorOptions) {
    this.counter = new AddressCounter(options.limits.maxConnectionsPerAddress);
    const tlsOptions = listenerTlsOptions(options.security, options.tls);
    if (tlsOptions !== undefined) {
      this.tlsServer = createTlsServer({
        ...tlsOptions,
        // Our own timer fires first and names the stage; this is only a backstop.
        handshakeTimeout: options.limits.handshakeTimeoutMs + 1000,
        ...(options.alpn ? { ALPNProtocols: [...options.alpn] } : {}),
      });
      this.tlsServer.on("secureConnection", (socket: TLSSocket) => this.onSecure(socket));
      this.tlsServer.on("tlsClientError", (err: Error & { code?: string }, socket: TLSSocket) => this.onTlsError(err, socket));
    }
    this.net = createNetServer({ noDelay: true }, (raw) => this.onRaw(raw));
  }

  static listen(options: AcceptorOptions): Promise<Acceptor> {
    const acceptor = new Acceptor(options);
    return new Promise((resolve, reject) => {
      acceptor.net.once("error", reject);
      acceptor.net.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        acceptor.net.off("error", reject);
        acceptor.net.on("error", () => undefined); // accept errors (EMFILE…) must not crash the process
        const address = acceptor.net.address();
        acceptor.port = typeof address === "object" && address !== null ? address.port : options.port;
        resolve(acceptor);
      });
    });
  }

  private report(pending: Pending, code: string, reason: string): void {
    if (pending.reported || pending.done) return;
    pending.reported = true;
    try {
      this.options.onRefused?.({ remoteAddress: pending.remoteAddress, code, reason });
    } catch {
      // An audit hook that throws must not take the listener down.
    }
  }

  private settle(pending: Pending): void {
    if (pending.timer) clearTimeout(pending.timer);
    pending.timer = undefined;
    this.pendingAll.delete(pending);
    this.pendingByPeer.delete(peerKey(pending.raw));
  }

  private onRaw(raw: Socket): void {
    raw.on("error", () => undefined);
    const remoteAddress = raw.remoteAddress;
    if (this.closing || remoteAddress === undefined) {
      raw.destroy();
      return;
    }
    const pending = new Pending(raw, remoteAddress);
    if (!this.counter.acquire(remoteAddress)) {
      this.report(pending, LinkErrorCode.TooManyConnections, `more than ${this.options.limits.maxConnectionsPerAddress} connections from ${remoteAddress}`);
      raw.destroy();
      return;
    }
    this.sockets.add(raw);
    this.pendingAll.add(pending);
    this.pendingByPeer.set(peerKey(raw), pending);
    this.pendingByRaw.set(raw, pending);
    raw.once("close", () => {
      this.counter.release(remoteAddress);
      this.sockets.delete(raw);
      const stage = this.tlsServer && pending.socket !== raw;
      // Deferred: when the TLS layer refused the client (mtls), its error event comes after the
      // raw socket's close and names the real reason; the first report wins.
      setImmediate(() => {
        if (!pending.done) {
          this.report(
            pending,
            this.tlsServer ? LinkErrorCode.TlsHandshake : LinkErrorCode.Protocol,
            stage
              ? "the client closed the connection after the TLS handshake without starting the link (it may not trust this server's certificate)"
              : "the client closed the connection before starting the link",
          );
        }
        this.settle(pending);
      });
      if (this.sockets.size === 0) this.onEmpty?.();
    });
    const ms = this.options.limits.handshakeTimeoutMs;
    pending.timer = setTimeout(() => {
      this.report(pending, LinkErrorCode.Timeout, `no ${this.tlsServer && pending.socket === raw ? "TLS handshake" : "link handshake"} within ${ms} ms`);
      pending.socket.destroy();
      raw.destroy();
    }, ms);
    if (this.tlsServer) this.tlsServer.emit("connection", raw);
    else this.admit(pending, raw, undefined, undefined);
  }

  private onSecure(socket: TLSSocket): void {
    const pending = this.pendingByPeer.get(peerKey(socket));
    if (pending === undefined || this.closing) {
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined);
    pending.socket = socket;
    if (this.options.security !== "mtls") {
      this.admit(pending, socket, undefined, undefined);
      return;
    }
    // Node returns the peer certificate only on the first call: take it once.
    const cert = socket.getPeerX509Certificate();
    const refusal = checkClientCertificate(socket, cert, this.options.tls?.rootCaPem ?? "");
    if (refusal) this.report(pending, refusal.code, refusal.reason);
    this.admit(pending, socket, refusal ? undefined : cert, refusal);
  }

  private onTlsError(err: Error & { code?: string }, socket: TLSSocket): void {
    // A socket Node's TLS layer destroyed (mtls refusal) no longer knows its remote port: find it by
    // the raw socket it wraps.
    const parent = (socket as unknown as { _parent?: Socket })._parent;
    const pending = (parent ? this.pendingByRaw.get(parent) : undefined) ?? this.pendingByPeer.get(peerKey(socket));
    socket.destroy();
    if (pending === undefined) return;
    const code = err.code ?? "";
    const certificate =
      this.options.security === "mtls"
        ? handshakeRefusal(code, socket.authorizationError ? String(socket.authorizationError) : undefined, this.options.tls?.rootCaPem ?? "")
        : undefined;
    if (certificate) {
      this.report(pending, certificate.code, certificate.reason);
    } else if (NOT_TLS_CODES.has(code)) {
      this.report(
        pending,
        LinkErrorCode.NotTls,
        `the client did not start a TLS handshake (a plaintext client on a ${this.options.security} listener: ${code})`,
      );
    } else if (code === "ERR_TLS_HANDSHAKE_TIMEOUT") {
      this.report(pending, LinkErrorCode.Timeout, `no TLS handshake within ${this.options.limits.handshakeTimeoutMs} ms`);
    } else if (code === "ECONNRESET" || code === "EPIPE") {
      this.report(pending, LinkErrorCode.TlsHandshake, "the client closed the connection during the TLS handshake");
    } else {
      this.report(pending, LinkErrorCode.TlsHandshake, `TLS handshake failed: ${firstLine(errorMessage(err))}`);
    }
    pending.raw.destroy();
  }

  private admit(pending: Pending, socket: Socket, peerCertificate: X509Certificate | undefined, refusal: Refusal | undefined): void {
    const admitted: Admitted = {
      socket,
      remoteAddress: pending.remoteAddress,
      peerCertificate,
      refusal,
      established: () => {
        pending.done = true;
        this.settle(pending);
      },
      refuse: (code, reason) => {
        this.report(pending, code, reason);
        socket.destroy();
        pending.raw.destroy();
      },
      report: (code, reason) => this.report(pending, code, reason),
    };
    try {
      this.options.onSocket(admitted);
    } catch (err) {
      admitted.refuse(LinkErrorCode.Protocol, `internal error accepting the connection: ${errorMessage(err)}`);
    }
  }

  /**
   * Stops accepting and destroys connections still in their handshake; resolves once every socket
   * is closed (the driver closes established ones first), destroying stragglers after `graceMs`.
   */
  close(graceMs: number): Promise<void> {
    this.closing = true;
    const serverClosed = new Promise<void>((resolve) => this.net.close(() => resolve()));
    for (const pending of [...this.pendingAll]) {
      this.report(pending, LinkErrorCode.Refused, "the listener is closing");
      pending.socket.destroy();
      pending.raw.destroy();
    }
    const drained = new Promise<void>((resolve) => {
      if (this.sockets.size === 0) return resolve();
      const timer = setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, graceMs);
      this.onEmpty = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    return Promise.all([serverClosed, drained]).then(() => undefined);
  }
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}|${socket.remotePort ?? "?"}`;
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? "").slice(0, 300);
}
