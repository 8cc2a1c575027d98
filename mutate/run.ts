/**
 * `npm run mutate -- <area> [--only a,b] [--list] [--check] [--json file]`: the mutation check of a
 * security-critical area (mutate/<area>.ts lists its named mutants and its test files). Not part of
 * `npm test`: it runs the area's tests once per mutant, one at a time.
 *
 * The working tree is never changed: mutants are written into a temporary copy of the tree, each
 * restored after its run, and the copy is removed at the end (also on Ctrl-C).
 */
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { checkArea, copyTree, killRunning, removeCopy, runMutant, runTestFile, type MutantResult, type MutationArea } from "./_engine.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const areas = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();

const usage = `usage: npm run mutate -- <area> [--only name,name] [--list] [--check] [--json file]
areas: ${areas.join(", ")}
  --list    print the area's mutants and test files, run nothing
  --check   check that every mutant applies to the code as it is now, run nothing
  --only    run only these mutants (comma-separated names)
  --json    also write the results to this file`;

const args = process.argv.slice(2);
const areaName = args[0];
if (!areaName || !areas.includes(areaName)) {
  console.error(usage);
  process.exit(areaName ? 1 : 0);
}
const flag = (name: string): boolean => args.includes(name);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) {
    console.error(`${name} needs a value\n${usage}`);
    process.exit(1);
  }
  return v;
};

const area = ((await import(pathToFileURL(join(here, `${areaName}.ts`)).href)) as { default: MutationArea }).default;

const problems = checkArea(root, area);
if (problems.length > 0) {
  console.error(`mutate ${areaName}: the mutant list is out of step with the code (fix mutate/${areaName}.ts):\n- ${problems.join("\n- ")}`);
  process.exit(2);
}
if (flag("--list")) {
  console.log(`${areaName}: ${area.title}\ntests: ${area.tests.join(", ")}\n`);
  for (const m of area.mutants) console.log(`${m.name.padEnd(44)} ${m.hole}`);
  process.exit(0);
}
if (flag("--check")) {
  console.log(`mutate ${areaName}: all ${area.mutants.length} mutants apply`);
  process.exit(0);
}

const only = option("--only")
  ?.split(",")
  .filter((s) => s !== "");
const unknown = (only ?? []).filter((n) => !area.mutants.some((m) => m.name === n));
if (unknown.length > 0) {
  console.error(`mutate ${areaName}: no mutant named ${unknown.join(", ")} (see --list)`);
  process.exit(1);
}
const mutants = only ? area.mutants.filter((m) => only.includes(m.name)) : area.mutants;
const jsonFile = option("--json");

const copy = copyTree(root);
let interrupted = false;
const onSignal = (signal: NodeJS.Signals): void => {
  if (interrupted) return;
  interrupted = true;
  killRunning();
  removeCopy(copy);
  console.error(`\nmutate ${areaName}: ${signal}: stopped; the temporary copy was removed (the working tree was never changed)`);
  process.exit(130);
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const started = Date.now();
const results: MutantResult[] = [];
try {
  console.log(`mutate ${areaName}: ${area.title}`);
  console.log(`${mutants.length} mutants × ${area.tests.length} test files, one at a time, in a copy of the tree (${copy})`);
  // Baseline: the unmutated copy must pass, and sets each file's time bound.
  const timeouts = new Map<string, number>();
  for (const file of area.tests) {
    const r = await runTestFile(copy, file, 600_000);
    if (r.outcome !== "pass") {
      console.error(`\nmutate ${areaName}: ${file} does not pass on the unmutated tree (${r.outcome}); nothing can be concluded:\n${r.tail}`);
      process.exitCode = 2;
      throw new Error("baseline");
    }
    // Generous: the machine is shared. A mutant slower than this is reported as timed out.
    timeouts.set(file, Math.max(90_000, Math.round(r.seconds * 4_000)));
    console.log(`baseline ${file}: pass in ${r.seconds.toFixed(1)} s (bound ${((timeouts.get(file) ?? 0) / 1000).toFixed(0)} s)`);
  }
  for (const [i, m] of mutants.entries()) {
    const r = await runMutant(copy, area, m, timeouts);
    results.push(r);
    const label = r.outcome === "killed" ? "killed  " : r.outcome === "timeout" ? "timeout " : "SURVIVED";
    const by = r.by ? ` by ${r.by}${r.failed && r.failed.length > 0 ? `: ${r.failed.slice(0, 3).join("; ")}` : ""}` : "";
    console.log(
      `[${String(i + 1).padStart(2)}/${mutants.length}] ${label} ${m.name} (${r.seconds.toFixed(1)} s)${by}${r.flaky ? ` [failed once, passed again: ${r.flaky.join(", ")}]` : ""}`,
    );
  }
} catch (err) {
  if ((err as Error).message !== "baseline") throw err;
} finally {
  removeCopy(copy);
}

if (results.length > 0) {
  const count = (o: MutantResult["outcome"]): number => results.filter((r) => r.outcome === o).length;
  const killed = count("killed");
  const timedOut = count("timeout");
  const survivors = results.filter((r) => r.outcome === "survived");
  const score = (100 * (killed + timedOut)) / results.length;
  console.log(`\n== mutate ${areaName}: ${results.length} mutants, ${killed} killed, ${survivors.length} survived, ${timedOut} timed out`);
  console.log(`== mutation score ${score.toFixed(1)} % ((killed + timed out) / mutants) in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  if (survivors.length > 0) {
    console.log(`\nsurvivors (no test fails when this bug is planted):`);
    for (const s of survivors) console.log(`\n* ${s.name}: ${s.hole}\n${s.diff.replace(/^/gm, "    ")}`);
  }
  if (jsonFile) {
    writeFileSync(jsonFile, `${JSON.stringify({ area: areaName, score, killed, survived: survivors.length, timedOut, results }, null, 2)}\n`);
    console.log(`\nresults written to ${jsonFile}`);
  }
}
