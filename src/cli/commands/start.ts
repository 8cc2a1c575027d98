import { openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { isCohortError } from "../../errors/index.js";
import { PolicyFilesErrorCode } from "../../runtime/participant/index.js";
import { ExitCode, reportError } from "../output.js";

/** `cohort start <kit>`: runs a server or client in the foreground until SIGTERM/SIGINT. */
export function registerStart(program: Command): void {
  program
    .command("start")
    .description("run a server or client from its startup kit in the foreground until SIGTERM (what start.sh/sub_start.sh call)")
    .argument("<participant-dir>", "the participant folder, e.g. prod_00/site-1")
    .option("--host <address>", "server: address to listen on (default: all interfaces)")
    .addHelpText("after", "\nThe kit is verified first (as 'cohort kit verify'); the site's audit log is <participant-dir>/audit.log.")
    .action(async (dir: string, flags: { host?: string }) => {
      let name = "cohort";
      // The site's log lives in its folder (log.txt), beside its audit.log; stdout gets the same lines.
      let logFd: number | undefined;
      try {
        logFd = openSync(join(dir, "log.txt"), "a", 0o640);
      } catch {
        logFd = undefined;
      }
      const log = (line: string): void => {
        const text = `${new Date().toISOString()} [${name}] ${line}\n`;
        process.stdout.write(text);
        if (logFd !== undefined) writeSync(logFd, text);
      };
      let running: { stop(): Promise<void> } | undefined;
      let stopping = false;
      // After an uncaught error the process state is unknown: log it, stop what can be stopped
      // (job processes die with us anyway) and exit non-zero, so the supervisor (sub_start.sh)
      // starts a clean process.
      const crash = (what: string, err: unknown): void => {
        log(`internal error (${what}), exiting for a restart: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        if (stopping) return;
        stopping = true;
        const force = setTimeout(() => process.exit(ExitCode.Failed), 3_000);
        force.unref();
        void (running?.stop() ?? Promise.resolve()).finally(() => process.exit(ExitCode.Failed));
      };
      process.on("uncaughtException", (err) => crash("uncaught exception", err));
      process.on("unhandledRejection", (err) => crash("unhandled rejection", err));
      try {
        const { startParticipant } = await import("../../runtime/participant/index.js");
        const participant = await startParticipant({ kitDir: dir, ...(flags.host ? { host: flags.host } : {}), log });
        running = participant;
        name = participant.name;
        const { byocWarnings, participantOrg } = await import("../byoc-warning.js");
        for (const w of byocWarnings(dir, participantOrg(dir, participant.type))) log(`warning: ${w}`);
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          log(`${signal}: stopping`);
          const force = setTimeout(() => {
            log("did not stop within 10 s; exiting");
            process.exit(ExitCode.Failed);
          }, 10_000);
          force.unref();
          participant.stop().then(
            () => {
              log("stopped");
              process.exit(ExitCode.Ok);
            },
            (err: unknown) => process.exit(reportError(err)),
          );
        };
        process.on("SIGTERM", () => stop("SIGTERM"));
        process.on("SIGINT", () => stop("SIGINT"));
      } catch (err) {
        // Policy files that cannot be used are invalid input (4): sub_start.sh stops instead of restarting.
        process.exitCode = reportError(err, isCohortError(err, PolicyFilesErrorCode.Invalid) ? ExitCode.InvalidInput : ExitCode.Failed);
      }
    });
}
