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
import { acceptFlareFlags, clientNames, listOf, parseGpuIds } from "../flare-flags.js";
import { PolicyFilesErrorCode } from "../../runtime/participant/index.js";

interface SimulatorFlags {
  nClients?: string;
  clients?: string[];
  workspace?: string;
  localConfig?: string;
  logConfig?: string;
  threads?: string;
  gpu?: string[];
  maxClients?: string;
  submitter?: string;
  verbose?: boolean;
  json?: boolean;
}

/** FLARE's spellings of the simulator's flags (nvflare simulator). */
const FLARE_SPELLINGS = {
  "-gpu": "--gpu",
  "--n_clients": "--n-clients",
  "--max_clients": "--max-clients",
  "--log_config": "--log-config",
} as const;

/** FLARE's `-l` log modes that print every line (Cohort's -v); "concise" and the default print warnings and errors. */
const VERBOSE_LOG_MODES = new Set(["full", "verbose", "debug", "DEBUG"]);

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CohortError(SimulatorErrorCode.Usage, `${flag} ${JSON.stringify(value)}: give a whole number ≥ 1`, { value });
  return n;
}

function sitesFrom(flags: SimulatorFlags): string[] {
  if (flags.nClients !== undefined && flags.clients !== undefined)
    throw new CohortError(SimulatorErrorCode.Usage, "give either -n <count> or -c <names>, not both", {});
  if (flags.clients !== undefined) {
    const names = clientNames(flags.clients);
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

/** `--submitter name:org:role`. */
function submitterOf(v: string): { name: string; org: string; role: string } {
  const [name = "", org = "", role = "", ...rest] = v.split(":");
  if (!name || !org || !role || rest.length > 0)
    throw new CohortError(SimulatorErrorCode.Usage, `--submitter ${JSON.stringify(v)}: give name:org:role, e.g. alice@a.org:org_a:lead`, { value: v });
  return { name, org, role };
}

/** `cohort simulator <job folder> -n <sites> | -c a,b`: the whole federation in this process. */
export function registerSimulator(program: Command): void {
  const cmd = program
    .command("simulator")
    .description(
      "run a job's server and sites in this one process (no certificates, sockets or kits; the same workflow, executor and aggregator code as a deployment)",
    )
    .argument("<job-folder>", "a job folder (meta.json and its apps), as submit_job takes it")
    .option("-n, --n-clients <count>", "simulate site-1..site-<count> (FLARE: --n_clients)")
    .option("-c, --clients <names...>", "simulate these sites: site-a,site-b (FLARE's simulator) or site-a site-b (FLARE's POC)")
    .option("-w, --workspace <dir>", "where results, log.txt and models go; emptied at each run (default: ~/.cohort/simulator/<job name>)")
    .option("--local-config <dir>", "a folder of per-site local/ folders, e.g. <dir>/site-1/local/resources.json (was -l before FLARE's -l)")
    .option(
      "-l, --log-config <mode|file>",
      "FLARE's log configuration: concise (default), full or verbose (= -v); a FLARE log config file is not read (Cohort writes its own log)",
    )
    .option("-t, --threads <count>", "site tasks executing at once (default: every site)")
    .option("--gpu <ids...>", "FLARE's GPU ids (0,1 or [0,1],[2]): sites without their own resource_manager offer them to the job's resource_spec")
    .option("-m, --max-clients <count>", "FLARE's max_clients: refuse to simulate more sites than this (default 100)", "100")
    .option("--submitter <name:org:role>", "who submits the job, for the sites' authorization.json (default admin@cohort.sim:cohort_sim:project_admin)")
    .option("-v, --verbose", "print every log line (they always go to <workspace>/log.txt)")
    .option("--json", "print the result as JSON instead of the summary")
    .addHelpText(
      "after",
      [
        "",
        "Components are checked as at submission: paths that are not registered (and not in the job's custom/) are refused.",
        "From --local-config, each site's local/ files are read as a deployed site reads them: resources.json (GPUs, lists and",
        "max_concurrent_jobs against the job's resource_spec; job_data_paths checked to exist), privacy.json (the job's scope's",
        "filters and budget; a scope naming a filter Cohort lacks refuses the job) and authorization.json (the submitter's rights).",
        "Exit status: 0 when the job completed, 1 when it did not, 4 for invalid input.",
      ].join("\n"),
    );
  acceptFlareFlags(cmd, FLARE_SPELLINGS);
  cmd.action(async (jobFolder: string, flags: SimulatorFlags) => {
    const abort = new AbortController();
    const onSignal = (): void => abort.abort("interrupted (SIGINT)");
    const verbose = flags.verbose === true || (flags.logConfig !== undefined && VERBOSE_LOG_MODES.has(flags.logConfig));
    process.once("SIGINT", onSignal);
    try {
      const sites = sitesFrom(flags);
      const max = positiveInt("-m", flags.maxClients ?? "100");
      if (sites.length > max)
        throw new CohortError(SimulatorErrorCode.Usage, `${sites.length} sites, more than -m/--max_clients ${max}; raise -m or simulate fewer sites`, {
          value: sites.length,
        });
      if (flags.logConfig !== undefined && !["concise", "full", "verbose", "debug", "DEBUG", "msg_only"].includes(flags.logConfig))
        process.stderr.write(
          `warning: -l ${flags.logConfig}: FLARE log config files are not read; Cohort writes <workspace>/log.txt itself (-v prints every line)\n`,
        );
      const gpus = parseGpuIds(listOf(flags.gpu), SimulatorErrorCode.Usage);
      // FLARE's simulator runs clients with CUDA_VISIBLE_DEVICES; scripts the job starts inherit it.
      if (gpus.length > 0) process.env["CUDA_VISIBLE_DEVICES"] = gpus.join(",");
      const submitter = flags.submitter === undefined ? undefined : submitterOf(flags.submitter);
      const workspace = flags.workspace ?? defaultSimulatorWorkspace(loadJobFolder(jobFolder).meta.name);
      const result = await runSimulation({
        jobDir: jobFolder,
        sites,
        workspace,
        ...(flags.localConfig ? { localConfigDir: flags.localConfig } : {}),
        ...(flags.threads ? { threads: positiveInt("-t", flags.threads) } : {}),
        ...(gpus.length > 0 ? { gpus } : {}),
        ...(submitter ? { submitter } : {}),
        signal: abort.signal,
        onLog: (who, level, line) => {
          if (verbose || level !== "info") process.stderr.write(`[${who}] ${level === "info" ? "" : `${level}: `}${line}\n`);
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
        err instanceof CohortError &&
          (err.code === SimulatorErrorCode.Usage || err.code === RuntimeErrorCode.BadJob || err.code === PolicyFilesErrorCode.Invalid)
          ? ExitCode.InvalidInput
          : ExitCode.Failed,
      );
    } finally {
      process.off("SIGINT", onSignal);
    }
  });
}
