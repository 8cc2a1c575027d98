import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { CohortError } from "../../errors/index.js";
import { loadJobFolder, RuntimeErrorCode } from "../../runtime/jobs/index.js";
import {
  checkSiteNames,
  defaultSimulatorWorkspace,
  runSimulation,
  SimulatorErrorCode,
  siteNames,
  type SimulationResult,
} from "../../runtime/simulator/index.js";
import { ExitCode, reportError, table } from "../output.js";

interface SimulatorFlags {
  nClients?: string;
  clients?: string;
  workspace?: string;
  localConfig?: string;
  threads?: string;
  verbose?: boolean;
  json?: boolean;
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CohortError(SimulatorErrorCode.Usage, `${flag} ${JSON.stringify(value)}: give a whole number ≥ 1`, { value });
  return n;
}

function sitesFrom(flags: SimulatorFlags): string[] {
  if (flags.nClients !== undefined && flags.clients !== undefined)
    throw new CohortError(SimulatorErrorCode.Usage, "give either -n <count> or -c <names>, not both", {});
  if (flags.clients !== undefined) {
    const names = flags.clients
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    checkSiteNames(names);
    return names;
  }
  if (flags.nClients !== undefined) return siteNames(positiveInt("-n", flags.nClients));
  throw new CohortError(SimulatorErrorCode.Usage, "how many sites? give -n <count> (site-1..site-N) or -c site-a,site-b", {});
}

function summary(r: SimulationResult): string {
  const keys = [...new Set(r.rounds.flatMap((x) => Object.keys(x.metrics)))].sort();
  const lines = [`job ${r.jobName} ${r.status}${r.reason ? ` (${r.reason})` : ""} in ${r.seconds.toFixed(1)} s on ${r.sites.join(", ") || "no sites"}`];
  if (r.rounds.length > 0) {
    lines.push(
      table(
        ["round", ...keys, "sites"],
        r.rounds.map((x) => [`${x.round}/${x.totalRounds}`, ...keys.map((k) => x.metrics[k]?.toFixed(4) ?? "-"), String(x.sites.length)]),
      ),
    );
  }
  const model = join(r.modelsDir, "global_model.cohort");
  if (existsSync(model)) lines.push(`global model:  ${model} (best: best_model.cohort, final metrics: final_metrics.json)`);
  lines.push(`log:           ${r.logFile}`, `summary:       ${join(r.workspace, "simulation.json")}`);
  return `${lines.join("\n")}\n`;
}

/** `cohort simulator <job folder> -n <sites> | -c a,b`: the whole federation in this process. */
export function registerSimulator(program: Command): void {
  program
    .command("simulator")
    .description(
      "run a job's server and sites in this one process (no certificates, sockets or kits; the same workflow, executor and aggregator code as a deployment)",
    )
    .argument("<job-folder>", "a job folder (meta.json and its apps), as submit_job takes it")
    .option("-n, --n-clients <count>", "simulate site-1..site-<count>")
    .option("-c, --clients <names>", "simulate these sites (comma-separated), e.g. site-a,site-b")
    .option("-w, --workspace <dir>", "where results, log.txt and models go; emptied at each run (default: ~/.cohort/simulator/<job name>)")
    .option("-l, --local-config <dir>", "a folder of per-site local/ folders, e.g. <dir>/site-1/local/resources.json")
    .option("-t, --threads <count>", "site tasks executing at once (default: every site)")
    .option("-v, --verbose", "print every log line (they always go to <workspace>/log.txt)")
    .option("--json", "print the result as JSON instead of the summary")
    .addHelpText(
      "after",
      [
        "",
        "Components are checked as at submission: paths that are not registered (and not in the job's custom/) are refused.",
        "From -l, a site's resources.json is applied (resource_manager GPUs against the job's resource_spec; job_data_paths",
        "are checked to exist); privacy.json and authorization.json are validated but not applied yet.",
        "Exit status: 0 when the job completed, 1 when it did not, 4 for invalid input.",
      ].join("\n"),
    )
    .action(async (jobFolder: string, flags: SimulatorFlags) => {
      const abort = new AbortController();
      const onSignal = (): void => abort.abort("interrupted (SIGINT)");
      process.once("SIGINT", onSignal);
      try {
        const sites = sitesFrom(flags);
        const workspace = flags.workspace ?? defaultSimulatorWorkspace(loadJobFolder(jobFolder).meta.name);
        const result = await runSimulation({
          jobDir: jobFolder,
          sites,
          workspace,
          ...(flags.localConfig ? { localConfigDir: flags.localConfig } : {}),
          ...(flags.threads ? { threads: positiveInt("-t", flags.threads) } : {}),
          signal: abort.signal,
          onLog: (who, level, line) => {
            if (flags.verbose || level !== "info") process.stderr.write(`[${who}] ${level === "info" ? "" : `${level}: `}${line}\n`);
          },
          onRound: (r) => {
            if (!flags.json)
              process.stdout.write(
                `round ${r.round}/${r.totalRounds} ${Object.entries(r.metrics)
                  .map(([k, v]) => `${k} ${v.toFixed(4)}`)
                  .join(" ")} (${r.seconds.toFixed(1)} s)\n`,
              );
          },
        });
        process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : summary(result));
        process.exitCode = result.status === "FINISHED:COMPLETED" ? ExitCode.Ok : ExitCode.Failed;
      } catch (err) {
        process.exitCode = reportError(
          err,
          err instanceof CohortError && (err.code === SimulatorErrorCode.Usage || err.code === RuntimeErrorCode.BadJob)
            ? ExitCode.InvalidInput
            : ExitCode.Failed,
        );
      } finally {
        process.off("SIGINT", onSignal);
      }
    });
}
