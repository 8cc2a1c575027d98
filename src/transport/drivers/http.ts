/**
 * `http` driver: HTTP(S) + WebSocket (ws with bufferutil), one binary WebSocket message per frame,
 * on the fixed path {@link LINK_PATH}. Works behind reverse proxies that pass Upgrade headers
 * (nginx `proxy_pass` with `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade;
 * proxy_set_header Connection "upgrade"`). A plain request to the link path gets 426, any other
 * path 404 (and the connection is closed).
 *
 * TLS is terminated by the shared acceptor, so this driver reports every refusal the tcp driver
 * does. A dialer refused for its certificate gets `403` with a JSON body {code, reason}, which
 * dial turns into the same typed error as tcp. Plain HTTP requests (health checks, scanners) are
 * reported as ERR_LINK_PROTOCOL. Behind a TLS-terminating proxy the listener sees the proxy's
 * address and no client certificate: that is the proxy's job to check.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpServer } from "node:http";
import type { Socket } from "node:net";
import type { createConnection } from "node:net";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import type { Connection, DialOptions, Driver, ListenOptions, Listener } from "../driver.js";
import { Acceptor, type Admitted } from "./acceptor.js";
import { LinkConnection, type ConnectionInit } from "./connection.js";
import { connectTransport, startDial, transportDialError, watchForTlsAnswer } from "./connector.js";
import { LinkErrorCode, errorMessage, linkError, refusedByServer } from "./errors.js";
import { resolveLimits } from "./limits.js";
import { LinkListener } from "./listener.js";
import { PreLoginBudget } from "./prelogin.js";

/** The one path the link upgrades on. */
export const LINK_PATH = "/cohort/v1/link";
const CLOSE_GRACE_MS = 2000;
const MAX_REFUSAL_BODY = 4096;
/** WebSocket close code for "message too big" (RFC 6455). */
const WS_TOO_BIG = 1009;

class WsConnection extends LinkConnection {
  private wsError: Error | undefined;

  constructor(
    init: ConnectionInit,
    private readonly ws: WebSocket,
  ) {
    super(init);
    ws.on("message", (data: RawData, isBinary: boolean) => {
      if (!isBinary || !Buffer.isBuffer(data)) {
        this.fail(linkError(LinkErrorCode.Protocol, `received a non-binary WebSocket message from ${this.remoteAddress}`));
        return;
      }
      this.deliver(data);
    });
    ws.on("error", (err: Error & { code?: string }) => {
      if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        // Cut now: ws would otherwise keep reading (and dropping) the body while it waits for the
        // peer's close frame.
        this.wsError ??= this.tooLargeError(undefined);
        this.fail(this.wsError);
        return;
      }
      this.wsError ??= linkError(LinkErrorCode.Closed, `connection to ${this.remoteAddress} lost: ${errorMessage(err)}`, {}, err);
    });
    ws.on("close", (code: number) => {
      const remoteTooBig = code === WS_TOO_BIG && this.wsError === undefined;
      this.finish(
        this.wsError ??
          (remoteTooBig ? linkError(LinkErrorCode.FrameTooLarge, "the peer refused a frame above its maxFrameBytes") : undefined) ??
          (code === 1000 || code === 1005
            ? undefined
            : linkError(LinkErrorCode.Closed, `connection to ${this.remoteAddress} closed abnormally (WebSocket code ${code})`, { wsCode: code })),
      );
    });
  }

  protected writeFrame(parts: readonly Uint8Array[]): Promise<void> {
    const nonEmpty = parts.filter((p) => p.byteLength > 0);
    return this.written((done) => {
      if (nonEmpty.length === 0) this.ws.send(Buffer.alloc(0), { binary: true, fin: true, compress: false }, done);
      // One WebSocket message per frame, one fragment per part: no concatenation.
      nonEmpty.forEach((part, i) => {
        const last = i === nonEmpty.length - 1;
        this.ws.send(part, { binary: true, fin: last, compress: false }, last ? done : undefined);
      });
    });
  }

  protected override raiseReceiveLimit(bytes: number): void {
    try {
      setMaxPayload(this.ws, bytes);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  protected closeTransport(reason: string | undefined): void {
    this.ws.close(1000, (reason ?? "").slice(0, 120));
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  protected destroyTransport(error: Error): void {
    if (error instanceof Error && (error as { code?: string }).code === LinkErrorCode.FrameTooLarge) this.ws.close(WS_TOO_BIG);
    this.ws.terminate();
  }

  protected pauseTransport(): void {
    this.ws.pause();
  }

  protected resumeTransport(): void {
    this.ws.resume();
  }
}

/**
 * ws takes maxPayload once per socket (from the server or client options) and checks it in each
 * frame header (the running total of a fragmented message included) before buffering the payload;
 * the limit lives on the socket's receiver. Changing it there is how a link moves from the
 * pre-login limit to maxFrameBytes. Fails loudly if ws changes shape (the pinned version has it).
 */
function setMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (receiver === undefined || receiver === null || typeof receiver._maxPayload !== "number") {
    throw linkError(
      LinkErrorCode.Config,
      "cannot set the WebSocket message limit: the installed ws version has no receiver._maxPayload (reinstall the pinned ws)",
    );
  }
  receiver._maxPayload = bytes;
}

function plainResponse(status: number, text: string, extra: Record<string, string> = {}): string {
  const headers = { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)), Connection: "close", ...extra };
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  const reason = { 403: "Forbidden", 404: "Not Found", 426: "Upgrade Required" }[status] ?? "Error";
  return `HTTP/1.1 ${status} ${reason}\r\n${lines.join("\r\n")}\r\n\r\n${text}`;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? "").split("?")[0] ?? "";
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? "").toLowerCase() === "websocket";
}

async function listen(options: ListenOptions): Promise<Listener> {
  const limits = resolveLimits(options.limits);
  const listener = new LinkListener(options.host);
  const budget = options.preLoginBudget ?? new PreLoginBudget();
  const admissions = new WeakMap<Socket, Admitted>();
  // Listener links start at the pre-login limit (ws checks it in each frame header); login raises it.
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.preLoginFrameBytes, perMessageDeflate: false, clientTracking: false });
  const http = createHttpServer({ maxHeaderSize: 16 * 1024 });

  const answer = (
    admitted: Admitted | undefined,
    req: IncomingMessage,
    respond: (status: number, body: string, extra?: Record<string, string>) => void,
  ): boolean => {
    if (admitted === undefined) {
      respond(403, JSON.stringify({ code: LinkErrorCode.Protocol, reason: "unknown connection" }));
      return true;
    }
    if (admitted.refusal) {
      respond(403, JSON.stringify({ code: admitted.refusal.code, reason: admitted.refusal.reason }));
      return true;
    }
    const path = pathOf(req);
    if (path !== LINK_PATH) {
      admitted.report(LinkErrorCode.Protocol, `plain HTTP request ${String(req.method)} ${path.slice(0, 100)} (404)`);
      respond(404, JSON.stringify({ error: "not found" }));
      return true;
    }
    if (!isWebSocketUpgrade(req)) {
      admitted.report(LinkErrorCode.Protocol, `HTTP ${String(req.method)} ${LINK_PATH} without a WebSocket upgrade (426)`);
      respond(426, JSON.stringify({ error: "upgrade to websocket required" }), { Upgrade: "websocket" });
      return true;
    }
    return false;
  };

  http.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const admitted = admissions.get(req.socket);
    const handled = answer(admitted, req, (status, body, extra = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", Connection: "close", ...extra });
      res.end(body);
    });
    if (!handled) {
      res.writeHead(426, { Upgrade: "websocket", Connection: "close" });
      res.end();
    }
  });

  http.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const admitted = admissions.get(socket);
    if (answer(admitted, req, (status, body, extra) => socket.end(plainResponse(status, body, extra)))) {
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
      return;
    }
    const admission = admitted as Admitted;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = new WsConnection(
        {
          scheme: "http",
          security: options.security,
          remoteAddress: admission.remoteAddress,
          peerCertificate: admission.peerCertificate,
          maxFrameBytes: limits.maxFrameBytes,
          preLogin: { frameBytes: limits.preLoginFrameBytes, budget, socket },
        },
        ws,
      );
      admission.established();
      listener.track(connection);
      options.onConnection(connection);
    });
  });

  wss.on("wsClientError", (err: Error, socket: Socket) => {
    admissions.get(socket)?.report(LinkErrorCode.Protocol, `bad WebSocket upgrade: ${errorMessage(err)}`);
  });
  http.on("clientError", (err: Error, socket: Socket) => {
    admissions.get(socket)?.report(LinkErrorCode.Protocol, `bad HTTP request: ${errorMessage(err)}`);
    socket.destroy();
  });

  const onSocket = (admitted: Admitted): void => {
    admissions.set(admitted.socket, admitted);
    http.emit("connection", admitted.socket);
  };
  return listener.bind(await Acceptor.listen({ ...options, limits, onRefused: options.onRefused, onSocket }));
}

function readRefusal(res: IncomingMessage, address: string): Promise<Error> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      const status = res.statusCode ?? 0;
      if (status === 403) {
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          const { code, reason } = (typeof parsed === "object" && parsed !== null ? parsed : {}) as { code?: unknown; reason?: unknown };
          resolve(refusedByServer(code, reason, address));
          return;
        } catch {
          // fall through: not our listener's body
        }
      }
      resolve(
        linkError(
          LinkErrorCode.Refused,
          `the server at ${address} answered the link upgrade with HTTP ${status} (not a Cohort http listener on ${LINK_PATH}?)`,
          { address, status },
        ),
      );
    };
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REFUSAL_BODY) chunks.push(chunk);
      else res.destroy();
    });
    res.on("end", done);
    res.on("close", done);
    res.on("error", () => undefined);
  });
}

async function dial(options: DialOptions): Promise<Connection> {
  const { limits, address, deadline } = startDial(options);
  try {
    const { socket, peerCertificate, alert } = await connectTransport(options, deadline);
    const answeredWithTls = watchForTlsAnswer(socket, options, address);
    const url = `${options.security === "clear" ? "ws" : "wss"}://${address}${LINK_PATH}`;
    const ws = new WebSocket(url, {
      createConnection: (() => socket) as unknown as typeof createConnection,
      maxPayload: limits.maxFrameBytes,
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    const opened = new Promise<Connection>((resolve, reject) => {
      ws.once("open", () => {
        const init: ConnectionInit = {
          scheme: "http",
          security: options.security,
          remoteAddress: socket.remoteAddress ?? options.host,
          peerCertificate,
          maxFrameBytes: limits.maxFrameBytes,
        };
        resolve(new WsConnection(init, ws));
      });
      ws.once("unexpected-response", (req, res) => {
        void readRefusal(res, address).then(reject);
        setTimeout(() => req.destroy(), CLOSE_GRACE_MS).unref();
      });
      ws.on("error", (err) => reject(answeredWithTls() ?? alert() ?? transportDialError(err, options.host, address, options.security)));
    });
    return await deadline.race(opened, () => {
      ws.terminate();
      socket.destroy();
    });
  } finally {
    deadline.done();
  }
}

export const httpDriver: Driver = { scheme: "http", listen, dial };
