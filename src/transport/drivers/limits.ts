import { DEFAULT_LINK_LIMITS, type LinkLimits } from "../driver.js";
import { LinkErrorCode, linkError } from "./errors.js";

/** Fills defaults and checks every limit is a positive safe integer (frames: at most 2^32-1 bytes). */
export function resolveLimits(partial: Partial<LinkLimits> | undefined): LinkLimits {
  const limits: LinkLimits = { ...DEFAULT_LINK_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw linkError(LinkErrorCode.Config, `link limit ${name} must be a positive integer, got ${String(value)}`, { name, value });
    }
  }
  if (limits.maxFrameBytes > 0xffff_ffff) {
    throw linkError(LinkErrorCode.Config, `maxFrameBytes must be at most 4294967295 (32-bit length prefix), got ${limits.maxFrameBytes}`);
  }
  // Before login a link never takes more than it would after.
  return { ...limits, preLoginFrameBytes: Math.min(limits.preLoginFrameBytes, limits.maxFrameBytes) };
}

/** Counts open connections per remote address (listener side). */
export class AddressCounter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Takes a slot for `address`; false (and nothing taken) when it already holds `max`. */
  acquire(address: string): boolean {
    const n = this.counts.get(address) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = this.counts.get(address) ?? 0;
    if (n <= 1) this.counts.delete(address);
    else this.counts.set(address, n - 1);
  }

  count(address: string): number {
    return this.counts.get(address) ?? 0;
  }
}
