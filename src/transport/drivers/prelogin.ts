/**
 * Pre-login limits (listener side): until the peer has logged in, a link takes only frames of a
 * handshake size (the drivers refuse a larger one at its header, before reading the body), and the
 * bytes buffered for every unauthenticated connection of a server together are capped by one
 * {@link PreLoginBudget}. Each connection meters what it read and has not yet turned into a frame.
 */
import { LinkErrorCode, linkError } from "./errors.js";
import type { CohortError } from "../../errors/index.js";

/** Largest frame a link accepts before login (the login frames are a few KiB). */
export const PRE_LOGIN_FRAME_BYTES = 64 * 1024;
/** Bytes buffered for all unauthenticated connections of one server together. */
export const PRE_LOGIN_BUDGET_BYTES = 16 * 1024 * 1024;
/**
 * What one unauthenticated gRPC call is charged against the budget while it lasts: HTTP/2 owns
 * the socket, so the bytes it buffers cannot be counted; this is what flow control lets a peer
 * make it hold (one pre-login message plus the default 64 KiB stream window).
 */
export const GRPC_PRE_LOGIN_RESERVATION_BYTES = PRE_LOGIN_FRAME_BYTES + 64 * 1024;

/** Server-wide count of bytes held for connections that have not logged in. */
export class PreLoginBudget {
  private used = 0;

  constructor(readonly capacity: number = PRE_LOGIN_BUDGET_BYTES) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) {
      throw linkError(LinkErrorCode.Config, `the pre-login budget must be a positive integer number of bytes, got ${String(capacity)}`);
    }
  }

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes`; false (and nothing taken) when that would exceed the capacity. */
  reserve(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

/** One unauthenticated connection's share of the budget: bytes read and not yet delivered as frames. */
export class PreLoginMeter {
  private held = 0;
  /** A fixed charge held until login or close (gRPC), not settled by delivered frames. */
  private fixed = 0;
  private stopped = false;

  constructor(
    private readonly budget: PreLoginBudget,
    private readonly remoteAddress: string,
  ) {}

  /** Bytes arrived; the refusal when the server-wide budget is spent (the caller closes the link). */
  add(bytes: number): CohortError | undefined {
    if (this.stopped) return undefined;
    if (!this.budget.reserve(bytes)) {
      return linkError(
        LinkErrorCode.PreLoginBudget,
        `unauthenticated connections hold ${this.budget.inUse} bytes (the server-wide pre-login budget is ${this.budget.capacity}); closed the link from ${this.remoteAddress} before login`,
        { capacity: this.budget.capacity, address: this.remoteAddress },
      );
    }
    this.held += bytes;
    return undefined;
  }

  /** Takes over `bytes` already reserved from the budget (gRPC's fixed charge); released by {@link stop}. */
  adopt(bytes: number): void {
    this.fixed += bytes;
  }

  /** A whole frame was delivered: what was held for it is no longer buffered. */
  settle(): void {
    this.budget.release(this.held);
    this.held = 0;
  }

  /** Logged in, or closed: releases everything and stops counting. */
  stop(): void {
    this.settle();
    this.budget.release(this.fixed);
    this.fixed = 0;
    this.stopped = true;
  }
}
