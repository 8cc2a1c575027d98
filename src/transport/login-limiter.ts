/** Login attempts per remote address per rolling minute; bounded memory under address spraying. */
export class LoginRateLimiter {
  private readonly attempts = new Map<string, number[]>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an attempt from `address`; false when it is over the limit. */
  allow(address: string): boolean {
    const now = this.now();
    const recent = (this.attempts.get(address) ?? []).filter((t) => now - t < 60_000);
    if (this.attempts.size > 10_000) this.attempts.clear();
    recent.push(now);
    this.attempts.set(address, recent.slice(-this.perMinute - 1));
    return recent.length <= this.perMinute;
  }
}
