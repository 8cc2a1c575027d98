import type { ParticipantSpec, ProjectSpec } from "../../config/index.js";
import { installCommand } from "./scripts.js";

export function readmeTxt(project: ProjectSpec, p: ParticipantSpec, rootFingerprint: string | undefined): string {
  // Not the kit's own value: a tampered kit would carry a matching readme. The operator types the one received out of band.
  const fingerprint = "SHA256:<the root fingerprint your project admin sent you>";
  const role = p.type === "admin" ? `\nRole:         ${p.role}` : "";
  const run =
    p.type === "admin"
      ? `Open the admin console:\n    ./startup/fl_admin.sh`
      : `Start (verifying the kit against the fingerprint first), and stop:\n    ./startup/start.sh --verify ${fingerprint}\n    ./startup/stop_fl.sh\nor run in the foreground with:  cohort start .`;
  const connect =
    p.type === "server"
      ? `Listens on port ${p.fedLearnPort}${p.adminPort !== p.fedLearnPort ? ` (admin port ${p.adminPort})` : " (clients and admins)"} with connection security ${p.connectionSecurity}.`
      : `Connects to ${p.connectTo.host}:${p.connectTo.port} with connection security ${p.connectTo.connectionSecurity}.`;
  return `Cohort startup kit
==================
Project:      ${project.name}
Participant:  ${p.name} (${p.type})
Organisation: ${p.org}${role}
${connect}

Root CA fingerprint (compare it with the one your project admin sends you by another channel):
    ${rootFingerprint ?? "(no root certificate: the CertBuilder did not run)"}

Install Cohort (Node.js 20 or later) from the release artefact your project admin sends with the kit;
it needs no network:
    ${installCommand()}

Check this kit before first use (with the installed cohort command, never npx):
    cohort kit verify . --root-fingerprint ${fingerprint}

${run}

The scripts call \${COHORT_BIN:-cohort}: set COHORT_BIN when the cohort command is not on PATH,
e.g. COHORT_BIN="node /opt/cohort/dist/cli/main.js".

Folders
  startup/   credentials and connection settings, signed by the project root CA
             (startup/signature.json). Do not edit: any change makes the kit fail verification.
             The private key (*.key) must stay readable by its owner only (mode 0600).
  local/     site policy you may edit: rename a *.default file without the suffix to override it
             (authorization.json, resources.json, log_config.json); privacy.json.sample is an example.
  transfer/  files exchanged with the admin console.
`;
}
