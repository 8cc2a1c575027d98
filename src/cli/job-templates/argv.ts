/**
 * The flags of FLARE's `nvflare job` subcommands, read as its argparse reads them: single-dash
 * long flags (`-sd`, `-force`, `-debug`), `--long` and `--long=value`, and `-f <file> [key=value …]`
 * repeated, each `-f` taking the words up to the next flag. Commander cannot express `-sd` or a
 * repeated group, so `cohort job` passes its words here.
 */
import { CohortError } from "../../errors/index.js";
import { JobTemplateErrorCode } from "./errors.js";

export interface FlagSpec {
  /** The flag's name in results (FLARE's dest, e.g. `job_folder`). */
  readonly name: string;
  /** Every spelling, e.g. ["-j", "--job_folder"]. */
  readonly spellings: readonly string[];
  /** value: one word; bool: none; group: one or more words, repeatable. */
  readonly kind: "value" | "bool" | "group";
}

export interface ParsedFlags {
  readonly values: ReadonlyMap<string, string>;
  readonly bools: ReadonlySet<string>;
  readonly groups: ReadonlyMap<string, readonly (readonly string[])[]>;
}

const isFlagWord = (w: string): boolean => /^-{1,2}[A-Za-z]/.test(w);

/** Parses `words` (after the subcommand) against `specs`; an unknown flag or a stray word is refused, naming the command's flags. */
export function parseFlags(command: string, words: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const values = new Map<string, string>();
  const bools = new Set<string>();
  const groups = new Map<string, string[][]>();
  const known = specs.flatMap((s) => s.spellings).join(", ");
  const usage = (message: string, value: string): CohortError =>
    new CohortError(JobTemplateErrorCode.Usage, `cohort job ${command}: ${message}; its flags are ${known} (cohort job ${command} -h)`, { value });
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const spec = specs.find((s) => s.spellings.includes(flag));
    if (!spec) throw usage(isFlagWord(word) ? `unknown flag ${JSON.stringify(flag)}` : `unexpected word ${JSON.stringify(word)}`, word);
    if (spec.kind === "bool") {
      if (eq > 0) throw usage(`${flag} takes no value`, word);
      bools.add(spec.name);
      continue;
    }
    const taken: string[] = eq > 0 ? [word.slice(eq + 1)] : [];
    while (i + 1 < words.length && !isFlagWord(words[i + 1] as string) && (spec.kind === "group" || taken.length === 0)) taken.push(words[++i] as string);
    if (taken.length === 0 || taken[0] === "") throw usage(`${flag} needs a value`, word);
    if (spec.kind === "value") {
      if (values.has(spec.name)) throw usage(`${flag} is given twice`, word);
      values.set(spec.name, taken[0] as string);
    } else groups.set(spec.name, [...(groups.get(spec.name) ?? []), taken]);
  }
  return { values, bools, groups };
}
