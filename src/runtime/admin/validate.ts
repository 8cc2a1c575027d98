import { CohortError } from "../../errors/index.js";
import { AdminErrorCode } from "./errors.js";
import { parseListJobsArgs, parseShellArgs, isShellCommand } from "./shell-args.js";
import { MULTI_TARGET_COMMANDS, SINGLE_TARGET_COMMANDS, parseSingleTarget, parseTargets } from "./targets.js";

/**
 * Checks a command's targets and options before it is signed (console) and before it is run or
 * forwarded (server): a command that cannot be parsed is refused with the reason, and nothing runs.
 * Each site checks again with the same parsers.
 */
export function validateCommand(cmd: string, args: readonly string[]): void {
  if (MULTI_TARGET_COMMANDS.has(cmd)) parseTargets(cmd, args);
  if (SINGLE_TARGET_COMMANDS.has(cmd)) {
    parseSingleTarget(cmd, args[0]);
    if (isShellCommand(cmd)) parseShellArgs(cmd, args.slice(1));
    else if (args.length > 1) throw new CohortError(AdminErrorCode.Usage, `${cmd}: this command does not accept extra args`, { cmd });
  }
  if (cmd === "list_jobs") parseListJobsArgs(args);
  if (cmd === "show_stats" && args.length > 1) parseTargets(cmd, args.slice(1));
}
