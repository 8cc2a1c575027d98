/**
 * FLARE's command-line habits for `cohort simulator` and `cohort poc`: its one-dash long flags
 * (`-gpu`, `-he`, `-ex`, `-debug`) and underscore option names (`--n_clients`), client names as a
 * comma-separated string or a list, GPU ids as `0,1`, `0 1` or FLARE's groups `[0,1],[2]`.
 */
import type { Command } from "commander";
import { CohortError } from "../errors/index.js";

/** Rewrites FLARE's spellings (exact tokens) before the command parses its options. */
export function acceptFlareFlags(cmd: Command, spellings: Readonly<Record<string, string>>): Command {
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (argv: string[]) => parse(argv.map((a) => spellings[a] ?? a));
  return cmd;
}

/** The most GPU ids one command takes (ids are 0..255, each once). */
const MAX_GPUS = 256;

/** GPU ids from `-gpu` values: `0,1`, `0 1`, FLARE's groups `[0,1],[2,3]`; whole numbers 0..255, each once. */
export function parseGpuIds(values: readonly string[], code: string): number[] {
  const tokens = values.flatMap((v) => v.split(/[\s,[\]]+/)).filter((t) => t.length > 0);
  const ids: number[] = [];
  for (const t of tokens) {
    const n = Number(t);
    if (!/^\d+$/.test(t) || n > 255)
      throw new CohortError(code, `-gpu ${JSON.stringify(t)}: a GPU id is a whole number 0..255, e.g. -gpu 0,1`, { flag: "-gpu", value: t });
    if (ids.includes(n)) throw new CohortError(code, `-gpu: GPU ${n} is given twice`, { flag: "-gpu", value: n });
    ids.push(n);
  }
  if (ids.length > MAX_GPUS) throw new CohortError(code, `-gpu: ${ids.length} ids, at most ${MAX_GPUS}`, { flag: "-gpu" });
  return ids;
}

/** Client names from `-c`: FLARE's simulator takes `a,b`, its POC `a b`; both work here. */
export function clientNames(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(/[\s,]+/)).filter((s) => s.length > 0);
}

/** Every value of a flag that may be given as one string or as several (commander's variadic values). */
export function listOf(v: string | readonly string[] | undefined): readonly string[] {
  return v === undefined ? [] : typeof v === "string" ? [v] : v;
}
