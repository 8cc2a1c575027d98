import type { AuditEventInput, AuditLog } from "./audit-log.js";

/**
 * Audits refusals without letting a flood of hostile input fill the disk: per (address, code), at
 * most `burst` lines, refilled at `perSecond`; what is dropped is counted and written as one
 * `audit.suppressed` line when that key may write again.
 */
export class RefusalAuditor {
  private readonly buckets = new Map<string, { tokens: number; last: number; suppressed: number }>();

  constructor(
    private readonly log: AuditLog,
    private readonly options: { burst: number; perSecond: number; now?: () => number } = { burst: 20, perSecond: 5 },
  ) {}

  record(event: AuditEventInput): string | undefined {
    const now = this.options.now?.() ?? Date.now();
    const key = `${event.address ?? "-"}|${event.code ?? event.action}`;
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 10_000) this.buckets.clear(); // bounded memory under address spraying
      b = { tokens: this.options.burst, last: now, suppressed: 0 };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.options.burst, b.tokens + ((now - b.last) / 1000) * this.options.perSecond);
    b.last = now;
    if (b.tokens < 1) {
      b.suppressed++;
      return undefined;
    }
    b.tokens -= 1;
    if (b.suppressed > 0) {
      this.log.append({
        action: "audit.suppressed",
        outcome: "denied",
        ...(event.address ? { address: event.address } : {}),
        ...(event.code ? { code: event.code } : {}),
        reason: `${b.suppressed} similar refusals were not written individually (rate limit)`,
      });
      b.suppressed = 0;
    }
    return this.log.append(event);
  }
}
