import { createInterface, type Interface } from "node:readline";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand, splitCommandLine } from "../../runtime/admin/index.js";
import { isCohortError } from "../../errors/index.js";
import { ExitCode, reportError } from "../output.js";

// The session, pki and config code is loaded when a command runs, so that `--help` and every
// other command start fast (commands are imported lazily for the same reason).
const loadSession = async () => (await import("../../runtime/admin/index.js")).AdminSession;

function show(result: unknown): string {
  if (Array.isArray(result)) {
    if (result.length === 0) return "(none)";
    return result
      .map((r) =>
        typeof r === "object" && r !== null
          ? Object.entries(r)
              .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
              .join("  ")
          : String(r),
      )
      .join("\n");
  }
  if (typeof result === "string") return result;
  if (typeof result === "object" && result !== null) return JSON.stringify(result, null, 2);
  return String(result);
}

/** A progress bar on stderr when it is a terminal (download_job). */
function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const n = total > 0 ? Math.round((done / total) * width) : width;
    process.stderr.write(
      `\r${label} [${"#".repeat(n)}${"-".repeat(width - n)}] ${(done / 1048576).toFixed(1)}/${(total / 1048576).toFixed(1)} MiB${done >= total ? "\n" : ""}`,
    );
  };
}

function help(cmd?: string): string {
  if (cmd) {
    const info = ADMIN_COMMANDS[cmd];
    if (info) return `${info.usage}\n  ${info.help} (${info.scope === "server" ? "runs at the server" : "runs at each target site, under that site's policy"})`;
    const c = CONSOLE_COMMANDS[cmd];
    if (c) return c;
    const near = nearestCommand(cmd);
    return `unknown command ${cmd}${near ? `; did you mean ${near}?` : ""}`;
  }
  const rows = Object.entries(ADMIN_COMMANDS).map(([, i]) => `  ${i.usage.padEnd(34)} ${i.help}`);
  return ["commands:", ...rows, ...Object.values(CONSOLE_COMMANDS).map((c) => `  ${c}`)].join("\n");
}

const adminSettings = z.object({
  admin: z.object({ idle_timeout: z.number().positive().default(900), prompt: z.string().default("> ") }).default({ idle_timeout: 900, prompt: "> " }),
});

/** The interactive console (FLARE's fl_admin.sh): login, history, help, completion, idle timeout. */
/** The identity-provider token for sites that require one: --oidc-token-file, else COHORT_OIDC_TOKEN(_FILE). */
function oidcToken(file: string | undefined): string | undefined {
  const f = file ?? process.env["COHORT_OIDC_TOKEN_FILE"];
  if (f) return readFileSync(f, "utf8").trim();
  return process.env["COHORT_OIDC_TOKEN"]?.trim() || undefined;
}

async function consoleLoop(dir: string, token: string | undefined): Promise<number> {
  const { readLocalJson } = await import("../../config/index.js");
  const { readCertificateInfo } = await import("../../pki/index.js");
  const settings = readLocalJson(dir, "resources", adminSettings)?.value.admin ?? { idle_timeout: 900, prompt: "> " };
  const session = await (await loadSession()).open(dir, token ? { oidcToken: token } : {});
  const certEnd = readCertificateInfo(readFileSync(join(dir, "startup", "client.crt"), "utf8")).notAfter;
  process.stdout.write(`logged in as ${session.user}; type help for commands, bye to leave\n`);
  let sites: string[] = [];
  const refreshSites = (): void => {
    session.run("check_status server").then(
      (s) => (sites = (s as { clients?: string[] }).clients ?? []),
      () => undefined,
    );
  };
  refreshSites();
  const completer = (line: string): [string[], string] => {
    const words = line.split(/\s+/);
    if (words.length <= 1) {
      const names = [...Object.keys(ADMIN_COMMANDS), ...Object.keys(CONSOLE_COMMANDS)];
      const hits = names.filter((n) => n.startsWith(words[0] ?? ""));
      return [hits.length ? hits : names, words[0] ?? ""];
    }
    const last = words[words.length - 1] ?? "";
    const options = [...sites, "server", "client", "@ALL"].filter((n) => n.startsWith(last));
    return [options, last];
  };
  const rl: Interface = createInterface({ input: process.stdin, output: process.stdout, prompt: settings.prompt, completer, historySize: 500 });
  let idle: NodeJS.Timeout | undefined;
  let closing = false;
  const close = (why: string): void => {
    if (closing) return;
    closing = true;
    process.stdout.write(`\n${why}\n`);
    rl.close();
  };
  const armIdle = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => close(`session idle for ${settings.idle_timeout} s: logged out`), settings.idle_timeout * 1000);
  };
  const certTimer = setTimeout(() => close("your certificate expired: session ended"), Math.max(0, Math.min(certEnd.getTime() - Date.now(), 2_147_000_000)));
  armIdle();
  rl.prompt();
  for await (const line of rl) {
    armIdle();
    const words = splitCommandLine(line.trim());
    const cmd = words[0];
    if (!cmd) {
      rl.prompt();
      continue;
    }
    if (cmd === "bye" || cmd === "exit" || cmd === "quit") break;
    if (cmd === "help" || cmd === "?") process.stdout.write(`${help(words[1])}\n`);
    else if (!ADMIN_COMMANDS[cmd]) {
      const near = nearestCommand(cmd);
      process.stdout.write(`unknown command ${cmd}${near ? `; did you mean ${near}?` : ""} (help lists commands)\n`);
    } else {
      try {
        const onProgress = cmd === "download_job" ? progressBar("downloading") : undefined;
        process.stdout.write(`${show(await session.run(line, onProgress ? { onProgress } : {}))}\n`);
        if (cmd === "check_status" || cmd === "remove_client" || cmd === "enable_client") refreshSites();
      } catch (err) {
        process.stdout.write(`${isCohortError(err) ? `[${err.code}] ` : ""}${(err as Error).message}\n`);
      }
    }
    if (closing) break;
    rl.prompt();
  }
  clearTimeout(idle);
  clearTimeout(certTimer);
  await session.close();
  return ExitCode.Ok;
}

/** `cohort admin <admin kit> [-c "<command>"] [--json]`: the console, or one command. */
export function registerAdmin(program: Command): void {
  program
    .command("admin")
    .description("the admin console (what fl_admin.sh opens), or one command with -c")
    .argument("<admin-kit-dir>", "the admin's participant folder, e.g. prod_00/admin@nvidia.com")
    .option("-c, --command <command>", 'run one command and exit, e.g. "submit_job hello-fedavg", "list_jobs", "check_status server", "sys_info @ALL"')
    .option("--json", "print the answer as JSON (with -c)")
    .option(
      "--oidc-token-file <file>",
      "attach this identity-provider token (JWT) to every command, for sites that require one (also COHORT_OIDC_TOKEN_FILE / COHORT_OIDC_TOKEN)",
    )
    .addHelpText(
      "after",
      `\n${help()}\n\nExit status with -c: 0 when the command succeeded, 1 when it was refused or failed (the reason, with the refusing site, is printed).`,
    )
    .action(async (dir: string, flags: { command?: string; json?: boolean; oidcTokenFile?: string }) => {
      const token = oidcToken(flags.oidcTokenFile);
      if (!flags.command) {
        try {
          process.exitCode = await consoleLoop(dir, token);
        } catch (err) {
          process.exitCode = reportError(err, ExitCode.Failed);
        }
        return;
      }
      const cmd = splitCommandLine(flags.command)[0] ?? "";
      if (!ADMIN_COMMANDS[cmd]) {
        const near = nearestCommand(cmd);
        process.stderr.write(`error [ERR_ADMIN_UNKNOWN_COMMAND]: unknown command ${JSON.stringify(cmd)}${near ? `; did you mean ${near}?` : ""}\n`);
        process.exitCode = ExitCode.Failed;
        return;
      }
      let session: Awaited<ReturnType<Awaited<ReturnType<typeof loadSession>>["open"]>> | undefined;
      try {
        session = await (await loadSession()).open(dir, token ? { oidcToken: token } : {});
        const onProgress = cmd === "download_job" ? progressBar("downloading") : undefined;
        const result = await session.run(flags.command, onProgress ? { onProgress } : {});
        process.stdout.write(`${flags.json ? JSON.stringify(result) : show(result)}\n`);
        // A site command where every site refused is a failure too.
        if (typeof result === "object" && result !== null && !Array.isArray(result) && ADMIN_COMMANDS[cmd]?.scope === "site") {
          const values = Object.values(result as Record<string, unknown>);
          if (values.length > 0 && values.every((v) => typeof v === "object" && v !== null && "error" in v)) process.exitCode = ExitCode.Failed;
        }
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      } finally {
        await session?.close();
      }
    });
}
