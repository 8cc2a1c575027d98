import type { X509Certificate } from "node:crypto";
import type { PreLoginBudget } from "./drivers/prelogin.js";

/**
 * The contract every link driver (tcp, grpc, http) implements: an ordered, reliable stream of
 * opaque frames between two endpoints, secured per FLARE's connection-security modes. Everything
 * above (envelopes, login, message authentication, streaming) is driver-independent and lives in
 * the messaging layer; a driver only moves frames and reports who is on the other end.
 */

/** FLARE's connection-security modes: `mtls` (default), `tls` (server-authenticated), `clear`. */
export type ConnectionSecurity = "clear" | "tls" | "mtls";

/** FLARE's `scheme` values: `http` (HTTPS + WebSocket, default), `grpc`, `tcp` (TLS socket). */
export type Scheme = "http" | "grpc" | "tcp";

export interface TlsMaterial {
  /** The project root (startup/rootCA.pem): verifies client certificates on mtls, servers otherwise. */
  readonly rootCaPem: string;
  /** `tls` connectors verify the server against this instead of rootCaPem (startup/customRootCA.pem). */
  readonly customCaPem?: string;
  /** Own certificate and key: always for listeners using tls/mtls; for connectors only on mtls. */
  readonly certPem?: string;
  readonly keyPem?: string;
}

export interface LinkLimits {
  /** Largest frame accepted or sent, in bytes (default 64 MiB); larger ones close the connection. */
  readonly maxFrameBytes: number;
  /**
   * Largest frame accepted before the peer has logged in (listener side; default 64 KiB): a larger
   * one closes the link at its header, before its body is read. Capped at maxFrameBytes.
   */
  readonly preLoginFrameBytes: number;
  /** Simultaneous connections from one remote address (listener only; default 32). */
  readonly maxConnectionsPerAddress: number;
  /** A connection must complete its TLS/transport handshake within this time (default 10 s). */
  readonly handshakeTimeoutMs: number;
}

export const DEFAULT_LINK_LIMITS: LinkLimits = {
  maxFrameBytes: 64 * 1024 * 1024,
  preLoginFrameBytes: 64 * 1024,
  maxConnectionsPerAddress: 32,
  handshakeTimeoutMs: 10_000,
};

/** Why a listener refused a connection before any frame was read (for the audit log). */
export interface ConnectionRefusal {
  readonly remoteAddress: string;
  /** Stable code, e.g. ERR_LINK_NO_CLIENT_CERT, ERR_LINK_UNTRUSTED_CERT, ERR_LINK_TOO_MANY_CONNECTIONS, ERR_LINK_TLS_HANDSHAKE, ERR_LINK_NOT_TLS. */
  readonly code: string;
  readonly reason: string;
}

export interface ListenOptions {
  /** Address to bind; tests always pass 127.0.0.1 or ::1. */
  readonly host: string;
  /** 0 picks a free port; read it back from `Listener.port`. */
  readonly port: number;
  readonly security: ConnectionSecurity;
  /** Required for tls and mtls. */
  readonly tls?: TlsMaterial;
  readonly limits?: Partial<LinkLimits>;
  /**
   * Caps the bytes buffered for every connection that has not logged in yet, shared by all the
   * listeners of one server (default: one budget of 16 MiB per listener).
   */
  readonly preLoginBudget?: PreLoginBudget;
  /** Called for each established (handshaken, and on mtls client-certified) connection. */
  readonly onConnection: (connection: Connection) => void;
  /** Called for each connection refused at the link level. */
  readonly onRefused?: (refusal: ConnectionRefusal) => void;
}

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  readonly security: ConnectionSecurity;
  /** Required for tls and mtls. */
  readonly tls?: TlsMaterial;
  /**
   * The identity the server's certificate must carry (its CN, from fed_client.json
   * `servers[0].identity`). Host names are not checked (FLARE's rule: proxies and IPs are fine);
   * the certificate must chain to the trusted root and carry this CN. On `tls` through a proxy with a
   * custom CA the CN is not checked (the proxy's certificate is not ours): leave it undefined.
   */
  readonly expectedServerIdentity?: string;
  readonly limits?: Partial<LinkLimits>;
  /** Gives up connecting after this long (default 10 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * The local address to connect from (e.g. one of 127.0.0.0/8, so that tests can act as several
   * hosts). Honoured by the tcp and http drivers; grpc picks its own.
   */
  readonly localAddress?: string;
}

/** Where the rest of a large incoming frame goes (see `Connection.placeLargeFrames`). */
export interface FramePlacement {
  /** Frame bytes from this offset on are written to `target`, which holds exactly that many. */
  readonly offset: number;
  readonly target: Uint8Array;
  /** Called once every byte is in `target`; the frame is not delivered to `onFrame`. */
  complete(): void;
}

export interface FramePlacer {
  /** Frames of at least this many bytes are offered (when they span several reads). */
  readonly minFrameBytes: number;
  /** Bytes of the frame's start (or the whole frame, if shorter) that `place` is shown. */
  readonly headBytes: number;
  /** Undefined: the frame arrives whole at `onFrame`, as usual. */
  place(head: Uint8Array, frameBytes: number): FramePlacement | undefined;
}

export interface Connection {
  /** Unique per connection, for logs. */
  readonly id: string;
  readonly scheme: Scheme;
  readonly security: ConnectionSecurity;
  /** Remote IP address (as the socket sees it: a proxy's address behind a proxy). */
  readonly remoteAddress: string;
  /** The peer's verified TLS certificate when it presented one (server side: mtls only). */
  readonly peerCertificate: X509Certificate | undefined;
  /**
   * Sends one frame made of `parts` (written in order without concatenating where the driver
   * allows). Resolves once the frame is handed to the OS (respecting backpressure); rejects if the
   * connection is closed or the frame exceeds maxFrameBytes. After it resolves the caller may reuse
   * the parts' memory. Awaiting each send in turn keeps one frame in flight; for bulk transfer on
   * the http and grpc drivers a few sends in flight (distinct buffers) go markedly faster.
   */
  send(parts: readonly Uint8Array[]): Promise<void>;
  /** Frames arrive whole, in order. Set once, before frames can arrive (right after dial/onConnection). */
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Called once when the connection ends for any reason; `error` when it was not a clean close. */
  onClose(handler: (error?: Error) => void): void;
  /**
   * Listener side: the peer has logged in, so frames up to maxFrameBytes are accepted from now on
   * (until then only preLoginFrameBytes, and its buffered bytes count against the pre-login budget).
   */
  authenticated?(): void;
  /** Closes the connection (idempotent). */
  close(reason?: string): void;
  readonly closed: boolean;
  /**
   * Receive-side flow control: stops delivering frames and reading from the transport until
   * `resume()`, so the peer's `send()` waits on backpressure instead of this process buffering
   * (e.g. while a streamed payload is written to a slow disk). All built-in drivers implement it.
   */
  pause?(): void;
  resume?(): void;
  /**
   * Optional (tcp): lets the receiver choose where the bulk of a large frame lands, so that a
   * streamed chunk is copied once, from the socket to its final place. Frames are offered in order,
   * only while nothing waits for delivery and the connection is not paused.
   */
  placeLargeFrames?(placer: FramePlacer): void;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting, closes every connection, resolves when all are closed. */
  close(): Promise<void>;
}

export interface Driver {
  readonly scheme: Scheme;
  listen(options: ListenOptions): Promise<Listener>;
  dial(options: DialOptions): Promise<Connection>;
}
