import { createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
import { CohortError, isCohortError } from "../errors/index.js";
import { AuthErrorCode, ReplayWindow, computeMac, macMatches, type SessionKeys } from "../auth/index.js";
import { CHUNK_HEADER_BYTES, chunkPayload, type CompletedStream, type StreamReceiver } from "../wire/index.js";
import type { Connection, FramePlacement } from "./driver.js";
import { MAX_HEADER_BYTES, decodeEnvelope, encodeEnvelope, type Envelope, type Header, type Kind } from "./envelope.js";
import { TransportErrorCode } from "./errors.js";

export type Body = Uint8Array | readonly Uint8Array[];

export interface MessageMeta {
  /** Authenticated sender name. */
  readonly sender: string;
  /** What the login established about the sender (server side). */
  readonly peer?: PeerInfo;
  readonly id: string;
  readonly topic: string;
}

export type RequestHandler = (body: Uint8Array, meta: MessageMeta) => Promise<Body | undefined> | Body | undefined;
export type MessageHandler = (body: Uint8Array, meta: MessageMeta) => void;
export type StreamHandler = (stream: CompletedStream, meta: MessageMeta) => void;

export interface PeerInfo {
  readonly type: "client" | "admin" | "server";
  readonly org?: string | undefined;
  readonly role?: string | undefined;
  /** The server's key for this session (admins may hold several sessions). */
  readonly sessionKey: string;
}

export interface Refusal {
  readonly code: string;
  readonly reason: string;
  readonly header?: Header;
}

export interface ChannelOptions {
  readonly connection: Connection;
  readonly role: "client" | "server";
  /** Name stamped on outgoing messages (`n`). */
  readonly selfName: string;
  /** The authenticated peer; incoming `n` must equal it. */
  readonly peerName: string;
  readonly peerInfo?: PeerInfo;
  readonly keys: SessionKeys;
  /** Client: the token to attach to each message. */
  readonly token?: () => string;
  /** Server: checks the token of each incoming message; throws a CohortError to refuse it. */
  readonly checkToken?: (token: string | undefined) => void;
  /** Clock skew tolerated on message timestamps (default 60 s). */
  readonly skewMs?: number;
  /** Reassembles incoming streams (shared per site; keyed by peer name). */
  readonly streams: StreamReceiver;
  /** Told about every refused incoming message (for the audit log). */
  readonly onRefusal?: (refusal: Refusal) => void;
  /** Told about every authentic incoming frame (liveness for heartbeats). */
  readonly onActivity?: () => void;
  /** Client: receives the server's authenticated `welcome` body after login. */
  readonly onWelcome?: (body: Uint8Array) => void;
  /** Refusals tolerated on one link before it is closed (default MAX_REFUSALS_PER_LINK). */
  readonly maxRefusals?: number;
  readonly requestTimeoutMs?: number;
  readonly now?: () => number;
}

interface Pending {
  resolve(body: Uint8Array): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Message ids: a random per-process prefix and a counter (32 hex characters). Unique per sender,
 * which is all ids need (replay protection is the authenticated sequence number), and far cheaper
 * than 16 random bytes per message.
 */
const ID_PREFIX = randomBytes(8).toString("hex");
let idCounter = 0;
const newId = (): string => ID_PREFIX + (++idCounter).toString(16).padStart(16, "0");
const asParts = (body: Body | undefined): readonly Uint8Array[] => (body === undefined ? [] : body instanceof Uint8Array ? [body] : body);

/** Frames from this size up may be placed (large stream chunks); smaller ones gain nothing from it. */
const PLACE_MIN_FRAME_BYTES = 256 * 1024;

/** Chunks of one stream written ahead of their acknowledgement by the socket. */
const STREAM_WINDOW = 8;

/** Refused messages tolerated on one link: the one that reaches this count closes it (docs/protocol.md §2.5). */
export const MAX_REFUSALS_PER_LINK = 20;

/** The key streams are digested with: derived from the direction's key, never used for messages. */
export function streamKey(directionKey: Uint8Array): Buffer {
  return createHmac("sha256", directionKey).update("cohort-stream-v1").digest();
}

/**
 * An authenticated message channel over one link, after login. Every frame either way carries the
 * sender, a timestamp, a sequence number and an HMAC-SHA256 (with this direction's session key) over
 * those and the body; client frames also carry the session token. Incoming frames pass, in this
 * order: header decoding, sender, token (server), freshness, replay window, MAC; only then does a
 * handler run. A refused request gets a `refused` reply naming the reason.
 */
export class SecureChannel {
  private seq = 0;
  private readonly window = new ReplayWindow(1024);
  private readonly pending = new Map<string, Pending>();
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly messageHandlers = new Map<string, MessageHandler>();
  private readonly streamHandlers = new Map<string, StreamHandler>();
  // KeyObjects: createHmac then skips importing raw key bytes on every message.
  private readonly sendKey: KeyObject;
  private readonly recvKey: KeyObject;
  private readonly recvStreamKey: KeyObject;
  private readonly sendStreamKey: KeyObject;
  private refusals = 0;
  private closedError: Error | undefined;
  private readonly closeHandlers: ((err?: Error) => void)[] = [];

  constructor(private readonly o: ChannelOptions) {
    const sendKey = o.role === "client" ? o.keys.clientToServer : o.keys.serverToClient;
    const recvKey = o.role === "client" ? o.keys.serverToClient : o.keys.clientToServer;
    this.sendKey = createSecretKey(sendKey);
    this.recvKey = createSecretKey(recvKey);
    this.sendStreamKey = createSecretKey(streamKey(sendKey));
    this.recvStreamKey = createSecretKey(streamKey(recvKey));
    o.connection.placeLargeFrames?.({
      minFrameBytes: PLACE_MIN_FRAME_BYTES,
      headBytes: 4 + MAX_HEADER_BYTES + CHUNK_HEADER_BYTES,
      place: (head, frameBytes) => this.placeChunk(head, frameBytes),
    });
  }

  /**
   * The start of a large frame arrived (tcp): if it is an authentic DATA chunk of an open in-memory
   * stream, its payload is written by the driver straight into the stream's buffer (one copy, not
   * two). The header passes the same checks as in `handleFrame`, in the same order and before the
   * payload is taken; anything else (or any failure) returns undefined, and the frame then arrives
   * whole through `handleFrame`, which decides and refuses exactly as it always has.
   */
  private placeChunk(head: Uint8Array, frameBytes: number): FramePlacement | undefined {
    if (this.closed || head.byteLength < 4) return undefined;
    const offset = 4 + new DataView(head.buffer, head.byteOffset, 4).getUint32(0) + CHUNK_HEADER_BYTES;
    if (offset > head.byteLength) return undefined;
    let env: Envelope;
    try {
      env = decodeEnvelope(head.subarray(0, offset));
    } catch {
      return undefined;
    }
    if (env.header.k !== "chunk") return undefined;
    // Side-effect free until commit; checked before authenticate, which records the sequence number.
    const slot = this.o.streams.reserve(this.streamPeer(), env.body, frameBytes - offset);
    if (!slot) return undefined;
    try {
      this.authenticate(env);
    } catch {
      return undefined;
    }
    const header = env.header;
    return {
      offset,
      target: slot.target,
      complete: () => {
        try {
          slot.commit();
        } catch (err) {
          this.refuse(err, header);
          return;
        }
        this.o.onActivity?.();
      },
    };
  }

  /** Whose streams incoming chunks belong to (the shared receiver is keyed by session). */
  private streamPeer(): string {
    return this.o.peerInfo?.sessionKey ?? this.o.peerName;
  }

  get peerName(): string {
    return this.o.peerName;
  }

  get connection(): Connection {
    return this.o.connection;
  }

  get closed(): boolean {
    return this.closedError !== undefined || this.o.connection.closed;
  }

  /** The digest a stream from this peer must match (used by the shared StreamReceiver). */
  incomingStreamDigest(): ReturnType<typeof createHmac> {
    return createHmac("sha256", this.recvStreamKey);
  }

  onRequest(topic: string, handler: RequestHandler): void {
    this.requestHandlers.set(topic, handler);
  }

  onMessage(topic: string, handler: MessageHandler): void {
    this.messageHandlers.set(topic, handler);
  }

  onStream(topic: string, handler: StreamHandler): void {
    this.streamHandlers.set(topic, handler);
  }

  onClose(handler: (err?: Error) => void): void {
    this.closeHandlers.push(handler);
  }

  /** Sends a request and resolves with the reply body; rejects with the peer's refusal or a timeout. */
  request(topic: string, body: Body, options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const id = newId();
    const timeoutMs = options.timeoutMs ?? this.o.requestTimeoutMs ?? 30_000;
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.closed) {
        reject(this.closedError ?? new CohortError(TransportErrorCode.Closed, `link to ${this.o.peerName} is closed`, {}));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CohortError(TransportErrorCode.Timeout, `${this.o.peerName} did not answer ${topic} within ${timeoutMs} ms`, { topic, timeoutMs }));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      this.sendFrame("req", { id, t: topic }, asParts(body)).catch((err: Error) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  /**
   * Liveness check: an authenticated `ping`, resolved by the peer's authenticated `pong` (only the
   * holder of this session's keys can answer); rejects on timeout or when the link closes.
   */
  ping(timeoutMs: number): Promise<void> {
    const id = newId();
    return new Promise<void>((resolve, reject) => {
      if (this.closed) {
        reject(this.closedError ?? new CohortError(TransportErrorCode.Closed, `link to ${this.o.peerName} is closed`, {}));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CohortError(TransportErrorCode.Timeout, `${this.o.peerName} did not answer a ping within ${timeoutMs} ms`, { timeoutMs }));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: () => resolve(), reject, timer });
      this.sendFrame("ping", { id }, []).catch((err: Error) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  /** One-way message. */
  send(topic: string, body: Body): Promise<void> {
    return this.sendFrame("msg", { id: newId(), t: topic }, asParts(body));
  }

  /**
   * Streams a large payload in chunks (wire streaming): each chunk frame is authenticated (its MAC
   * covers the chunk header) and the payload is authenticated by the keyed stream digest in the END
   * chunk, computed in the same single pass as the integrity check.
   */
  async sendStream(topic: string, payload: Body, options: { chunkBytes?: number } = {}): Promise<void> {
    const stream = chunkPayload(payload instanceof Uint8Array ? payload : [...payload], {
      ...(options.chunkBytes ? { chunkBytes: options.chunkBytes } : {}),
      digest: () => createHmac("sha256", this.sendStreamKey),
    });
    // Keep a few chunks in flight: awaiting each write in turn leaves the link idle between them.
    const window: Promise<void>[] = [];
    for (const chunk of stream.chunks) {
      window.push(this.sendFrame("chunk", { id: newId(), t: topic }, chunk));
      if (window.length >= STREAM_WINDOW) await window.shift();
    }
    await Promise.all(window);
  }

  close(reason = "closed"): void {
    this.o.connection.close(reason);
  }

  /** Sends a frame stamped and MAC'd for this direction. */
  sendFrame(kind: Kind, fields: Pick<Header, "id"> & Partial<Header>, body: readonly Uint8Array[]): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError ?? new CohortError(TransportErrorCode.Closed, `link to ${this.o.peerName} is closed`, {}));
    const now = this.o.now?.() ?? Date.now();
    const seq = ++this.seq;
    const token = this.o.token?.();
    const macBody = kind === "chunk" ? [(body[0] ?? new Uint8Array(0)).subarray(0, CHUNK_HEADER_BYTES)] : body;
    const mac = computeMac(
      this.sendKey,
      { kind, id: fields.id, replyTo: fields.re ?? "", topic: fields.t ?? "", sender: this.o.selfName, timestamp: now, seq },
      macBody,
    );
    const header: Header = Object.assign({}, fields, { k: kind, n: this.o.selfName, ts: now, sq: seq, mac });
    if (token) header.tok = token;
    return this.o.connection.send(encodeEnvelope(header, body));
  }

  /** Feeds one frame from the link (the owner routes the connection's frames here after login). */
  handleFrame(frame: Uint8Array): void {
    let env: Envelope | undefined;
    try {
      env = decodeEnvelope(frame);
      this.authenticate(env);
    } catch (err) {
      this.refuse(err, env?.header);
      return;
    }
    this.o.onActivity?.();
    this.dispatch(env).catch((err: unknown) => this.refuse(err, env?.header));
  }

  /** The inbound interceptors, in order. Each throws a CohortError to refuse. */
  private authenticate(env: Envelope): void {
    const h = env.header;
    const now = this.o.now?.() ?? Date.now();
    if (h.n !== this.o.peerName) {
      throw new CohortError(AuthErrorCode.NameMismatch, `message claims sender ${JSON.stringify(h.n)} on ${this.o.peerName}'s link`, { sender: h.n });
    }
    this.o.checkToken?.(h.tok);
    if (h.ts === undefined || h.sq === undefined || h.mac === undefined) {
      throw new CohortError(AuthErrorCode.Malformed, "message lacks timestamp, sequence number or MAC", {});
    }
    const skew = this.o.skewMs ?? 60_000;
    if (Math.abs(now - h.ts) > skew) {
      throw new CohortError(AuthErrorCode.Stale, `message timestamp ${new Date(h.ts).toISOString()} is more than ${skew / 1000} s from this site's clock`, {
        ts: h.ts,
      });
    }
    const macBody = h.k === "chunk" ? [env.body.subarray(0, CHUNK_HEADER_BYTES)] : [env.body];
    const expected = computeMac(this.recvKey, { kind: h.k, id: h.id, replyTo: h.re ?? "", topic: h.t ?? "", sender: h.n, timestamp: h.ts, seq: h.sq }, macBody);
    if (!macMatches(expected, h.mac)) {
      throw new CohortError(AuthErrorCode.BadMac, "message authentication code does not match (altered header or body, or not this session's key)", {});
    }
    // The window is updated only for authentic messages, so forged ones cannot burn sequence numbers.
    const replay = this.window.check(h.sq);
    if (replay)
      throw new CohortError(
        AuthErrorCode.Replay,
        `message sequence ${h.sq} ${replay === "replayed" ? "was already received (replay)" : "is older than the replay window"}`,
        { seq: h.sq },
      );
  }

  private async dispatch(env: Envelope): Promise<void> {
    const h = env.header;
    const meta: MessageMeta = { sender: this.o.peerName, id: h.id, topic: h.t ?? "", ...(this.o.peerInfo ? { peer: this.o.peerInfo } : {}) };
    switch (h.k) {
      case "req": {
        const handler = this.requestHandlers.get(meta.topic);
        if (!handler) throw new CohortError(TransportErrorCode.NoHandler, `no handler for ${JSON.stringify(meta.topic)}`, { topic: meta.topic });
        let reply: Body | undefined;
        try {
          reply = await handler(env.body, meta);
        } catch (err) {
          if (isCohortError(err)) throw err;
          throw new CohortError(
            TransportErrorCode.HandlerFailed,
            `handler for ${meta.topic} failed: ${(err as Error).message}`,
            { topic: meta.topic },
            { cause: err },
          );
        }
        await this.sendFrame("rep", { id: newId(), re: h.id }, asParts(reply));
        return;
      }
      case "rep":
      case "refused": {
        const p = h.re ? this.pending.get(h.re) : undefined;
        if (!p || !h.re) return; // a late reply after a timeout
        this.pending.delete(h.re);
        clearTimeout(p.timer);
        if (h.k === "rep") p.resolve(env.body);
        else
          p.reject(
            new CohortError(h.code ?? TransportErrorCode.Refused, `${this.o.peerName} refused: ${h.msg ?? "no reason given"}`, {
              peer: this.o.peerName,
              remoteCode: h.code,
            }),
          );
        return;
      }
      case "msg": {
        const handler = this.messageHandlers.get(meta.topic);
        if (!handler) throw new CohortError(TransportErrorCode.NoHandler, `no handler for ${JSON.stringify(meta.topic)}`, { topic: meta.topic });
        handler(env.body, meta);
        return;
      }
      case "chunk": {
        const done = this.o.streams.accept(this.streamPeer(), env.body);
        if (!done) return;
        const handler = this.streamHandlers.get(meta.topic);
        if (!handler) {
          done.dispose();
          throw new CohortError(TransportErrorCode.NoHandler, `no stream handler for ${JSON.stringify(meta.topic)}`, { topic: meta.topic });
        }
        handler(done, meta);
        return;
      }
      case "ping":
        await this.sendFrame("pong", { id: newId(), re: h.id }, []);
        return;
      case "pong": {
        const p = h.re ? this.pending.get(h.re) : undefined;
        if (!p || !h.re) return;
        this.pending.delete(h.re);
        clearTimeout(p.timer);
        p.resolve(new Uint8Array(0));
        return;
      }
      case "bye":
        this.close("peer said bye");
        return;
      case "welcome":
        if (this.o.role !== "client" || !this.o.onWelcome) throw new CohortError(AuthErrorCode.Malformed, "unexpected welcome", {});
        this.o.onWelcome(env.body);
        return;
      default:
        throw new CohortError(AuthErrorCode.Malformed, `unexpected ${h.k} message after login`, { kind: h.k });
    }
  }

  private refuse(err: unknown, header: Header | undefined): void {
    const code = isCohortError(err) ? err.code : TransportErrorCode.HandlerFailed;
    const reason = err instanceof Error ? err.message : String(err);
    this.o.onRefusal?.({ code, reason, ...(header ? { header } : {}) });
    if (header && (header.k === "req" || header.k === "msg" || header.k === "chunk") && !this.closed) {
      // Tell the sender why (its request fails with this code), unless the link is going away.
      this.sendFrame("refused", { id: newId(), re: header.id, code, msg: reason.slice(0, 2000) }, []).catch(() => undefined);
    }
    if (++this.refusals >= (this.o.maxRefusals ?? MAX_REFUSALS_PER_LINK)) this.close(`too many refused messages (${this.refusals})`);
  }

  /** Called by the owner when the link closes: fails pending requests, tells close handlers. */
  handleClose(err?: Error): void {
    this.closedError ??= new CohortError(
      TransportErrorCode.Closed,
      `link to ${this.o.peerName} closed${err ? `: ${err.message}` : ""}`,
      {},
      err ? { cause: err } : undefined,
    );
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(this.closedError);
      this.pending.delete(id);
    }
    for (const h of this.closeHandlers) h(err);
  }
}
