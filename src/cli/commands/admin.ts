import { createInterface, type Interface } from "node:readline";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand, splitCommandLine, validateCommand } from "../../runtime/admin/index.js";
import { isCohortError, type CohortError } from "../../errors/index.js";
import { ExitCode, reportError } from "../output.js";
import { humanAnswer } from "../admin-output.js";
import { confirmationRefusal, askConfirmation } from "../admin-confirm.js";

// The session, pki and config code is loaded when a command runs, so that `--help` and every
// other command start fast (commands are imported lazily for the same reason).
const loadSession = async () => (await import("../../runtime/admin/index.js")).AdminSession;

/** Console-only commands answered without the server: FLARE's lpwd and info (text, and the --json answer). */
function localCommand(cmd: string, dir: string): { text: string; json: Record<string, string> } | undefined {
  const kit = resolve(dir);
  const transfer = join(kit, "transfer");
  if (cmd === "lpwd") return { text: kit, json: { lpwd: kit } };
  if (cmd === "info")
    return {
      text: `Local Upload Source: ${transfer}\nLocal Download Destination: ${transfer}`,
      json: { upload_source: transfer, download_destination: transfer },
    };
  return undefined;
}

/** The parser's refusal of a command's targets or options, if any. */
function usageError(cmd: string, args: readonly string[]): CohortError | undefined {
  try {
    validateCommand(cmd, args);
    return undefined;
  } catch (err) {
    if (isCohortError(err)) return err;
    throw err;
  }
}

/** The text printed for an answer: FLARE's shapes, or the answer as one JSON document. */
function render(line: string, result: unknown, json: boolean): string {
  if (json) return JSON.stringify(result);
  const [cmd = "", ...args] = splitCommandLine(line.trim());
  return humanAnswer(cmd, args, result);
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

async function consoleLoop(dir: string, token: string | undefined, flags: { yes: boolean; json: boolean }): Promise<number> {
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
    const options = [...sites, "server", "client", "all", "@ALL"].filter((n) => n.startsWith(last));
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
    const local = localCommand(cmd, dir);
    if (cmd === "help" || cmd === "?") process.stdout.write(`${help(words[1])}\n`);
    else if (local !== undefined) process.stdout.write(`${flags.json ? JSON.stringify(local.json) : local.text}\n`);
    else if (!ADMIN_COMMANDS[cmd]) {
      const near = nearestCommand(cmd);
      process.stdout.write(`unknown command ${cmd}${near ? `; did you mean ${near}?` : ""} (help lists commands)\n`);
    } else {
      const confirm = ADMIN_COMMANDS[cmd]?.confirm;
      // A command that cannot be parsed is refused before anyone is asked to confirm it.
      const invalid = confirm ? usageError(cmd, words.slice(1)) : undefined;
      if (invalid) process.stdout.write(`Error: [${invalid.code}] ${invalid.message}\n`);
      if (invalid || (confirm && !flags.yes && !(await askConfirmation(rl, confirm, session.user)))) {
        rl.prompt();
        continue;
      }
      const start = process.hrtime.bigint();
      try {
        const onProgress = cmd === "download_job" ? progressBar("downloading") : undefined;
        const text = render(line, await session.run(line, onProgress ? { onProgress } : {}), flags.json);
        if (text) process.stdout.write(`${text}\n`);
        if (cmd === "check_status" || cmd === "remove_client" || cmd === "enable_client") refreshSites();
      } catch (err) {
        process.stdout.write(`Error: ${isCohortError(err) ? `[${err.code}] ` : ""}${(err as Error).message}\n`);
      }
      // FLARE's console ends every command with its time.
      process.stdout.write(`Done [${(process.hrtime.bigint() - start) / 1000n} usecs] ${new Date().toISOString().replace("T", " ").replace("Z", "")}\n`);
    }
    if (closing) break;
    rl.prompt();
  }
  clearTimeout(idle);
  clearTimeout(certTimer);
  await session.close();
  // `bye` with stdin a pipe still open (a script driving the console): the pipe would keep the process alive.
  process.stdin.destroy();
  return ExitCode.Ok;
}

/** `cohort admin <admin kit> [-c "<command>"] [--json]`: the console, or one command. */
export function registerAdmin(program: Command): void {
  program
    .command("admin")
    .description("the admin console (what fl_admin.sh opens), or one command with -c")
    .argument("<admin-kit-dir>", "the admin's participant folder, e.g. prod_00/admin@nvidia.com")
    .option("-c, --command <command>", 'run one command and exit, e.g. "submit_job hello-fedavg", "list_jobs", "check_status server", "sys_info @ALL"')
    .option("--json", "print each answer as one JSON document instead of FLARE's tables and messages")
    .option("-y, --yes", "answer yes to confirmations (shutdown, restart, abort_job, remove_client, delete_job, delete_workspace); accepted with any command")
    .option(
      "--oidc-token-file <file>",
      "attach this identity-provider token (JWT) to every command, for sites that require one (also COHORT_OIDC_TOKEN_FILE / COHORT_OIDC_TOKEN)",
    )
    .addHelpText(
      "after",
      `\n${help()}\n\nExit status with -c: 0 when the command succeeded, 1 when it was refused or failed (the reason, with the refusing site, is printed).`,
    )
    .action(async (dir: string, flags: { command?: string; json?: boolean; yes?: boolean; oidcTokenFile?: string }) => {
      const token = oidcToken(flags.oidcTokenFile);
      if (!flags.command) {
        try {
          process.exitCode = await consoleLoop(dir, token, { yes: flags.yes === true, json: flags.json === true });
        } catch (err) {
          process.exitCode = reportError(err, ExitCode.Failed);
        }
        return;
      }
      const cmd = splitCommandLine(flags.command)[0] ?? "";
      const local = localCommand(cmd, dir);
      if (local !== undefined) {
        process.stdout.write(`${flags.json ? JSON.stringify(local.json) : local.text}\n`);
        return;
      }
      if (!ADMIN_COMMANDS[cmd]) {
        const near = nearestCommand(cmd);
        process.stderr.write(`error [ERR_ADMIN_UNKNOWN_COMMAND]: unknown command ${JSON.stringify(cmd)}${near ? `; did you mean ${near}?` : ""}\n`);
        process.exitCode = ExitCode.Failed;
        return;
      }
      const needs = ADMIN_COMMANDS[cmd]?.confirm;
      if (needs && !flags.yes) {
        process.exitCode = reportError(usageError(cmd, splitCommandLine(flags.command).slice(1)) ?? confirmationRefusal(cmd), ExitCode.Failed);
        return;
      }
      let session: Awaited<ReturnType<Awaited<ReturnType<typeof loadSession>>["open"]>> | undefined;
      try {
        session = await (await loadSession()).open(dir, token ? { oidcToken: token } : {});
        const onProgress = cmd === "download_job" ? progressBar("downloading") : undefined;
        const result = await session.run(flags.command, onProgress ? { onProgress } : {});
        const text = render(flags.command, result, flags.json === true);
        if (text) process.stdout.write(`${text}\n`);
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
