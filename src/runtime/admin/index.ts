/** The admin side of the runtime: the console's session (signed commands) and the command table. */
export { AdminSession } from "./session.js";
export { splitCommandLine } from "./command-line.js";
export { ADMIN_COMMANDS, CONSOLE_COMMANDS, nearestCommand, type AdminCommandInfo } from "./commands.js";
