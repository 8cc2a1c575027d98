/**
 * `grpc` driver: one @grpc/grpc-js bidirectional-streaming call per link, one frame per gRPC
 * message, raw bytes (no protobuf). Message size limits come from maxFrameBytes.
 *
 * Listener: grpc-js never sees the network itself. The shared acceptor terminates TLS (ALPN h2),
 * counts connections, checks the client certificate and times the handshake, then injects the
 * socket into the grpc Server (`createConnectionInjector`, insecure credentials: TLS is already
 * done). So grpc reports every refusal tcp does, which grpc-js's own TLS server would hide (it
 * drops a foreign-CA or expired client certificate without any event). A socket whose client
 * certificate was refused still gets its call answered, with UNAUTHENTICATED and a JSON
 * {code, reason}, so the dialer learns why; no frame of it is read. The listener accepts the link
 * by sending response headers; one call per connection (`grpc.max_concurrent_streams` 1).
 *
 * Dialer: grpc-js owns its TLS connection, so the server certificate is checked through its
 * hooks: the chain by Node (rejectUnauthorized), the CN by `checkServerIdentity`. When the dial
 * fails with UNAVAILABLE on tls/mtls, one diagnostic TLS connection (the tcp driver's connector)
 * finds out whether the server was untrusted or had the wrong CN, to give the same typed error
 * as the other drivers. Multi-part frames are concatenated (grpc-js copies each message into its
 * own buffer with the 5-byte gRPC prefix anyway).
 */
import { X509Certificate } from "node:crypto";
import { createSecureContext } from "node:tls";
import { isIP, type Socket } from "node:net";
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials as channelCredentials,
  status as GrpcStatus,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type ServiceDefinition,
  type ServiceError,
  type handleBidiStreamingCall,
} from "@grpc/grpc-js";
import type { Connection, DialOptions, Driver, LinkLimits, ListenOptions, Listener } from "../driver.js";
import { Acceptor, type Admitted } from "./acceptor.js";
import { LinkConnection, type ConnectionInit } from "./connection.js";
import { DialDeadline, connectTransport, startDial, type DialStart } from "./connector.js";
import { LinkErrorCode, errorMessage, linkError, networkDialError, refusedByServer } from "./errors.js";
import { resolveLimits } from "./limits.js";
import { LinkListener, LISTENER_CLOSE_GRACE_MS } from "./listener.js";
import { GRPC_PRE_LOGIN_RESERVATION_BYTES, PreLoginBudget } from "./prelogin.js";
import { CONNECTOR_MIN_TLS_VERSION, alertRefusal, commonNameOf, serverIdentityError, trustedServerCa } from "./tls-options.js";
import type { CohortError } from "../../errors/index.js";

/** The one method: /cohort.link.v1.Link/Frames, a bidirectional stream of raw frames. */
export const GRPC_METHOD_PATH = "/cohort.link.v1.Link/Frames";

type Frame = readonly Uint8Array[];

function serializeFrame(parts: Frame): Buffer {
  if (parts.length === 1) {
    const p = parts[0] as Uint8Array;
    return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  }
  return Buffer.concat(parts);
}

function deserializeFrame(bytes: Buffer): Buffer {
  return bytes;
}

const LINK_SERVICE: ServiceDefinition = {
  frames: {
    path: GRPC_METHOD_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: serializeFrame,
    requestDeserialize: deserializeFrame,
    responseSerialize: serializeFrame,
    responseDeserialize: deserializeFrame,
    originalName: "frames",
  },
};

function grpcOptions(limits: LinkLimits, receiveBytes: number = limits.maxFrameBytes): ChannelOptions {
  return {
    "grpc.max_receive_message_length": receiveBytes,
    "grpc.max_send_message_length": limits.maxFrameBytes,
  };
}

type Call = ServerDuplexStream<Buffer, Frame> | ClientDuplexStream<Frame, Buffer>;

/** The close error for a gRPC status, or undefined for OK / our own cancel. */
function statusError(error: Partial<ServiceError>, remote: string): Error | undefined {
  switch (error.code) {
    case undefined:
    case GrpcStatus.OK:
      return undefined;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return linkError(LinkErrorCode.FrameTooLarge, `a frame exceeded maxFrameBytes on the link with ${remote}: ${error.details ?? ""}`, {
        grpcCode: error.code,
      });
    default:
      return linkError(LinkErrorCode.Closed, `link with ${remote} ended: gRPC ${GrpcStatus[error.code] ?? error.code} ${error.details ?? ""}`.trim(), {
        grpcCode: error.code,
      });
  }
}

class GrpcConnection extends LinkConnection {
  private callError: Error | undefined;

  constructor(
    init: ConnectionInit,
    private readonly call: Call,
    /** Server: the end of our writable side; client: the status, both mean the call is over. */
    private readonly afterFinish: () => void,
  ) {
    super(init);
    call.on("data", (frame: Buffer) => this.deliver(frame));
    call.on("error", (err: Partial<ServiceError>) => {
      this.callError ??= statusError(err, this.remoteAddress);
      this.done();
    });
    // Server side: grpc-js answers a frame above its limit with RESOURCE_EXHAUSTED by itself and
    // tells the handler only that the call was cancelled; so does a peer that went away.
    call.on("cancelled", () => {
      if (!this.closed)
        this.callError ??= linkError(
          LinkErrorCode.Closed,
          `the link with ${this.remoteAddress} was cancelled (the peer went away, or sent a frame above maxFrameBytes)`,
        );
      this.done();
    });
  }

  /** The call is over (status received, or both sides ended): fire onClose. */
  done(): void {
    this.finish(this.callError);
    this.afterFinish();
  }

  /** Server: the client half-closed; end our side too. */
  peerEnded(): void {
    if (!this.closed) this.close();
  }

  protected writeFrame(parts: Frame): Promise<void> {
    // The callback fires once grpc-js has serialized (copied) the message into its HTTP/2 stream.
    return this.written((done) => this.call.write(parts, done));
  }

  protected closeTransport(): void {
    this.call.end();
    const timer = setTimeout(() => {
      if ("cancel" in this.call) this.call.cancel();
      this.done();
    }, LISTENER_CLOSE_GRACE_MS);
    timer.unref();
    this.whenFinished(() => clearTimeout(timer));
  }

  protected destroyTransport(error: Error): void {
    if ("cancel" in this.call) this.call.cancel();
    else
      this.call.emit("error", {
        code: (error as { code?: string }).code === LinkErrorCode.FrameTooLarge ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.ABORTED,
        details: error.message,
      });
    this.done();
  }

  /** Server side: lifts the call's message limit from the pre-login one (see {@link setCallReceiveLimit}). */
  protected override raiseReceiveLimit(bytes: number): void {
    try {
      setCallReceiveLimit(this.call, bytes);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  protected pauseTransport(): void {
    this.call.pause();
  }

  protected resumeTransport(): void {
    this.call.resume();
  }
}

/**
 * grpc-js takes the receive limit once per server and checks it in each message's 5-byte prefix,
 * before buffering the message, in the call's StreamDecoder. The server starts at the pre-login
 * limit; after login this raises it for the one call of the link. grpc-js keeps the decoder on its
 * innermost server call (behind `call.call` and any interceptors' `nextCall`); fails loudly if a
 * grpc-js update moves it (the pinned version has it).
 */
function setCallReceiveLimit(call: Call, bytes: number): void {
  type Inner = { decoder?: { maxReadMessageLength?: unknown }; maxReceiveMessageSize?: unknown; nextCall?: Inner };
  let inner = (call as unknown as { call?: Inner }).call;
  for (let depth = 0; inner !== undefined && inner !== null && inner.decoder === undefined && depth < 8; depth++) inner = inner.nextCall;
  if (inner?.decoder === undefined || typeof inner.decoder.maxReadMessageLength !== "number") {
    throw linkError(
      LinkErrorCode.Config,
      "cannot raise the gRPC message limit after login: the installed @grpc/grpc-js keeps no call decoder (reinstall the pinned @grpc/grpc-js)",
    );
  }
  inner.decoder.maxReadMessageLength = bytes;
  inner.maxReceiveMessageSize = bytes;
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
}

async function listen(options: ListenOptions): Promise<Listener> {
  const limits = resolveLimits(options.limits);
  const admissions = new Map<string, { admitted: Admitted; used: boolean }>();
  const budget = options.preLoginBudget ?? new PreLoginBudget();
  const listener = new LinkListener(options.host);
  // Every call starts at the pre-login message limit (checked at each message's prefix); login raises it.
  const server = new Server({ ...grpcOptions(limits, limits.preLoginFrameBytes), "grpc.max_concurrent_streams": 1 });

  const frames: handleBidiStreamingCall<Buffer, Frame> = (call) => {
    const entry = admissions.get(call.getPeer());
    if (entry === undefined || entry.used) {
      call.emit("error", { code: GrpcStatus.RESOURCE_EXHAUSTED, details: JSON.stringify({ code: LinkErrorCode.Protocol, reason: "one link per connection" }) });
      return;
    }
    entry.used = true;
    const { admitted } = entry;
    if (admitted.refusal) {
      call.emit("error", { code: GrpcStatus.UNAUTHENTICATED, details: JSON.stringify({ code: admitted.refusal.code, reason: admitted.refusal.reason }) });
      setTimeout(() => admitted.socket.destroy(), LISTENER_CLOSE_GRACE_MS).unref();
      return;
    }
    // HTTP/2 owns the socket, so its bytes cannot be metered: an anonymous call is charged what
    // flow control lets it make us hold, until it logs in or ends.
    const anonymous = admitted.peerCertificate === undefined;
    if (anonymous && !budget.reserve(GRPC_PRE_LOGIN_RESERVATION_BYTES)) {
      const reason = `unauthenticated connections hold ${budget.inUse} bytes (the server-wide pre-login budget is ${budget.capacity}); refused the link from ${admitted.remoteAddress} before login`;
      admitted.report(LinkErrorCode.PreLoginBudget, reason);
      call.emit("error", { code: GrpcStatus.RESOURCE_EXHAUSTED, details: JSON.stringify({ code: LinkErrorCode.PreLoginBudget, reason }) });
      setTimeout(() => admitted.socket.destroy(), LISTENER_CLOSE_GRACE_MS).unref();
      return;
    }
    const connection = new GrpcConnection(
      {
        scheme: "grpc",
        security: options.security,
        remoteAddress: admitted.remoteAddress,
        peerCertificate: admitted.peerCertificate,
        maxFrameBytes: limits.maxFrameBytes,
        preLogin: { frameBytes: limits.preLoginFrameBytes, budget, ...(anonymous ? { reservedBytes: GRPC_PRE_LOGIN_RESERVATION_BYTES } : {}) },
      },
      call,
      // One link per socket: once the call is over, the client should close; make sure of it.
      () => setTimeout(() => admitted.socket.destroy(), LISTENER_CLOSE_GRACE_MS).unref(),
    );
    call.on("end", () => connection.peerEnded());
    call.on("finish", () => connection.done());
    call.sendMetadata(new Metadata());
    admitted.established();
    listener.track(connection);
    options.onConnection(connection);
  };
  server.addService(LINK_SERVICE, { frames });
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());

  const onSocket = (admitted: Admitted): void => {
    const key = peerKey(admitted.socket);
    admissions.set(key, { admitted, used: false });
    admitted.socket.once("close", () => admissions.delete(key));
    injector.injectConnection(admitted.socket);
  };
  const acceptor = await Acceptor.listen({ ...options, limits, onRefused: options.onRefused, onSocket, alpn: ["h2"] });
  listener.bind(acceptor);
  return {
    host: listener.host,
    port: listener.port,
    close: async () => {
      await listener.close();
      injector.destroy();
      server.forceShutdown();
    },
  };
}

interface DialCredentials {
  readonly credentials: ChannelCredentials;
  /** The server certificate seen by the (last) TLS handshake of this channel. */
  readonly serverCertificate: () => X509Certificate | undefined;
}

function channelCredentialsFor(options: DialOptions, address: string): DialCredentials {
  if (options.security === "clear") return { credentials: channelCredentials.createInsecure(), serverCertificate: () => undefined };
  const mtls = options.security === "mtls";
  if (mtls && (!options.tls?.certPem || !options.tls.keyPem)) {
    throw linkError(LinkErrorCode.Config, "a mtls connector needs tls.certPem and tls.keyPem");
  }
  const context = createSecureContext({
    ca: trustedServerCa(options.security, options.tls),
    // TLS 1.3 only: the client certificate follows the server's proof (see CONNECTOR_MIN_TLS_VERSION).
    minVersion: CONNECTOR_MIN_TLS_VERSION,
    ...(mtls ? { cert: options.tls?.certPem, key: options.tls?.keyPem } : {}),
  });
  const expected = options.expectedServerIdentity;
  let seen: X509Certificate | undefined;
  const credentials = channelCredentials.createFromSecureContext(context, {
    // Called by Node only once the chain verified; replaces the host-name check by CN binding.
    checkServerIdentity: (_host, cert) => {
      seen = new X509Certificate(cert.raw);
      const cn = commonNameOf(seen);
      return expected !== undefined && cn !== expected ? serverIdentityError(cn, expected, address) : undefined;
    },
  });
  return { credentials, serverCertificate: () => seen };
}

/** Why a tls/mtls dial got UNAVAILABLE: one TLS connection of our own tells untrusted/CN apart. */
async function diagnose(options: DialOptions, start: DialStart): Promise<CohortError | undefined> {
  const deadline = new DialDeadline(2000, options.signal, start.address);
  try {
    const { socket } = await connectTransport(options, deadline);
    socket.destroy();
    return undefined;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return code === LinkErrorCode.UntrustedServer || code === LinkErrorCode.ServerIdentity ? (err as CohortError) : undefined;
  } finally {
    deadline.done();
  }
}

function dialFailure(error: Partial<ServiceError>, options: DialOptions, address: string): CohortError {
  // grpc-js reduces a TLS alert from an mtls listener to text in `details`.
  const alert = /alert protocol version|unsupported protocol/i.test(error.details ?? "")
    ? alertRefusal("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION", address)
    : /alert certificate required|alert handshake failure/i.test(error.details ?? "")
      ? alertRefusal("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", address)
      : /alert (unknown ca|bad certificate|certificate expired|certificate unknown)/i.test(error.details ?? "")
        ? alertRefusal("ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", address)
        : undefined;
  if (alert) return alert;
  if (error.code === GrpcStatus.UNAVAILABLE) {
    const network = networkDialError(undefined, error.details ?? "", options.host, address);
    if (network) return network;
  }
  if (error.code === GrpcStatus.UNAUTHENTICATED || error.code === GrpcStatus.RESOURCE_EXHAUSTED) {
    try {
      const parsed: unknown = JSON.parse(error.details ?? "");
      const { code, reason } = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { code?: unknown; reason?: unknown };
      return refusedByServer(code, reason, address);
    } catch {
      // not our listener's answer
    }
  }
  const hint =
    options.security === "clear"
      ? "is it a TLS listener? this connector is clear"
      : "it refuses clients without a valid certificate, over its per-address limit, or is not a TLS listener";
  return linkError(
    LinkErrorCode.Refused,
    `the gRPC link to ${address} failed (${hint}): ${GrpcStatus[error.code ?? GrpcStatus.UNKNOWN] ?? error.code} ${error.details ?? errorMessage(error)}`,
    {
      address,
      grpcCode: error.code,
    },
  );
}

async function dial(options: DialOptions): Promise<Connection> {
  const start = startDial(options);
  const { limits, address, deadline } = start;
  const channelOptions: ChannelOptions = {
    ...grpcOptions(limits),
    // Every dial gets its own connection (grpc-js would otherwise share one between channels).
    "grpc.use_local_subchannel_pool": 1,
    "grpc.enable_retries": 0,
  };
  // SNI must not be an IP literal; the name is not checked (CN binding is), so any will do.
  if (options.security !== "clear" && isIP(options.host) !== 0)
    channelOptions["grpc.ssl_target_name_override"] = options.expectedServerIdentity ?? "cohort-link";
  const { credentials, serverCertificate } = channelCredentialsFor(options, address);
  const client = new Client(address, credentials, channelOptions);
  try {
    const call = client.makeBidiStreamRequest<Frame, Buffer>(GRPC_METHOD_PATH, serializeFrame, deserializeFrame, new Metadata());
    const accepted = new Promise<GrpcConnection>((resolve, reject) => {
      call.once("metadata", () => {
        const connection = new GrpcConnection(
          {
            scheme: "grpc",
            security: options.security,
            remoteAddress: options.host,
            peerCertificate: serverCertificate(),
            maxFrameBytes: limits.maxFrameBytes,
          },
          call,
          () => client.close(),
        );
        call.on("status", () => connection.done());
        resolve(connection);
      });
      call.on("error", (error: ServiceError) => {
        // grpc-js reduces a failed certificate check to a string in `details`: when it looks like
        // one, our own TLS connection finds out which check failed, for the typed error.
        if (error.code === GrpcStatus.UNAVAILABLE && options.security !== "clear" && /certificate|verify|self.signed|issuer|CN is/i.test(error.details)) {
          void diagnose(options, start).then((diagnosed) => reject(diagnosed ?? dialFailure(error, options, address)));
        } else {
          reject(dialFailure(error, options, address));
        }
      });
    });
    return await deadline.race(accepted, () => {
      call.cancel();
      client.close();
    });
  } catch (err) {
    client.close();
    throw err;
  } finally {
    deadline.done();
  }
}

export const grpcDriver: Driver = { scheme: "grpc", listen, dial };
