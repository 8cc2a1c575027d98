import { copyFileSync, existsSync } from "node:fs";
import { relative, resolve } from "node:path";
import type { Command } from "commander";
import type { ProvisionResult } from "../../provision/index.js";
import { ExitCode, printWarnings, reportError, table } from "../output.js";
import { exampleProjectFile } from "../paths.js";

interface ProvisionFlags {
  project?: string;
  workspace: string;
  addClient: string[];
  addUser: string[];
  force?: boolean;
  generate?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerProvision(program: Command): void {
  program
    .command("provision")
    .description("provision a FLARE-format project.yml into signed startup kits (root CA, certificates, configs, scripts)")
    .option("-p, --project <file>", "project.yml (api_version 3)")
    .option("-w, --workspace <dir>", "workspace folder; kits go to <workspace>/<project>/prod_NN", "workspace")
    .option("--add-client <file>", "add one client described in a YAML file (name, org, …); repeatable", collect, [])
    .option("--add-user <file>", "add one admin described in a YAML file (name, org, role); repeatable", collect, [])
    .option("--force", "re-issue certificates whose org/role/type changed instead of refusing")
    .option("-g, --generate", "write a sample project.yml in the current folder and exit")
    .addHelpText(
      "after",
      `
Set COHORT_CA_PASSPHRASE to encrypt the root CA key (and the other keys kept in state/).
Keep <workspace>/<project>/state/: re-runs reuse its root CA so kits already handed out keep working.
Exit status: 0 ok, 4 invalid project file, 5 build error.`,
    )
    .action(async (flags: ProvisionFlags) => {
      if (flags.generate || !flags.project) {
        const target = resolve("project.yml");
        if (existsSync(target)) {
          process.stderr.write(`error: ${target} exists; give it with -p, or remove it to generate a sample\n`);
          process.exitCode = ExitCode.InvalidInput;
          return;
        }
        copyFileSync(exampleProjectFile(), target);
        process.stdout.write(`wrote a sample ${target}; edit it, then run: cohort provision -p project.yml\n`);
        return;
      }
      try {
        const { provision } = await import("../../provision/index.js");
        const result = await provision({
          projectFile: flags.project,
          workspace: flags.workspace,
          addClients: flags.addClient,
          addUsers: flags.addUser,
          force: flags.force ?? false,
          ...(process.env["COHORT_CA_PASSPHRASE"] ? { passphrase: process.env["COHORT_CA_PASSPHRASE"] } : {}),
        });
        printWarnings(result.warnings);
        process.stdout.write(`${summarizeProvision(result)}\n`);
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.BuildError);
      }
    });
}

export function summarizeProvision(result: ProvisionResult): string {
  const rows = result.kits.map((k) => [k.name, k.type, k.org, k.role ?? "", relative(process.cwd(), k.tgz) || k.tgz]);
  return [
    `provisioned ${result.project.name} into ${result.prodDir}`,
    result.rootIsNew ? "created a new root CA" : "reused the existing root CA (state/)",
    `root CA fingerprint: ${result.rootFingerprint ?? "(none)"}`,
    "  send it to every participant by a channel other than the kit, to check with:",
    "  cohort kit verify <kit folder> --root-fingerprint <fingerprint>",
    "",
    table(["participant", "type", "org", "role", "package"], rows),
  ].join("\n");
}
