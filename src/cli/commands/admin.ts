import type { Command } from "commander";
import { AdminSession } from "../../runtime/index.js";
import { ExitCode, reportError } from "../output.js";

function show(result: unknown): string {
  if (Array.isArray(result)) {
    if (result.length === 0) return "(none)";
    return result.map((r) => (typeof r === "object" && r !== null ? Object.entries(r).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`).join("  ") : String(r))).join("\n");
  }
  if (typeof result === "object" && result !== null) return JSON.stringify(result, null, 2);
  return String(result);
}

/** `cohort admin <admin kit> -c "<command>" [--json]` (the full interactive console arrives later). */
export function registerAdmin(program: Command): void {
  program
    .command("admin")
    .description("run admin commands against the server with an admin's startup kit (what fl_admin.sh calls)")
    .argument("<admin-kit-dir>", "the admin's participant folder, e.g. prod_00/admin@nvidia.com")
    .option("-c, --command <command>", 'command to run, e.g. "submit_job hello-fedavg", "list_jobs", "get_job_meta <id>", "check_status server", "abort_job <id>", "download_job <id>"')
    .option("--json", "print the answer as JSON")
    .addHelpText("after", "\nExit status: 0 when the command succeeded, 1 when it was refused or failed (the reason is printed).")
    .action(async (dir: string, flags: { command?: string; json?: boolean }) => {
      if (!flags.command) {
        process.stderr.write("error: the interactive console is not available yet; pass a command with -c \"<command>\"\n");
        process.exitCode = ExitCode.InvalidInput;
        return;
      }
      let session: AdminSession | undefined;
      try {
        session = await AdminSession.open(dir);
        const result = await session.run(flags.command);
        process.stdout.write(`${flags.json ? JSON.stringify(result) : show(result)}\n`);
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      } finally {
        await session?.close();
      }
    });
}
