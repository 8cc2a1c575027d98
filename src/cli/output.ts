import { isCohortError } from "../errors/index.js";

/** Exit codes (FLARE's provision uses 4 for invalid input and 5 for build errors). */
export const ExitCode = { Ok: 0, Failed: 1, InvalidInput: 4, BuildError: 5 } as const;

export function printWarnings(warnings: readonly string[]): void {
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
}

/** Prints an error as `error [CODE]: message` and returns the exit code to use. */
export function reportError(err: unknown, fallbackCode: number = ExitCode.Failed): number {
  if (isCohortError(err)) {
    process.stderr.write(`error [${err.code}]: ${err.message}\n`);
    return err.code.startsWith("ERR_CONFIG_") ? ExitCode.InvalidInput : fallbackCode;
  }
  process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return fallbackCode;
}

/** Renders rows as an aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
