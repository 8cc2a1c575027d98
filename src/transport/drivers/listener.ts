import type { Listener } from "../driver.js";
import type { Acceptor } from "./acceptor.js";
import type { LinkConnection } from "./connection.js";

/** How long Listener.close() waits for peers to finish closing before destroying their sockets. */
export const LISTENER_CLOSE_GRACE_MS = 2000;

/** The open connections of one listener, and its close(): close them all, then the acceptor. */
export class LinkListener implements Listener {
  private readonly open = new Set<LinkConnection>();
  private closing: Promise<void> | undefined;
  private acceptor: Acceptor | undefined;

  constructor(readonly host: string) {}

  /** The acceptor is listening: the listener is ready. */
  bind(acceptor: Acceptor): this {
    this.acceptor = acceptor;
    return this;
  }

  get port(): number {
    return this.acceptor?.port ?? 0;
  }

  /** Tracks an established connection until it finishes. */
  track(connection: LinkConnection): void {
    this.open.add(connection);
    connection.whenFinished(() => this.open.delete(connection));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const all = [...this.open];
      const finished = Promise.all(all.map((c) => new Promise<void>((resolve) => c.whenFinished(resolve))));
      for (const c of all) c.close("listener closing");
      await Promise.all([finished, this.acceptor?.close(LISTENER_CLOSE_GRACE_MS)]);
    })();
    return this.closing;
  }
}
