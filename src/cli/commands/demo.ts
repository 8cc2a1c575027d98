import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { provision } from "../../provision/index.js";
import { verifyStartupKit } from "../../pki/index.js";
import { ExitCode, printWarnings, reportError, table } from "../output.js";
import { exampleProjectFile } from "../paths.js";

/** The main demo: provision the example project, verify every kit, show who got what. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("provision examples/project.yml into a temporary workspace, verify every kit and print who got what")
    .option("--keep", "keep the temporary workspace for inspection")
    .action(async (flags: { keep?: boolean }) => {
      const workspace = mkdtempSync(join(tmpdir(), "cohort-demo-"));
      try {
        const started = performance.now();
        const result = await provision({ projectFile: exampleProjectFile(), workspace });
        const provisionMs = performance.now() - started;
        printWarnings(result.warnings);
        const project = result.project;
        const links = new Map<string, string>([
          [project.server.name, `listens :${project.server.fedLearnPort} ${project.server.connectionSecurity}`],
          ...[...project.clients, ...project.admins].map((p) => [p.name, `-> ${p.connectTo.host}:${p.connectTo.port} ${p.connectTo.connectionSecurity}`] as [string, string]),
        ]);
        const rows = result.kits.map((k) => {
          const v = verifyStartupKit(k.dir, result.rootFingerprint ? { rootFingerprint: result.rootFingerprint } : {});
          return [k.name, k.type, k.org, k.role ?? "", links.get(k.name) ?? "", `${v.signedFiles.length} signed files`, "verified"];
        });
        process.stdout.write(
          [
            `Cohort demo: provisioned ${result.project.name} (${result.kits.length} kits) in ${provisionMs.toFixed(0)} ms into ${result.prodDir}`,
            `root CA fingerprint: ${result.rootFingerprint ?? "(none)"}`,
            "",
            table(["participant", "type", "org", "role", "link", "startup/", "kit"], rows),
            "",
            `every kit verified against the root fingerprint; ${flags.keep ? `workspace kept at ${workspace}` : "temporary workspace removed (use --keep to inspect it)"}`,
            "",
          ].join("\n"),
        );
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      } finally {
        if (!flags.keep) rmSync(workspace, { recursive: true, force: true });
      }
    });
}
