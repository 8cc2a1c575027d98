import { Command } from "commander";
import { registerProvision } from "./commands/provision.js";
import { registerKit } from "./commands/kit.js";
import { registerDemo } from "./commands/demo.js";
import { registerStart } from "./commands/start.js";
import { registerAdmin } from "./commands/admin.js";
import { registerAudit } from "./commands/audit.js";
import { registerAuthz } from "./commands/authz.js";
import { registerSimulator } from "./commands/simulator.js";
import { registerPoc } from "./commands/poc.js";

export function buildProgram(): Command {
  const program = new Command("cohort")
    .description("Cohort: security-first federated learning (FLARE-compatible project files and kits)")
    .showHelpAfterError()
    .showSuggestionAfterError();
  registerProvision(program);
  registerKit(program);
  registerDemo(program);
  registerStart(program);
  registerAdmin(program);
  registerAudit(program);
  registerAuthz(program);
  registerSimulator(program);
  registerPoc(program);
  return program;
}
