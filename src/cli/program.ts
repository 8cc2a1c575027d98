import { Command } from "commander";
import { cohortVersion } from "./paths.js";

type Register = (program: Command) => void;

// Each command's module is loaded only when needed: `cohort admin …` then starts without loading
// the runtime, simulator and POC code (half a second of module loading on a 2-core machine).
// Help, a typo or no command load them all, so help and suggestions list every command.
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  provision: async () => (await import("./commands/provision.js")).registerProvision,
  kit: async () => (await import("./commands/kit.js")).registerKit,
  demo: async () => (await import("./commands/demo.js")).registerDemo,
  start: async () => (await import("./commands/start.js")).registerStart,
  admin: async () => (await import("./commands/admin.js")).registerAdmin,
  audit: async () => (await import("./commands/audit.js")).registerAudit,
  authz: async () => (await import("./commands/authz.js")).registerAuthz,
  simulator: async () => (await import("./commands/simulator.js")).registerSimulator,
  poc: async () => (await import("./commands/poc.js")).registerPoc,
  job: async () => (await import("./commands/job.js")).registerJob,
};

/** The command line; `argv` (process.argv) picks the one command to load when it names one. */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("cohort")
    .description("Cohort: security-first federated learning (FLARE-compatible project files and kits)")
    .version(cohortVersion(), "-V, --version", "print Cohort's version")
    .showHelpAfterError()
    .showSuggestionAfterError();
  const named = argv[2];
  const only = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  const registers = await Promise.all(only.map((name) => (COMMANDS[name] as () => Promise<Register>)()));
  for (const register of registers) register(program);
  return program;
}
