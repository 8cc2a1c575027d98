// `npm run fuzz -- hocon [--seconds N] [--seed S] [--corpus file.conf …]`: mutates HOCON documents
// and random bytes and checks that parseHocon either returns a value or throws a CohortError, never
// anything else, and that no input takes long (no exponential blow-up). On a violation it prints
// the input as JSON and exits non-zero.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { xorshift32 } from "./_rng.js";
import { isCohortError } from "../src/errors/index.js";
import { parseHocon } from "../src/runtime/jobs/hocon.js";

export interface HoconFuzzReport {
  readonly seed: number;
  readonly iterations: number;
  readonly parsed: number;
  readonly refused: number;
  /** The slowest input, in milliseconds. */
  readonly slowestMs: number;
  /** The first input that threw anything but a CohortError, or took longer than `maxMsPerInput`. */
  readonly violation?: { readonly input: string; readonly error: string };
}

/** Documents exercising what the reader supports and refuses (Cohort's own samples). */
export const HOCON_SAMPLES: readonly string[] = [
  'format_version = 2\nworkflows = [\n  {\n    id = "sag"\n    path = "cohort.ScatterAndGather"\n    args { num_rounds = 3, min_clients: 2 }\n  }\n]\n',
  'name = "job"\ndeploy_map { app = ["@ALL"] }\nmin_clients = 2 # two sites\n// a comment\nresource_spec {}\n',
  '{ "a": [1, 2.5, -3e+2, true, false, null], "b": { "c": "d\\n\\u00e9" }, "": "" }',
  `a.b.c = 1\na.b.d = 2\na { e = 3 }\nx = \${a.b}\ny = \${?missing}\nz = \${a.b.c} items\n`,
  `list = [1\n2,\n3,]\nmore = \${list} [4]\nobj = { p = 1 } { q = 2 }\ntext = """raw "quoted" \\n text"""\n`,
  `base { x = 1 }\nderived = \${base} { y = 2 }\nunquoted = foo bar  baz // trailing\npath = a.b.c.d\nnum = 10s\n`,
  'include "other.conf"\n',
  `a = \${b}\nb = \${a}\n`,
  "a += [1]\n",
  `a0 = [1, 1]\na1 = [\${a0}, \${a0}]\na2 = [\${a1}, \${a1}]\na3 = [\${a2}, \${a2}]\n`,
  `s0 = xx\ns1 = \${s0}\${s0}\ns2 = \${s1}\${s1}\ns3 = \${s2}\${s2}\n`,
  '[ { a = 1 }, [ "x", { b = [] } ] ]',
];

const TOKENS = [
  "{",
  "}",
  "[",
  "]",
  "${",
  "${?",
  "}",
  '"',
  '"""',
  "\\",
  "\n",
  ",",
  "=",
  ":",
  ".",
  "#",
  "//",
  "+=",
  "include ",
  "\u0000",
  "\ud800",
  "é",
  " ",
  "\t",
  "$",
  "?",
  "*",
  "-",
  "1e9",
  "a.b",
];

function mutate(input: string, other: string, next: () => number): string {
  const at = (n: number): number => (n === 0 ? 0 : next() % n);
  const p = at(input.length + 1);
  switch (next() % 8) {
    case 0:
      return input.slice(0, p) + (TOKENS[at(TOKENS.length)] as string) + input.slice(p);
    case 1:
      return input.slice(0, p) + input.slice(p + 1 + at(16));
    case 2: {
      const slice = input.slice(p, p + 1 + at(40));
      return input.slice(0, p) + slice.repeat(1 + at(4)) + input.slice(p);
    }
    case 3:
      return input.slice(0, p);
    case 4:
      return input.slice(0, p) + other.slice(at(other.length + 1));
    case 5:
      return input.slice(0, p) + String.fromCharCode(at(0x80)) + input.slice(p + 1);
    case 6:
      return input.slice(0, p) + String.fromCodePoint(at(0x10ffff + 1)) + input.slice(p);
    default: {
      const bytes = Uint8Array.from({ length: 1 + at(64) }, () => next() & 0xff);
      return input.slice(0, p) + Buffer.from(bytes).toString("utf8") + input.slice(p);
    }
  }
}

/** Runs for `seconds` (or `iterations`, whichever comes first) and reports the first violation. */
export async function runHoconFuzz(options: {
  seconds: number;
  seed?: number;
  iterations?: number;
  corpus?: readonly string[];
  maxMsPerInput?: number;
}): Promise<HoconFuzzReport> {
  const seed = options.seed ?? Date.now() & 0x7fffffff;
  const next = xorshift32(seed);
  const docs = [...HOCON_SAMPLES, ...(options.corpus ?? [])];
  const maxMs = options.maxMsPerInput ?? 2000;
  const deadline = performance.now() + options.seconds * 1000;
  const maxIterations = options.iterations ?? Infinity;
  let iterations = 0;
  let parsed = 0;
  let refused = 0;
  let slowestMs = 0;
  while (iterations < maxIterations && performance.now() < deadline) {
    for (let batch = 0; batch < 100 && iterations < maxIterations; batch++, iterations++) {
      let input = docs[next() % docs.length] as string;
      for (let rounds = 1 + (next() % 4); rounds > 0; rounds--) input = mutate(input, docs[next() % docs.length] as string, next);
      const started = performance.now();
      let error: string | undefined;
      try {
        parseHocon(input, { file: "fuzz.conf" });
        parsed++;
      } catch (err) {
        if (isCohortError(err)) refused++;
        else error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      }
      const ms = performance.now() - started;
      slowestMs = Math.max(slowestMs, ms);
      if (!error && ms > maxMs) error = `took ${ms.toFixed(0)} ms (bound ${maxMs} ms)`;
      if (error) return { seed, iterations, parsed, refused, slowestMs, violation: { input, error } };
    }
    await new Promise<void>((resolve) => setImmediate(resolve)); // let timers and signals run
  }
  return { seed, iterations, parsed, refused, slowestMs };
}

export default async function fuzz(args: string[]): Promise<void> {
  const value = (name: string): number | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const corpus = args.flatMap((a, i) => (args[i - 1] === "--corpus" ? [readFileSync(a, "utf8")] : []));
  const seconds = value("--seconds") ?? 10;
  const seed = value("--seed");
  const report = await runHoconFuzz({ seconds, corpus, ...(seed === undefined ? {} : { seed }) });
  console.log(
    `hocon fuzz: seed ${report.seed}, ${report.iterations} inputs, ${report.parsed} parsed, ${report.refused} refused with CohortError, slowest ${report.slowestMs.toFixed(1)} ms`,
  );
  if (report.violation) {
    console.error(`VIOLATION: ${report.violation.error}`);
    console.error(`input (JSON): ${JSON.stringify(report.violation.input)}`);
    console.error(`replay: npm run fuzz -- hocon --seed ${report.seed} --seconds ${seconds}`);
    process.exitCode = 1;
  }
}
