/**
 * Messages between the sites of a job (swarm learning): what a site's job code sees. Sending goes
 * out through the site process (which seals the message end to end for the peer and has the server
 * relay it); received messages wait in a bounded inbox until the job code asks for them by sender
 * and topic, so a message that arrives before its receive() call is not lost.
 */
import { CohortError } from "../../errors/index.js";
import { PeerErrorCode } from "./errors.js";
import { RuntimeErrorCode } from "../jobs/errors.js";

/** Peer messaging as job code uses it (`ctx.peers`). */
export interface PeerMessenger {
  /** Sends `payload` to another site of the job; resolves once that site's job has taken it. */
  send(site: string, topic: string, payload: Uint8Array, timeoutMs?: number): Promise<void>;
  /** The next message on `topic` from `site` (already arrived, or the first to arrive within `timeoutMs`); `signal` gives up waiting. */
  receive(site: string, topic: string, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Drops messages waiting in this site's inbox that the job no longer needs; returns how many. */
  discard?(match: (from: string, topic: string) => boolean): number;
}

const TOPIC = /^[A-Za-z0-9._:-]{1,128}$/;

export function checkPeerTopic(topic: string): void {
  if (!TOPIC.test(topic))
    throw new CohortError(PeerErrorCode.Topic, `peer message topic ${JSON.stringify(topic.slice(0, 140))}: use 1–128 letters, digits, '.', '_', ':' or '-'`, {
      topic: topic.slice(0, 140),
    });
}

interface Waiter {
  resolve(b: Uint8Array): void;
  reject(e: Error): void;
}

/** The receiving side: bounded by message count and bytes; a full inbox refuses (the sender sees why). */
export class PeerInbox {
  private readonly queued = new Map<string, Uint8Array[]>();
  private readonly waiting = new Map<string, Waiter[]>();
  private count = 0;
  private bytes = 0;
  /** Per sender: one hostile or chatty peer cannot fill the inbox for the others. */
  private readonly perSender = new Map<string, { count: number; bytes: number }>();

  constructor(private readonly o: { site: string; peers: readonly string[]; signal: AbortSignal; maxMessages?: number; maxBytes?: number }) {
    o.signal.addEventListener("abort", () => {
      for (const ws of this.waiting.values())
        for (const w of ws) w.reject(new CohortError(RuntimeErrorCode.Aborted, `job ended: ${String(o.signal.reason)}`, {}));
      this.waiting.clear();
      this.queued.clear();
    });
  }

  private key(from: string, topic: string): string {
    return `${from}\n${topic}`;
  }

  /** Called by the site process's delivery; throws when the message cannot be taken. */
  deliver(from: string, topic: string, payload: Uint8Array): void {
    checkPeerTopic(topic);
    if (!this.o.peers.includes(from)) throw new CohortError(PeerErrorCode.NotAPeer, `${from} is not a site of this job`, { from });
    const k = this.key(from, topic);
    const waiters = this.waiting.get(k);
    const w = waiters?.shift();
    if (waiters?.length === 0) this.waiting.delete(k);
    if (w) {
      w.resolve(payload);
      return;
    }
    const maxMessages = this.o.maxMessages ?? 256;
    const maxBytes = this.o.maxBytes ?? 4 * 1024 ** 3;
    const others = Math.max(1, this.o.peers.length - 1);
    const mine = this.perSender.get(from) ?? { count: 0, bytes: 0 };
    const senderMessages = Math.max(8, Math.floor(maxMessages / others));
    const senderBytes = Math.floor(maxBytes / others);
    if (
      this.count + 1 > maxMessages ||
      this.bytes + payload.byteLength > maxBytes ||
      mine.count + 1 > senderMessages ||
      mine.bytes + payload.byteLength > senderBytes
    ) {
      throw new CohortError(
        PeerErrorCode.InboxFull,
        `${this.o.site}'s peer inbox is full for ${from} (${mine.count} messages, ${mine.bytes} bytes waiting from it, limits ${senderMessages}, ${senderBytes}; ${this.count}, ${this.bytes} in all)`,
        { site: this.o.site, from },
      );
    }
    const q = this.queued.get(k) ?? [];
    q.push(payload);
    this.queued.set(k, q);
    this.account(from, 1, payload.byteLength);
  }

  private account(from: string, count: number, bytes: number): void {
    this.count += count;
    this.bytes += bytes;
    const mine = this.perSender.get(from) ?? { count: 0, bytes: 0 };
    mine.count += count;
    mine.bytes += bytes;
    if (mine.count === 0) this.perSender.delete(from);
    else this.perSender.set(from, mine);
  }

  /** Drops waiting messages the job no longer needs (e.g. earlier rounds'); returns how many. */
  discard(match: (from: string, topic: string) => boolean): number {
    let dropped = 0;
    for (const [k, q] of [...this.queued]) {
      const [from = "", topic = ""] = k.split("\n");
      if (!match(from, topic)) continue;
      for (const b of q) this.account(from, -1, -b.byteLength);
      dropped += q.length;
      this.queued.delete(k);
    }
    return dropped;
  }

  receive(from: string, topic: string, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkPeerTopic(topic);
    if (this.o.signal.aborted) return Promise.reject(new CohortError(RuntimeErrorCode.Aborted, `job ended: ${String(this.o.signal.reason)}`, {}));
    const k = this.key(from, topic);
    const q = this.queued.get(k);
    const first = q?.shift();
    if (first) {
      if (q?.length === 0) this.queued.delete(k);
      this.account(from, -1, -first.byteLength);
      return Promise.resolve(first);
    }
    // A message already here is taken even when the caller has given up waiting for more.
    if (signal?.aborted)
      return Promise.reject(signal.reason instanceof Error ? signal.reason : new CohortError(PeerErrorCode.Timeout, String(signal.reason), {}));
    return new Promise<Uint8Array>((resolve, reject) => {
      const list = this.waiting.get(k) ?? [];
      const giveUp = (err: Error): void => {
        const i = list.indexOf(waiter);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0 && this.waiting.get(k) === list) this.waiting.delete(k);
        waiter.reject(err);
      };
      const timer = setTimeout(
        () =>
          giveUp(
            new CohortError(PeerErrorCode.Timeout, `${this.o.site}: no ${topic} message from ${from} within ${Math.round(timeoutMs / 1000)} s`, {
              from,
              topic,
            }),
          ),
        timeoutMs,
      );
      const onAbort = (): void =>
        giveUp(signal?.reason instanceof Error ? signal.reason : new CohortError(PeerErrorCode.Timeout, String(signal?.reason), { from, topic }));
      signal?.addEventListener("abort", onAbort, { once: true });
      const waiter: Waiter = {
        resolve: (b) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          resolve(b);
        },
        reject: (e) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      list.push(waiter);
      this.waiting.set(k, list);
    });
  }
}
