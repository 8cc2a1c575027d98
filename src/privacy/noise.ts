/**
 * Noise for differential privacy from node:crypto (never Math.random): uniform doubles from 53
 * random bits, Gaussian by Box–Muller, Laplace by inverse CDF.
 */
import { randomFillSync } from "node:crypto";

const TWO_POW_53 = 9007199254740992;

export class SecureRandom {
  private readonly buf = new Uint32Array(2048);
  private next = this.buf.length;
  private spare: number | undefined;

  private u32(): number {
    if (this.next >= this.buf.length) {
      randomFillSync(this.buf);
      this.next = 0;
    }
    return this.buf[this.next++] as number;
  }

  /** Uniform in the open interval (0, 1). */
  uniform(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / TWO_POW_53;
  }

  /** Standard normal N(0, 1) (Box–Muller). */
  gaussian(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const t = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }

  /** Laplace(0, b) by inverse CDF. */
  laplace(b: number): number {
    const u = this.uniform() - 0.5;
    return -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

export const secureRandom = new SecureRandom();
