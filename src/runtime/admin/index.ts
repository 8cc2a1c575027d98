/** The admin side of the runtime: the console's session (signed commands) and the command table. */
export { AdminErrorCode } from "./errors.js";
export { AdminSession } from "./session.js";
export { splitCommandLine } from "./command-line.js";
export { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand, type AdminCommandInfo } from "./commands.js";
export { parseTargets, parseSingleTarget, addressedSites, MULTI_TARGET_COMMANDS, SINGLE_TARGET_COMMANDS, type Targets } from "./targets.js";
export { parseShellArgs, parseListJobsArgs, checkFileName, type ShellArgs, type ListJobsArgs } from "./shell-args.js";
export { validateCommand } from "./validate.js";
