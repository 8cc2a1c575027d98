import type { Command } from "commander";
import { ExitCode, printWarnings, reportError } from "../output.js";

export function registerKit(program: Command): void {
  const kit = program.command("kit").description("startup kit tools");
  kit
    .command("verify")
    .description("check a startup kit: signatures over startup/, certificate chain and validity, key permissions, root fingerprint")
    .argument("<participant-dir>", "the participant folder (holding startup/), e.g. prod_00/site-1")
    .option("--root-fingerprint <fingerprint>", "expected root CA fingerprint, SHA256:AA:BB:… as openssl x509 -fingerprint -sha256 prints it")
    .addHelpText(
      "after",
      "\nExit status: 0 when the kit is intact, 1 otherwise (the message names the file and the reason).\n" +
        "A warning (not a failure) names each grant of byoc (custom code) to people outside the site's org in the policy the site loads.",
    )
    .action(async (dir: string, flags: { rootFingerprint?: string }) => {
      const { verifyStartupKit } = await import("../../pki/index.js");
      try {
        // An empty value (e.g. an unset shell variable) must fail, not silently skip the check.
        const kitInfo = verifyStartupKit(dir, flags.rootFingerprint !== undefined ? { rootFingerprint: flags.rootFingerprint } : {});
        const role = kitInfo.role ? `, role ${kitInfo.role}` : "";
        process.stdout.write(
          `kit OK: ${kitInfo.name} (${kitInfo.type}, org ${kitInfo.org ?? "-"}${role}); ${kitInfo.signedFiles.length} signed files; certificate valid until ${kitInfo.certificateNotAfter.toISOString()}\n` +
            `root CA fingerprint: ${kitInfo.rootFingerprint}${flags.rootFingerprint !== undefined ? " (matches)" : " (not compared: pass --root-fingerprint to check it)"}\n`,
        );
        if (kitInfo.type !== "admin") {
          const { byocWarnings } = await import("../byoc-warning.js");
          printWarnings(byocWarnings(dir, kitInfo.org));
        }
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      }
    });
}
