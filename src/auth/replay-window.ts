/**
 * Sliding replay window over message sequence numbers (as IPsec's): accepts each number once,
 * accepts reordering within `size` of the highest seen, refuses older or repeated numbers.
 */
export class ReplayWindow {
  private highest = 0;
  private readonly seen: Uint8Array;

  constructor(readonly size = 1024) {
    this.seen = new Uint8Array(size);
  }

  /** Returns undefined when `seq` is fresh (and records it), else why it is refused. */
  check(seq: number): "replayed" | "too-old" | "invalid" | undefined {
    if (!Number.isSafeInteger(seq) || seq < 1) return "invalid";
    if (seq > this.highest) {
      const advance = seq - this.highest;
      if (advance >= this.size) this.seen.fill(0);
      else for (let s = this.highest + 1; s < seq; s++) this.seen[s % this.size] = 0;
      this.highest = seq;
      this.seen[seq % this.size] = 1;
      return undefined;
    }
    if (this.highest - seq >= this.size) return "too-old";
    if (this.seen[seq % this.size]) return "replayed";
    this.seen[seq % this.size] = 1;
    return undefined;
  }
}
