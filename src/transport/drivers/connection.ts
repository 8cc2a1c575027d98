import { randomBytes, type X509Certificate } from "node:crypto";
import type { Connection, ConnectionSecurity, FramePlacement, FramePlacer, Scheme } from "../driver.js";
import type { Socket } from "node:net";
import { LinkErrorCode, errorMessage, linkError } from "./errors.js";
import { PreLoginMeter, type PreLoginBudget } from "./prelogin.js";

export interface ConnectionInit {
  readonly scheme: Scheme;
  readonly security: ConnectionSecurity;
  readonly remoteAddress: string;
  readonly peerCertificate: X509Certificate | undefined;
  readonly maxFrameBytes: number;
  /**
   * Listener side: frames above `frameBytes` are refused until {@link LinkConnection.authenticated},
   * and the bytes read from `socket` and not yet delivered count against `budget` (or, where the
   * bytes cannot be seen, `reservedBytes` already taken from it). A connection whose client
   * certificate verified (mtls) is not anonymous and is not charged.
   */
  readonly preLogin?: { readonly frameBytes: number; readonly budget?: PreLoginBudget; readonly socket?: Socket; readonly reservedBytes?: number };
}

/**
 * What the three drivers share: frame size checks on send, delivery with pause/resume and a queue
 * for frames that arrive before `onFrame`, idempotent close, `onClose` exactly once, and sends that
 * resolve once the OS has the bytes but reject as soon as the connection closes.
 */
export abstract class LinkConnection implements Connection {
  readonly id: string;
  readonly scheme: Scheme;
  readonly security: ConnectionSecurity;
  readonly remoteAddress: string;
  readonly peerCertificate: X509Certificate | undefined;
  protected readonly maxFrameBytes: number;
  /** Largest frame taken from the peer now: preLoginFrameBytes until login (listener side), then maxFrameBytes. */
  protected receiveLimit: number;
  private meter: PreLoginMeter | undefined;

  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  /** Set by drivers that support placement (tcp), through `placeLargeFrames`. */
  protected framePlacer: FramePlacer | undefined;
  private closeHandler: ((error?: Error) => void) | undefined;
  private readonly queued: Uint8Array[] = [];
  private paused = false;
  private closing = false;
  private finished = false;
  private finishError: Error | undefined;
  private readonly closeWaiters = new Set<(error: Error) => void>();
  private readonly finishListeners: Array<() => void> = [];

  protected constructor(init: ConnectionInit) {
    this.id = `${init.scheme}-${randomBytes(6).toString("hex")}`;
    this.scheme = init.scheme;
    this.security = init.security;
    this.remoteAddress = init.remoteAddress;
    this.peerCertificate = init.peerCertificate;
    this.maxFrameBytes = init.maxFrameBytes;
    this.receiveLimit = init.preLogin ? Math.min(init.preLogin.frameBytes, init.maxFrameBytes) : init.maxFrameBytes;
    const budget = init.preLogin?.budget;
    if (budget && init.peerCertificate === undefined) {
      const meter = new PreLoginMeter(budget, init.remoteAddress);
      this.meter = meter;
      if (init.preLogin?.reservedBytes) meter.adopt(init.preLogin.reservedBytes);
      // Ahead of the driver's own listener (ws attaches its own first): the budget is checked before
      // the bytes are parsed into a frame.
      init.preLogin?.socket?.prependListener("data", (chunk: Buffer) => {
        const refusal = this.meter?.add(chunk.length);
        if (refusal) this.fail(refusal);
      });
      this.whenFinished(() => meter.stop());
    }
  }

  /** The peer logged in: frames up to maxFrameBytes from now on, and no more pre-login metering. */
  authenticated(): void {
    this.meter?.stop();
    this.meter = undefined;
    if (this.receiveLimit === this.maxFrameBytes) return;
    this.receiveLimit = this.maxFrameBytes;
    this.raiseReceiveLimit(this.maxFrameBytes);
  }

  /** Driver: apply a larger receive limit to the transport (the pre-login one was applied at creation). */
  protected raiseReceiveLimit(_bytes: number): void {}

  /** The error for a received frame above the current receive limit. */
  protected tooLargeError(size: number | undefined): Error {
    const before = this.meter !== undefined || this.receiveLimit < this.maxFrameBytes;
    const what = size === undefined ? "a frame" : `a frame of ${size} bytes`;
    return linkError(
      LinkErrorCode.FrameTooLarge,
      before
        ? `received ${what} before login, above the pre-login limit of ${this.receiveLimit} bytes (only the login handshake may be sent before logging in)`
        : `received ${what}, above maxFrameBytes ${this.maxFrameBytes}`,
      { ...(size === undefined ? {} : { size }), max: this.receiveLimit, preLogin: before },
    );
  }

  get closed(): boolean {
    return this.closing || this.finished;
  }

  /** Writes one frame; resolves when handed to the transport (after 'drain' when it pushed back). */
  protected abstract writeFrame(parts: readonly Uint8Array[], size: number): Promise<void>;
  /** Starts a graceful close of the transport; the driver calls {@link finish} when it is done. */
  protected abstract closeTransport(reason: string | undefined): void;
  /** Tears the transport down now (after an error); the driver still calls {@link finish}. */
  protected abstract destroyTransport(error: Error): void;
  protected abstract pauseTransport(): void;
  protected abstract resumeTransport(): void;

  async send(parts: readonly Uint8Array[]): Promise<void> {
    if (this.closed) throw this.closedError();
    let size = 0;
    for (const part of parts) size += part.byteLength;
    if (size > this.maxFrameBytes) {
      throw linkError(LinkErrorCode.FrameTooLarge, `frame of ${size} bytes exceeds maxFrameBytes ${this.maxFrameBytes}`, { size, max: this.maxFrameBytes });
    }
    return this.writeFrame(parts, size);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    this.flushQueued();
  }

  onClose(handler: (error?: Error) => void): void {
    this.closeHandler = handler;
    if (this.finished) {
      const error = this.finishError;
      this.closeHandler = undefined;
      queueMicrotask(() => handler(error));
    }
  }

  close(reason?: string): void {
    if (this.closed) return;
    this.closing = true;
    this.rejectWaiters(this.closedError());
    this.closeTransport(reason);
  }

  /** Stops delivering frames and reading from the transport until {@link resume}. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    if (!this.finished) this.pauseTransport();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flushQueued();
    if (!this.paused && !this.finished) this.resumeTransport();
  }

  /** Driver bookkeeping (listener connection sets): runs after the transport closed, besides onClose. */
  whenFinished(listener: () => void): void {
    if (this.finished) queueMicrotask(listener);
    else this.finishListeners.push(listener);
  }

  /** Driver: a whole frame arrived. */
  protected deliver(frame: Uint8Array): void {
    // After a failure nothing more is taken (the driver may still parse the chunk that failed it).
    if (this.finished || this.finishError !== undefined) return;
    this.meter?.settle();
    if (this.paused || this.frameHandler === undefined || this.queued.length > 0) {
      this.queued.push(frame);
      return;
    }
    this.callFrameHandler(frame);
  }

  /**
   * Driver: the start of a large frame arrived. Offered to the placer only when it is this frame's
   * turn (nothing queued, not paused), so frames are still handled in order.
   */
  protected placeFrame(head: Uint8Array, frameBytes: number): FramePlacement | undefined {
    if (!this.framePlacer || this.finished || this.paused || this.queued.length > 0 || this.frameHandler === undefined) return undefined;
    let placement: FramePlacement | undefined;
    try {
      placement = this.framePlacer.place(head, frameBytes);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return undefined;
    }
    if (!placement) return undefined;
    const complete = placement.complete.bind(placement);
    return {
      offset: placement.offset,
      target: placement.target,
      complete: () => {
        if (this.finished) return;
        try {
          complete();
        } catch (err) {
          this.fail(err instanceof Error ? err : new Error(String(err)));
        }
      },
    };
  }

  /** Driver: fails the connection (protocol error, oversized frame, …); onClose gets `error`. */
  protected fail(error: Error): void {
    if (this.finished) return;
    this.finishError ??= error;
    this.closing = true;
    this.rejectWaiters(error);
    this.destroyTransport(error);
  }

  /** Driver: the transport is closed; fires onClose once. */
  protected finish(error?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.closing = true;
    this.finishError ??= error;
    this.rejectWaiters(this.finishError ?? this.closedError());
    this.queued.length = 0;
    const handler = this.closeHandler;
    this.closeHandler = undefined;
    for (const listener of this.finishListeners.splice(0)) listener();
    handler?.(this.finishError);
  }

  /**
   * Wraps a write whose callback fires once the data is handed to the OS (or the library has
   * copied it): resolves then, so the caller may reuse the frame's memory; rejects on a write
   * error or as soon as the connection closes.
   */
  protected written(write: (callback: (error?: Error | null) => void) => void): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<void>((resolve, reject) => {
      const onClosed = (error: Error): void => reject(error);
      this.closeWaiters.add(onClosed);
      write((error) => {
        this.closeWaiters.delete(onClosed);
        if (error) reject(linkError(LinkErrorCode.Closed, `write to ${this.remoteAddress} failed: ${errorMessage(error)}`, { id: this.id }, error));
        else resolve();
      });
    });
  }

  protected closedError(): Error {
    return linkError(
      LinkErrorCode.Closed,
      `connection ${this.id} to ${this.remoteAddress} is closed${this.finishError ? `: ${errorMessage(this.finishError)}` : ""}`,
      { id: this.id },
      this.finishError,
    );
  }

  private rejectWaiters(error: Error): void {
    const waiters = [...this.closeWaiters];
    this.closeWaiters.clear();
    for (const w of waiters) w(error);
  }

  private flushQueued(): void {
    while (!this.paused && !this.finished && this.frameHandler !== undefined && this.queued.length > 0) {
      this.callFrameHandler(this.queued.shift() as Uint8Array);
    }
  }

  private callFrameHandler(frame: Uint8Array): void {
    try {
      (this.frameHandler as (frame: Uint8Array) => void)(frame);
    } catch (err) {
      // A throwing handler must not become an uncaught exception inside a socket callback.
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
