/**
 * `tcp` driver: node:net (clear) or node:tls sockets carrying length-prefixed frames.
 *
 * Link handshake (inside TLS when used): the dialer sends one frame "COHORT-LINK/1"; the listener
 * answers with one status frame, 0x00 (accepted) or 0x01 + JSON {code, reason} (refused), so a
 * refused dialer learns why (e.g. its certificate expired). Both frames are limited to 4 KiB.
 *
 * Refusals it reports (through the shared acceptor): all of them, including a clear client on a
 * TLS listener, a TLS client on a clear listener (bad preface) and garbage before the preface.
 * Refusals the dialer learns precisely: certificate problems (status frame) and a TLS listener
 * when dialing clear (the listener closes; a hint says so). Over-limit connections are closed
 * before any TLS work, so the dialer only sees ERR_LINK_REFUSED for them.
 */
import type { Socket } from "node:net";
import type { Connection, DialOptions, Driver, FramePlacer, ListenOptions, Listener } from "../driver.js";
import { Acceptor, type Admitted } from "./acceptor.js";
import { LinkConnection, type ConnectionInit } from "./connection.js";
import { connectTransport, startDial, transportDialError, watchForTlsAnswer } from "./connector.js";
import { LinkErrorCode, errorMessage, linkError, refusedByServer } from "./errors.js";
import { FrameDecoder, frameHeader } from "./framing.js";
import { resolveLimits } from "./limits.js";
import { LinkListener } from "./listener.js";
import { PreLoginBudget } from "./prelogin.js";
import { isCohortError } from "../../errors/index.js";

const HELLO = Buffer.from("COHORT-LINK/1", "ascii");
const HANDSHAKE_MAX_FRAME = 4096;
const STATUS_ACCEPTED = 0;
const STATUS_REFUSED = 1;
/** How long a graceful close waits for the peer before destroying the socket. */
const CLOSE_GRACE_MS = 2000;

/** Frame parts of at least this many bytes are written as buffers of their own (see `pump`). */
const OWN_WRITE_BYTES = 64 * 1024;

interface QueuedWrite {
  readonly buffer: Uint8Array;
  readonly done: ((error?: Error | null) => void) | undefined;
}

/** The frame as buffers to write: runs of small parts copied together (one TLS record), large parts as they are. */
function coalesce(header: Buffer, parts: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [header];
  let runBytes = header.byteLength;
  const flush = (): void => {
    if (runBytes > 0) out.push(run.length === 1 ? (run[0] as Uint8Array) : Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const part of parts) {
    if (part.byteLength >= OWN_WRITE_BYTES) {
      flush();
      out.push(part);
    } else if (part.byteLength > 0) {
      run.push(part);
      runBytes += part.byteLength;
    }
  }
  flush();
  return out;
}

class TcpConnection extends LinkConnection {
  private readonly decoder: FrameDecoder = new FrameDecoder(HANDSHAKE_MAX_FRAME, {
    place: (head, frameBytes) => this.placeFrame(head, frameBytes),
    placer: () => this.framePlacer,
  });
  /** During the link handshake decoded frames go here instead of to the caller. */
  private gate: ((frame: Uint8Array) => void) | undefined;
  private socketError: Error | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly queue: QueuedWrite[] = [];
  private readonly inSocket: boolean[] = [];

  constructor(
    init: ConnectionInit,
    private readonly socket: Socket,
    gate: (frame: Uint8Array) => void,
    /** A handshake frame above 4 KiB: the peer does not speak the link protocol. */
    private readonly onBadHandshake: () => void,
  ) {
    super(init);
    this.gate = gate;
    socket.on("data", (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (frame) => (this.gate ? this.gate(frame) : this.deliver(frame)));
      } catch (err) {
        if (this.gate) {
          this.gate = () => undefined;
          this.onBadHandshake();
          this.socket.destroy();
        } else if (isCohortError(err, LinkErrorCode.FrameTooLarge)) {
          const size = err.details["size"];
          this.fail(this.tooLargeError(typeof size === "number" ? size : undefined));
        } else {
          this.fail(err instanceof Error ? err : new Error(String(err)));
        }
      }
    });
    socket.on("error", (err) => {
      this.socketError ??= err;
    });
    socket.once("close", () => {
      if (this.closeTimer) clearTimeout(this.closeTimer);
      this.decoder.stop();
      this.finish(
        this.socketError
          ? linkError(LinkErrorCode.Closed, `connection to ${this.remoteAddress} lost: ${errorMessage(this.socketError)}`, {}, this.socketError)
          : undefined,
      );
    });
  }

  placeLargeFrames(placer: FramePlacer): void {
    this.framePlacer = placer;
  }

  /** The handshake is over: frames now go to the caller, up to the receive limit (pre-login, then maxFrameBytes). */
  open(): void {
    this.gate = undefined;
    this.decoder.maxFrameBytes = this.receiveLimit;
  }

  protected override raiseReceiveLimit(bytes: number): void {
    if (this.gate === undefined) this.decoder.maxFrameBytes = bytes;
  }

  /** Writes a handshake frame (hello or status). */
  writeControl(body: Uint8Array): void {
    this.socket.write(frameHeader(body.byteLength));
    this.socket.write(body);
  }

  protected writeFrame(parts: readonly Uint8Array[], size: number): Promise<void> {
    const writes = coalesce(frameHeader(size), parts);
    return this.written((done) => {
      writes.forEach((buffer, i) => this.queue.push({ buffer, done: i === writes.length - 1 ? done : undefined }));
      this.pump();
    });
  }

  /**
   * Writes queued buffers in order, keeping every large one out of multi-buffer writes: behind the
   * write in progress, Writable flushes whatever piled up as one writev, and a TLS socket copies a
   * multi-buffer write into one fresh allocation before encrypting it. Written alone, a large
   * buffer is encrypted where it lies. `inSocket` mirrors the socket's queue (the first entry is
   * being written; true marks a large buffer).
   */
  private pump(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0] as QueuedWrite;
      const large = next.buffer.byteLength >= OWN_WRITE_BYTES;
      if (large ? this.inSocket.length > 1 : this.inSocket.indexOf(true, 1) !== -1) return;
      this.queue.shift();
      this.inSocket.push(large);
      this.socket.write(next.buffer, (error?: Error | null) => {
        this.inSocket.shift();
        next.done?.(error);
        this.pump();
      });
    }
  }

  protected closeTransport(): void {
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }

  protected destroyTransport(): void {
    this.decoder.stop();
    this.socket.destroy();
  }

  protected pauseTransport(): void {
    this.socket.pause();
  }

  protected resumeTransport(): void {
    this.socket.resume();
  }
}

function statusFrame(refusal?: { code: string; reason: string }): Buffer {
  if (!refusal) return Buffer.from([STATUS_ACCEPTED]);
  const json = Buffer.from(JSON.stringify({ code: refusal.code, reason: refusal.reason }).slice(0, HANDSHAKE_MAX_FRAME - 64), "utf8");
  return Buffer.concat([Buffer.from([STATUS_REFUSED]), json]);
}

function parseRefusal(body: Uint8Array, address: string): Error {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body.subarray(1)).toString("utf8"));
    const { code, reason } = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { code?: unknown; reason?: unknown };
    return refusedByServer(code, reason, address);
  } catch {
    return refusedByServer(undefined, "unreadable refusal", address);
  }
}

async function listen(options: ListenOptions): Promise<Listener> {
  const limits = resolveLimits(options.limits);
  const listener = new LinkListener(options.host);
  const budget = options.preLoginBudget ?? new PreLoginBudget();

  const onSocket = (admitted: Admitted): void => {
    const { socket } = admitted;
    if (admitted.refusal) {
      // Tell the dialer why, then close. What it sends is read and dropped (unread data would make
      // the kernel answer with a reset that can discard our status frame before the dialer reads it).
      const status = statusFrame(admitted.refusal);
      socket.on("data", () => undefined);
      socket.end(Buffer.concat([frameHeader(status.length), status]));
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      return;
    }
    const init: ConnectionInit = {
      scheme: "tcp",
      security: options.security,
      remoteAddress: admitted.remoteAddress,
      peerCertificate: admitted.peerCertificate,
      maxFrameBytes: limits.maxFrameBytes,
      preLogin: { frameBytes: limits.preLoginFrameBytes, budget, socket },
    };
    const noPreface = (): void =>
      admitted.refuse(
        LinkErrorCode.Protocol,
        `the client did not send the link preface${options.security === "clear" ? " (not a Cohort tcp link, or a TLS client on a clear listener)" : ""}`,
      );
    const connection: TcpConnection = new TcpConnection(
      init,
      socket,
      (hello) => {
        if (!HELLO.equals(hello)) {
          noPreface();
          return;
        }
        connection.open();
        connection.writeControl(statusFrame());
        admitted.established();
        listener.track(connection);
        options.onConnection(connection);
      },
      noPreface,
    );
  };

  return listener.bind(await Acceptor.listen({ ...options, limits, onRefused: options.onRefused, onSocket }));
}

async function dial(options: DialOptions): Promise<Connection> {
  const { limits, address, deadline } = startDial(options);
  try {
    const { socket, peerCertificate, alert } = await connectTransport(options, deadline);
    const answeredWithTls = watchForTlsAnswer(socket, options, address);
    const init: ConnectionInit = {
      scheme: "tcp",
      security: options.security,
      remoteAddress: socket.remoteAddress ?? options.host,
      peerCertificate,
      maxFrameBytes: limits.maxFrameBytes,
    };
    const notOurs = (): Error =>
      linkError(
        LinkErrorCode.Protocol,
        `the server at ${address} does not speak the link protocol${options.security === "clear" ? " (a TLS listener? this connector is clear)" : ""}`,
        { address },
      );
    let connection!: TcpConnection;
    const accepted = new Promise<TcpConnection>((resolve, reject) => {
      connection = new TcpConnection(
        init,
        socket,
        (status) => {
          if (status.length === 1 && status[0] === STATUS_ACCEPTED) {
            connection.open();
            resolve(connection);
          } else if (status.length > 1 && status[0] === STATUS_REFUSED) {
            reject(parseRefusal(status, address));
            connection.close();
          } else {
            reject(notOurs());
            connection.close();
          }
        },
        () => reject(notOurs()),
      );
      connection.onClose((error) =>
        reject(answeredWithTls() ?? alert() ?? transportDialError(error ?? new Error("connection closed"), options.host, address, options.security)),
      );
      connection.writeControl(HELLO);
    });
    return await deadline.race(accepted, () => socket.destroy());
  } finally {
    deadline.done();
  }
}

export const tcpDriver: Driver = { scheme: "tcp", listen, dial };
