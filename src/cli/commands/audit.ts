import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { AuditErrorCode, traceEvent, verifyAuditLog, type VerifyAuditLogOptions } from "../../audit/index.js";
import { CohortError } from "../../errors/index.js";
import { ExitCode, reportError, table } from "../output.js";

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (cause) {
    throw new CohortError(AuditErrorCode.LogUnreadable, `cannot read ${what} ${path}: ${(cause as Error).message}`, { file: path }, { cause });
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Shortens a cell so the table stays readable; --json has the full text. */
function cell(value: string | null, max = 60): string {
  if (value === null) return "-";
  const flat = value.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `cohort audit verify|trace` (docs/audit.md). */
export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("audit trail tools: verify a site's hash-chained audit.log, trace an event across sites");
  audit
    .command("verify")
    .description("check an audit log's hash chain, sequence numbers and schema; with a witness, that no witnessed checkpoint was cut off or rewritten")
    .argument("<audit-log>", "the log, e.g. prod_00/site-1/audit.log")
    .option("--witness <peer-audit-log>", "the peer's audit.log holding checkpoints of this site (the server's for a site, a site's for the server)")
    .option("--root <rootCA.pem>", "project root certificate: also check the witnessed checkpoints' signatures")
    .option("--cert <certificate>", "the site's certificate, when it is not in startup/ beside the log (repeatable)", collect)
    .option("--site <name>", "the log's site, needed only when the log is empty")
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExit status: 0 when the log is intact, 1 otherwise (the first problem is printed with its line number).")
    .action((path: string, flags: { witness?: string; root?: string; cert?: string[]; site?: string; json?: boolean }) => {
      try {
        const options: VerifyAuditLogOptions = {
          ...(flags.witness !== undefined ? { witness: flags.witness } : {}),
          ...(flags.root !== undefined ? { rootPem: readPem(flags.root, "the root certificate") } : {}),
          ...(flags.cert ? { certs: flags.cert.map((c) => readPem(c, "the certificate")) } : {}),
          ...(flags.site !== undefined ? { site: flags.site } : {}),
        };
        const r = verifyAuditLog(path, options);
        if (flags.json) process.stdout.write(`${JSON.stringify({ log: path, ...r })}\n`);
        else {
          const witnessed =
            r.checkpointsChecked === undefined
              ? ""
              : `; ${r.checkpointsChecked} checkpoint(s) witnessed in ${flags.witness ?? ""} compared${r.signaturesChecked ? ", signatures checked" : ""}`;
          if (r.ok) process.stdout.write(`audit log OK: ${path}: ${r.lines} line(s), chain intact${witnessed}\n`);
          else process.stderr.write(`audit log NOT intact: ${path}${r.badLine !== undefined ? `:${r.badLine}` : ""}: ${r.problem ?? "unknown problem"}\n`);
          for (const n of r.notes ?? []) process.stderr.write(`note: ${n}\n`);
        }
        process.exitCode = r.ok ? ExitCode.Ok : ExitCode.Failed;
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      }
    });
  audit
    .command("trace")
    .description("follow one event (an admin command, a task…) across sites' audit logs by their ref links")
    .argument("<event-id>", 'the id of an audit line (its "id" field)')
    .argument("<logs...>", "audit.log files (or participant folders holding one) of the sites to follow it through")
    .option("--json", "print the steps as JSON")
    .addHelpText("after", "\nExit status: 0 when the event was found, 1 otherwise.")
    .action((eventId: string, logs: string[], flags: { json?: boolean }) => {
      try {
        const steps = traceEvent(eventId, logs);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(steps)}\n`);
          return;
        }
        const rows = steps.map((s) => [s.time, s.site, s.relation, s.action, s.outcome, cell(s.user, 24), cell(s.job, 36), cell(s.reason)]);
        process.stdout.write(`${table(["TIME", "SITE", "RELATION", "ACTION", "OUTCOME", "USER", "JOB", "REASON"], rows)}\n`);
        for (const s of steps) {
          if (s.missingRef !== undefined)
            process.stdout.write(`note: ${s.site} line ${s.line} (${s.action}) references ${s.missingRef}, which is in none of the logs given\n`);
        }
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      }
    });
}
