/**
 * The dial side the tcp and http drivers share: a TCP or TLS socket whose server certificate has
 * been checked (chain to the trusted CA, then CN === expectedServerIdentity) before a byte is sent,
 * with one deadline (timeout or abort) covering the whole dial.
 */
import type { X509Certificate } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import type { CohortError } from "../../errors/index.js";
import { DEFAULT_LINK_LIMITS, type DialOptions, type LinkLimits } from "../driver.js";
import { LinkErrorCode, errorMessage, linkError, networkDialError } from "./errors.js";
import { resolveLimits } from "./limits.js";
import { alertRefusal, checkServerCertificate, connectorTlsOptions, formatAddress, serverVerificationError, trustedServerCa } from "./tls-options.js";

/** Timeout and abort for one dial: `failed` rejects when either happens, until `done()`. */
export class DialDeadline {
  readonly failed: Promise<never>;
  private timer: NodeJS.Timeout | undefined;
  private removeAbort: (() => void) | undefined;

  constructor(timeoutMs: number, signal: AbortSignal | undefined, address: string) {
    this.failed = new Promise<never>((_, reject) => {
      if (signal?.aborted) {
        reject(linkError(LinkErrorCode.Aborted, `dial to ${address} aborted`, { address }));
        return;
      }
      this.timer = setTimeout(
        () => reject(linkError(LinkErrorCode.Timeout, `no link to ${address} within ${timeoutMs} ms`, { address, timeoutMs })),
        timeoutMs,
      );
      if (signal) {
        const onAbort = (): void => reject(linkError(LinkErrorCode.Aborted, `dial to ${address} aborted`, { address }));
        signal.addEventListener("abort", onAbort, { once: true });
        this.removeAbort = () => signal.removeEventListener("abort", onAbort);
      }
    });
    this.failed.catch(() => undefined);
  }

  /** Runs `work`; on timeout/abort calls `cleanup` and rejects. */
  async race<T>(work: Promise<T>, cleanup: () => void): Promise<T> {
    try {
      return await Promise.race([work, this.failed]);
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  done(): void {
    if (this.timer) clearTimeout(this.timer);
    this.removeAbort?.();
  }
}

export interface DialStart {
  readonly limits: LinkLimits;
  /** host:port for messages. */
  readonly address: string;
  readonly deadline: DialDeadline;
}

/** Checks the dial options and starts the deadline (call `deadline.done()` when the dial ends). */
export function startDial(options: DialOptions): DialStart {
  const limits = resolveLimits(options.limits);
  const ms = options.timeoutMs ?? DEFAULT_LINK_LIMITS.handshakeTimeoutMs;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw linkError(LinkErrorCode.Config, `timeoutMs must be a positive integer, got ${String(ms)}`);
  const address = formatAddress(options.host, options.port);
  return { limits, address, deadline: new DialDeadline(ms, options.signal, address) };
}

/**
 * Clear dials: remembers whether the server's first bytes opened a TLS record (0x15 alert, 0x16
 * handshake). The returned function gives ERR_LINK_NOT_TLS if so, for a failed dial to report.
 */
export function watchForTlsAnswer(socket: Socket, options: DialOptions, address: string): () => CohortError | undefined {
  let firstByte: number | undefined;
  if (options.security === "clear") socket.once("data", (chunk: Buffer) => (firstByte = chunk[0]));
  return () =>
    firstByte === 0x15 || firstByte === 0x16
      ? linkError(LinkErrorCode.NotTls, `the server at ${address} answered with TLS: it is a TLS listener and this connector is clear`, { address })
      : undefined;
}

export interface DialedSocket {
  readonly socket: Socket;
  /** The server's verified certificate (tls/mtls). */
  readonly peerCertificate: X509Certificate | undefined;
  /**
   * Under TLS 1.3 the client's handshake is over before the server has checked its certificate:
   * an mtls refusal arrives afterwards as a TLS alert. This gives the typed error for it, if any.
   */
  readonly alert: () => CohortError | undefined;
}

/** The dial error for a transport failure before the link was up. */
export function transportDialError(err: unknown, host: string, address: string, security: DialOptions["security"]): CohortError {
  const code = (err as { code?: unknown }).code;
  const alert = alertRefusal(typeof code === "string" ? code : undefined, address);
  if (alert) return alert;
  const network = networkDialError(typeof code === "string" ? code : undefined, "", host, address, err);
  if (network) return network;
  const hint =
    security === "clear"
      ? "is it a TLS listener? this connector is clear"
      : "it refuses clients without a valid certificate, over its per-address limit, or is not a TLS listener";
  return linkError(
    LinkErrorCode.Refused,
    `the server at ${address} closed the connection before accepting the link (${hint}): ${errorMessage(err)}`,
    { address },
    err,
  );
}

/** Opens the TCP/TLS socket of a dial and verifies the server; rejects with a CohortError. */
export function connectTransport(options: DialOptions, deadline: DialDeadline): Promise<DialedSocket> {
  const address = formatAddress(options.host, options.port);
  const tlsOptions = connectorTlsOptions(options.security, options.tls, options.host, options.expectedServerIdentity);
  const from = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
  // Unset when connecting throws synchronously (bad options): the rejection then carries that error.
  let socket: Socket | undefined;
  let lastError: unknown;
  let verified = false;
  const alert = (): CohortError | undefined => {
    const code = (lastError as { code?: unknown } | undefined)?.code;
    return alertRefusal(typeof code === "string" ? code : undefined, address);
  };
  const work = new Promise<DialedSocket>((resolve, reject) => {
    if (tlsOptions === undefined) {
      const plain: Socket = netConnect({ host: options.host, port: options.port, noDelay: true, ...from }, () =>
        resolve({ socket: plain, peerCertificate: undefined, alert }),
      );
      socket = plain;
    } else {
      const trust = trustedServerCa(options.security, options.tls);
      const tlsSocket: TLSSocket = tlsConnect({ ...tlsOptions, host: options.host, port: options.port, ...from }, () => {
        verified = true;
        // Node hands the peer certificate out once (a second call returns undefined): keep it.
        const cert = tlsSocket.getPeerX509Certificate();
        const error = checkServerCertificate(tlsSocket, cert, trust, options.expectedServerIdentity, address);
        if (error) {
          tlsSocket.destroy();
          reject(error);
        } else {
          resolve({ socket: tlsSocket, peerCertificate: cert, alert });
        }
      });
      tlsSocket.setNoDelay(true);
      // Node refuses an untrusted server in the handshake (rejectUnauthorized): name why.
      tlsSocket.once("error", (err) => {
        if (verified) return;
        let cert: X509Certificate | undefined;
        try {
          cert = tlsSocket.getPeerX509Certificate();
        } catch {
          cert = undefined;
        }
        const refused = serverVerificationError(err, cert, trust, address);
        if (refused) reject(refused);
      });
      socket = tlsSocket;
    }
    socket.on("error", (err) => {
      lastError = err;
      reject(transportDialError(err, options.host, address, options.security));
    });
    socket.once("close", () => reject(transportDialError(new Error("connection closed"), options.host, address, options.security)));
  });
  return deadline.race(work, () => socket?.destroy());
}
