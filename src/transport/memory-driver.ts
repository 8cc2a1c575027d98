import { randomUUID } from "node:crypto";
import { CohortError } from "../errors/index.js";
import { LinkErrorCode } from "./drivers/errors.js";
import type { Connection, DialOptions, Driver, ListenOptions, Listener } from "./driver.js";

/**
 * An in-process driver (as fastify's inject): frames are handed over on the next tick, in order.
 * For unit tests of the layers above the link; it has no TLS, so peerCertificate is undefined.
 */
class MemoryConnection implements Connection {
  readonly id = randomUUID();
  readonly scheme = "tcp" as const;
  readonly security = "clear" as const;
  readonly peerCertificate = undefined;
  peer: MemoryConnection | undefined;
  private frameHandler: ((frame: Uint8Array) => void) | undefined;
  private closeHandler: ((error?: Error) => void) | undefined;
  private queue: Uint8Array[] = [];
  closed = false;

  constructor(readonly remoteAddress: string) {}

  send(parts: readonly Uint8Array[]): Promise<void> {
    if (this.closed) return Promise.reject(new CohortError(LinkErrorCode.Closed, "connection closed", {}));
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    const frame = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      frame.set(p, o);
      o += p.byteLength;
    }
    const peer = this.peer;
    setImmediate(() => peer?.deliver(frame));
    return Promise.resolve();
  }

  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.frameHandler) this.frameHandler(frame);
    else this.queue.push(frame);
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
    const queued = this.queue;
    this.queue = [];
    for (const f of queued) handler(f);
  }

  onClose(handler: (error?: Error) => void): void {
    this.closeHandler = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.closeHandler?.());
    // After the frames already handed over (setImmediate runs in order), like a socket's FIN.
    const peer = this.peer;
    setImmediate(() => peer?.close());
  }
}

export function createMemoryDriver(): Driver {
  const listeners = new Map<number, ListenOptions>();
  let nextPort = 40000;
  return {
    scheme: "tcp",
    listen(options: ListenOptions): Promise<Listener> {
      const port = options.port || nextPort++;
      listeners.set(port, options);
      return Promise.resolve({
        host: options.host,
        port,
        close: () => {
          listeners.delete(port);
          return Promise.resolve();
        },
      });
    },
    dial(options: DialOptions): Promise<Connection> {
      const l = listeners.get(options.port);
      if (!l) return Promise.reject(new CohortError(LinkErrorCode.Refused, `nothing listens on memory port ${options.port}`, {}));
      const client = new MemoryConnection(options.host);
      const server = new MemoryConnection("127.0.0.1");
      client.peer = server;
      server.peer = client;
      setImmediate(() => l.onConnection(server));
      return Promise.resolve(client);
    },
  };
}
