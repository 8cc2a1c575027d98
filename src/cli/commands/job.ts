import type { Command } from "commander";
import { CohortError } from "../../errors/index.js";
import { ExitCode, printWarnings, reportError } from "../output.js";
import {
  builtinTemplatesDir,
  createJob,
  type FlagSpec,
  JobTemplateErrorCode,
  listTemplates,
  parseFlags,
  readJobVariables,
  renderTemplates,
  renderVariables,
} from "../job-templates/index.js";

// FLARE's spellings (argparse: -sd, -force, -debug are single-dash long flags), so its commands work as written.
const JOB_FOLDER: FlagSpec = { name: "job_folder", spellings: ["-j", "--job_folder"], kind: "value" };
const DEBUG: FlagSpec = { name: "debug", spellings: ["-debug", "--debug"], kind: "bool" };
const CREATE: readonly FlagSpec[] = [
  JOB_FOLDER,
  { name: "template", spellings: ["-w", "--template"], kind: "value" },
  { name: "script_dir", spellings: ["-sd", "--script_dir"], kind: "value" },
  { name: "config_file", spellings: ["-f", "--config_file"], kind: "group" },
  { name: "force", spellings: ["-force", "--force"], kind: "bool" },
  DEBUG,
];
const LIST: readonly FlagSpec[] = [{ name: "job_templates_dir", spellings: ["-d", "--job_templates_dir"], kind: "value" }, DEBUG];
const SHOW: readonly FlagSpec[] = [JOB_FOLDER, DEBUG];

/** FLARE's default job folder (./current_job). */
const DEFAULT_JOB_FOLDER = "current_job";

const CREATE_HELP = `
Flags (as FLARE's nvflare job create):
  -j, --job_folder <dir>        the job folder to create (default ./current_job); its parent must exist
  -w, --template <name|dir>     one of cohort job list_templates, or a template's folder (e.g. FLARE's job_templates/sag_np)
  -sd, --script_dir <dir>       copied into each app's custom/ (links must stay inside it; __pycache__ left out)
  -f, --config_file <file> [key=value …]
                                edit a config file of the new job: config_fed_client.conf, <app>/config_fed_server.conf,
                                meta.conf; a bare key sets every occurrence (num_rounds=3), a path one
                                (workflows[0].args.num_rounds=3); the key must exist. Repeat -f for other files.
  -force, --force               replace an existing job folder
Exit status: 0 when the job folder was written, 4 for invalid input (nothing is written).`;

/** Runs one subcommand: its flags parsed from the raw words, its output printed, the exit code set. */
function run(command: string, specs: readonly FlagSpec[], words: readonly string[], body: (f: ReturnType<typeof parseFlags>) => string): void {
  let debug = false;
  try {
    const flags = parseFlags(command, words, specs);
    debug = flags.bools.has("debug");
    process.stdout.write(body(flags));
  } catch (err) {
    if (debug && err instanceof Error) process.stderr.write(`${err.stack ?? ""}\n`);
    process.exitCode = reportError(err, err instanceof CohortError && err.code.startsWith("ERR_JOB_") ? ExitCode.InvalidInput : ExitCode.Failed);
  }
}

/** `cohort job list_templates | create | show_variables`: FLARE's `nvflare job` for job templates. */
export function registerJob(program: Command): void {
  const job = program.command("job").description("job templates, as FLARE's nvflare job: list_templates, create, show_variables");
  const sub = (name: string, description: string, help: string): Command =>
    job.command(name).description(description).argument("[flags...]").allowUnknownOption().allowExcessArguments().addHelpText("after", help);

  sub(
    "list_templates",
    "list the job templates (Cohort's own, or those in -d <dir>)",
    "\nFlags: -d, --job_templates_dir <dir>: list the templates in that folder instead (e.g. FLARE's job_templates).",
  ).action((words: string[]) =>
    run("list_templates", LIST, words, (f) => {
      const dir = f.values.get("job_templates_dir") ?? builtinTemplatesDir();
      return renderTemplates(listTemplates(dir), f.values.get("job_templates_dir") ?? "Cohort's job_templates");
    }),
  );

  sub("create", "create a job folder from a template", CREATE_HELP).action((words: string[]) =>
    run("create", CREATE, words, (f) => {
      const template = f.values.get("template");
      if (template === undefined)
        throw new CohortError(
          JobTemplateErrorCode.Usage,
          "cohort job create: -w <template> is missing; cohort job list_templates lists them, or give a template's folder",
          {},
        );
      const scriptDir = f.values.get("script_dir");
      const created = createJob({
        jobFolder: f.values.get("job_folder") ?? DEFAULT_JOB_FOLDER,
        template,
        ...(scriptDir !== undefined ? { scriptDir } : {}),
        edits: f.groups.get("config_file") ?? [],
        force: f.bools.has("force"),
      });
      printWarnings(created.warnings);
      return renderVariables(created.variables);
    }),
  );

  sub(
    "show_variables",
    "show the variables of a job folder's config files (what -f can set)",
    "\nFlags: -j, --job_folder <dir> (default ./current_job).",
  ).action((words: string[]) => run("show_variables", SHOW, words, (f) => renderVariables(readJobVariables(f.values.get("job_folder") ?? DEFAULT_JOB_FOLDER))));
}
