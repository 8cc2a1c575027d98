import type { Command } from "commander";
import { AuthzErrorCode, authorize, loadPolicyFile, type AuthzIdentity, type AuthzRequest } from "../../authz/index.js";
import { CohortError, isCohortError } from "../../errors/index.js";
import { ExitCode, printWarnings, reportError } from "../output.js";

interface ExplainFlags {
  siteOrg?: string;
  user?: string;
  org?: string;
  role?: string;
  right?: string;
  submitterName?: string;
  submitterOrg?: string;
  submitterRole?: string;
  json?: boolean;
}

/** Builds the request from the flags, or refuses naming every missing flag at once. */
function requestFrom(flags: ExplainFlags): AuthzRequest {
  const missing: string[] = (
    [
      ["--site-org", flags.siteOrg],
      ["--user", flags.user],
      ["--org", flags.org],
      ["--role", flags.role],
      ["--right", flags.right],
    ] as const
  )
    .filter(([, v]) => v === undefined)
    .map(([name]) => name);
  const wantsSubmitter = flags.submitterName !== undefined || flags.submitterOrg !== undefined || flags.submitterRole !== undefined;
  if (wantsSubmitter) {
    if (flags.submitterName === undefined) missing.push("--submitter-name");
    if (flags.submitterOrg === undefined) missing.push("--submitter-org");
  }
  if (missing.length > 0) {
    throw new CohortError(AuthzErrorCode.Usage, `missing ${missing.join(", ")}; see cohort authz explain --help`, { missing });
  }
  const user: AuthzIdentity = { name: flags.user ?? "", org: flags.org ?? "", role: flags.role ?? "" };
  const submitter: AuthzIdentity | undefined = wantsSubmitter
    ? { name: flags.submitterName ?? "", org: flags.submitterOrg ?? "", role: flags.submitterRole ?? "" }
    : undefined;
  return { right: flags.right ?? "", user, siteOrg: flags.siteOrg ?? "", ...(submitter ? { submitter } : {}) };
}

export function registerAuthz(program: Command): void {
  const authz = program.command("authz").description("federated authorization tools (FLARE's authorization.json)");
  authz
    .command("explain")
    .description("decide one request against a site's authorization.json and show the rule that decided it")
    .argument("<authorization.json>", "the policy file, e.g. <site kit>/local/authorization.json.default")
    .option("--site-org <org>", "organisation of the site that decides (its certificate's O)")
    .option("--user <name>", "the admin's name (certificate CN)")
    .option("--org <org>", "the admin's organisation (certificate O)")
    .option("--role <role>", "the admin's role (project_admin, org_admin, lead, member or a custom role)")
    .option("--right <right>", "the command or special right, e.g. abort_job, submit_job, byoc")
    .option("--submitter-name <name>", "who submitted the job the command is about")
    .option("--submitter-org <org>", "the submitter's organisation")
    .option("--submitter-role <role>", "the submitter's role")
    .option("--json", "print the decision as JSON")
    .addHelpText("after", "\nExit status: 0 allowed, 1 denied, 4 malformed policy or missing options.")
    .action((file: string, flags: ExplainFlags) => {
      try {
        const request = requestFrom(flags);
        const loaded = loadPolicyFile(file);
        const decision = authorize(loaded.policy, request);
        if (flags.json) {
          const out = { decision: decision.allowed ? "allow" : "deny", ...decision, request, file: loaded.file, warnings: loaded.warnings };
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        } else {
          printWarnings(loaded.warnings.map((w) => `${loaded.file}: ${w}`));
          const rule = decision.rule;
          const decidedBy = rule
            ? `${rule.path} = ${rule.expression.startsWith("[") ? rule.expression : JSON.stringify(rule.expression)}${decision.condition ? ` (condition '${decision.condition}')` : ""}`
            : `no rule for role '${request.user.role}' and right '${request.right}' (no rule means deny)`;
          process.stdout.write(
            `${decision.allowed ? "ALLOW" : "DENY"}: ${decision.reason}\ndecided by: ${decidedBy}\npolicy: ${loaded.file} (site org ${request.siteOrg})\n`,
          );
        }
        process.exitCode = decision.allowed ? ExitCode.Ok : ExitCode.Failed;
      } catch (err) {
        if (flags.json && isCohortError(err)) process.stdout.write(`${JSON.stringify({ decision: "error", error: err.toJSON() }, null, 2)}\n`);
        // A malformed policy or a usage mistake is bad input (4), never a "deny" (1).
        process.exitCode = reportError(err, ExitCode.InvalidInput);
      }
    });
}
