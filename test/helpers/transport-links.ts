/**
 * Shared fixtures for link-driver tests: TLS material per mode, listen/dial pairs on 127.0.0.1
 * port 0, and a collector that turns a connection's frames and close into awaitable values.
 */
import assert from "node:assert/strict";
import type {
  Connection,
  ConnectionRefusal,
  ConnectionSecurity,
  DialOptions,
  Driver,
  LinkLimits,
  Listener,
  ListenOptions,
  TlsMaterial,
} from "../../src/transport/driver.js";
import type { LinkCerts } from "./transport-certs.js";

export const MODES: readonly ConnectionSecurity[] = ["clear", "tls", "mtls"];

export function listenerMaterial(security: ConnectionSecurity, certs: LinkCerts): TlsMaterial | undefined {
  return security === "clear" ? undefined : certs.server;
}

/** mtls: the client's kit; tls: only the root to verify the server; clear: nothing. */
export function dialerMaterial(security: ConnectionSecurity, certs: LinkCerts): TlsMaterial | undefined {
  if (security === "clear") return undefined;
  return security === "mtls" ? certs.client : { rootCaPem: certs.client.rootCaPem };
}

/** Frames and close of one connection as promises. */
export class Collector {
  readonly frames: Buffer[] = [];
  closeCount = 0;
  closeError: Error | undefined;
  readonly closed: Promise<Error | undefined>;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(readonly connection: Connection) {
    connection.onFrame((frame) => {
      this.frames.push(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
      this.waiters = this.waiters.filter((w) => {
        if (this.frames.length < w.n) return true;
        w.resolve();
        return false;
      });
    });
    this.closed = new Promise((resolve) => {
      connection.onClose((error) => {
        this.closeCount++;
        this.closeError = error;
        resolve(error);
      });
    });
  }

  /** Resolves once `n` frames arrived in total. */
  count(n: number): Promise<void> {
    if (this.frames.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  private cursor = 0;

  /** The next frame not yet returned by next() (waits for it). */
  async next(): Promise<Buffer> {
    const index = this.cursor++;
    await this.count(index + 1);
    return this.frames[index] as Buffer;
  }
}

export interface Harness {
  readonly listener: Listener;
  readonly refusals: ConnectionRefusal[];
  /** Server-side connections, in accept order. */
  accepted(): Promise<Collector>;
  dial(extra?: Partial<DialOptions>): Promise<Connection>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly host?: string;
  readonly limits?: Partial<LinkLimits>;
  readonly listenerTls?: TlsMaterial | undefined;
  /**
   * Leave server connections in their pre-login state (frames above preLoginFrameBytes refused).
   * By default the harness plays a server whose peer has logged in: it calls `authenticated()`.
   */
  readonly preLogin?: boolean;
  /** Called for each server connection before the collector is attached (e.g. to pause it). */
  readonly onServerConnection?: (connection: Connection) => void;
  readonly preLoginBudget?: ListenOptions["preLoginBudget"];
}

export async function harness(driver: Driver, security: ConnectionSecurity, certs: LinkCerts, options: HarnessOptions = {}): Promise<Harness> {
  const refusals: ConnectionRefusal[] = [];
  const queue: Collector[] = [];
  const takers: Array<(c: Collector) => void> = [];
  const host = options.host ?? "127.0.0.1";
  const listenOptions: ListenOptions = {
    host,
    port: 0,
    security,
    tls: "listenerTls" in options ? options.listenerTls : listenerMaterial(security, certs),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.preLoginBudget ? { preLoginBudget: options.preLoginBudget } : {}),
    onConnection: (connection) => {
      if (!options.preLogin) connection.authenticated?.();
      options.onServerConnection?.(connection);
      const collector = new Collector(connection);
      const taker = takers.shift();
      if (taker) taker(collector);
      else queue.push(collector);
    },
    onRefused: (refusal) => refusals.push(refusal),
  };
  const listener = await driver.listen(listenOptions);
  const dialed: Connection[] = [];
  return {
    listener,
    refusals,
    accepted: () => {
      const c = queue.shift();
      return c ? Promise.resolve(c) : new Promise((resolve) => takers.push(resolve));
    },
    dial: async (extra = {}) => {
      const connection = await driver.dial({
        host,
        port: listener.port,
        security,
        tls: dialerMaterial(security, certs),
        timeoutMs: 5000,
        ...(options.limits ? { limits: options.limits } : {}),
        ...extra,
      });
      dialed.push(connection);
      return connection;
    },
    close: async () => {
      for (const c of dialed) c.close();
      await listener.close();
    },
  };
}

/** Waits until `predicate` holds, polling every 10 ms, at most `ms`. */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Asserts `promise` rejects with a CohortError whose code is one of `codes`; returns it. */
export async function rejectsWith(promise: Promise<unknown>, codes: readonly string[], message?: RegExp): Promise<Error & { code: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code: string };
    assert.ok(codes.includes(e.code), `expected one of ${codes.join(", ")}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return e;
  }
  return assert.fail(`expected a rejection with ${codes.join(", ")}`);
}

/**
 * A raw tcp-driver link from a test's own socket: sends the link preface once `ready` fires, and
 * once the listener answered, calls `accepted` with a function that writes a frame header
 * announcing `bytes` (then whatever body bytes the test chooses).
 */
export function rawTcpLink(socket: import("node:net").Socket, ready: "connect" | "secureConnect", accepted: (announce: (bytes: number) => void) => void): void {
  socket.once(ready, () => {
    const hello = Buffer.from("COHORT-LINK/1", "ascii");
    const header = Buffer.alloc(4);
    header.writeUInt32BE(hello.length);
    socket.write(Buffer.concat([header, hello]));
    socket.once("data", () =>
      accepted((bytes) => {
        const announced = Buffer.alloc(4);
        announced.writeUInt32BE(bytes);
        socket.write(announced);
      }),
    );
  });
}
