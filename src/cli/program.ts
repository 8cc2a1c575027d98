import { Command } from "commander";

export function buildProgram(): Command {
  const program = new Command("cohort").description("Cohort: security-first federated learning").showHelpAfterError();
  return program;
}
