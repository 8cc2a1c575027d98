/**
 * Reconnect delay for the given attempt (0-based): exponential from `initialMs`, capped at `maxMs`,
 * with "full jitter" (uniform in [delay/2, delay]) so that many sites do not reconnect in lockstep.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
