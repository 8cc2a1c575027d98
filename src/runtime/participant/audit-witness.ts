import { z } from "zod";
import { AuditErrorCode, createCheckpoint, recordWitness, verifyCheckpoint, type AuditLog, type Checkpoint } from "../../audit/index.js";
import { CohortError } from "../../errors/index.js";
import { decode, encode } from "../../wire/index.js";

const ackSchema = z.object({ ack: z.string() });

/**
 * Each participant signs a checkpoint of its audit chain head (line count and hash) with its kit
 * key and gives it to its peer (sites → server, server → each site), which verifies it and records
 * it in its own log as a witness: a tail cut back behind a witnessed checkpoint is then provable
 * (`cohort audit verify --witness`). Sent at login, at most every `intervalMs` while lines are
 * written, and on shutdown.
 */
export class CheckpointExchange {
  private timer: NodeJS.Timeout | undefined;
  private lastSent = -1;
  /** Head seq that does not count as new activity (our own witness records). */
  private quietSeq = -1;

  constructor(
    private readonly o: {
      audit: AuditLog;
      signer: { certPem: string; keyPem: string };
      rootPem: string;
      /** Sends a checkpoint to the peers; resolves with how many acknowledged. */
      send: (cp: Uint8Array) => Promise<number>;
      intervalMs?: number;
      log: (line: string) => void;
      /** Who may give us checkpoints: the server takes them from sites only, a site from the server only. */
      accepts: (peer: string) => boolean;
    },
  ) {}

  /** The last checkpoint taken from each peer: one per interval, and only when its log moved on. */
  private readonly lastFrom = new Map<string, { seq: number; at: number }>();

  start(): void {
    this.timer = setInterval(() => void this.sendIfMoved(), this.o.intervalMs ?? 10_000);
    this.timer.unref();
  }

  /** Sends a checkpoint now (login, shutdown), or when new lines were written since the last. */
  async sendIfMoved(force = false): Promise<void> {
    const head = this.o.audit.head();
    if (!force && (head.seq === this.lastSent || head.seq === this.quietSeq)) return;
    this.lastSent = head.seq;
    try {
      const cp = createCheckpoint(this.o.audit, this.o.signer);
      await this.o.send(encode(cp));
    } catch (err) {
      this.o.log(`audit checkpoint not delivered: ${(err as Error).message}`);
    }
  }

  /**
   * Handles a peer's checkpoint: verify, record as a witness, acknowledge with the record's id.
   * A refusal is thrown, not written: the link that carried the request audits it once, as
   * `message.refused` with the code, through the rate-limited refusal writer.
   */
  receive(body: Uint8Array, peer: string, now = Date.now()): Uint8Array {
    const before = this.o.audit.head().seq;
    if (!this.o.accepts(peer))
      throw new CohortError(
        AuditErrorCode.CheckpointNotAllowed,
        `${peer} may not give this participant audit checkpoints (only sites to the server, and the server to a site)`,
        { peer },
      );
    const cp = decode(body) as Checkpoint;
    verifyCheckpoint(cp, this.o.rootPem, { peer });
    const last = this.lastFrom.get(peer);
    const minGap = (this.o.intervalMs ?? 10_000) / 2;
    if (last && now - last.at < minGap)
      throw new CohortError(
        AuditErrorCode.CheckpointRate,
        `${peer} sent another checkpoint ${now - last.at} ms after its last; at most one per ${minGap} ms is recorded`,
        { peer },
      );
    if (last && cp.seq <= last.seq)
      throw new CohortError(AuditErrorCode.CheckpointStale, `${peer}'s checkpoint covers line ${cp.seq}, not past the ${last.seq} already witnessed`, {
        peer,
        seq: cp.seq,
      });
    this.lastFrom.set(peer, { seq: cp.seq, at: now });
    const id = recordWitness(this.o.audit, cp);
    // Only our witness line was added: that alone does not call for a new checkpoint of ours.
    if (this.o.audit.head().seq === before + 1 && (before === this.lastSent || before === this.quietSeq)) this.quietSeq = this.o.audit.head().seq;
    return encode({ ack: id });
  }

  /** Final checkpoint on shutdown, waiting a bounded time for the acknowledgement. */
  async stop(waitMs = 3_000): Promise<void> {
    clearInterval(this.timer);
    await Promise.race([this.sendIfMoved(true), new Promise((r) => setTimeout(r, waitMs).unref())]);
  }
}

/** Counts acknowledgements in peer replies. */
export function acknowledged(replies: readonly PromiseSettledResult<Uint8Array>[]): number {
  return replies.filter((r) => r.status === "fulfilled" && ackSchema.safeParse(decode(r.value)).success).length;
}
