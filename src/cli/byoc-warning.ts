import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { byocGrantsBeyondOrg, loadSitePolicy } from "../authz/index.js";
import { readCertificateInfo } from "../pki/index.js";

/** The org in a server's or site's own certificate: the site org its policy checks use. */
export function participantOrg(kitDir: string, type: "server" | "client"): string | undefined {
  return readCertificateInfo(readFileSync(join(kitDir, "startup", `${type}.crt`), "utf8")).organization;
}

/**
 * Warning lines (without the `warning:` prefix) when a kit's effective policy, as the site loads
 * it (local/authorization.json, else the .default), lets people outside the site's org run their
 * own code there. FLARE's default policy, which provisioning writes, does: `kit verify` and `start`
 * say so, and neither refuses (it is the site's choice to make).
 */
export function byocWarnings(kitDir: string, siteOrg: string | undefined): string[] {
  let loaded: ReturnType<typeof loadSitePolicy>;
  try {
    loaded = loadSitePolicy(kitDir);
  } catch (err) {
    return [`${(err as Error).message} (so who may run custom code here was not checked; the site will not start with this policy)`];
  }
  if (loaded === undefined) return [];
  const org = siteOrg ? `'${siteOrg}'` : "(none: its certificate names no org)";
  const grants = byocGrantsBeyondOrg(loaded.policy, siteOrg ?? "");
  if (grants.length === 0) return [];
  const how = basename(loaded.file).endsWith(".default") ? "copy it to local/authorization.json and there set" : "set";
  return [
    ...grants.map((g) => `${loaded.file}: custom code from outside this site's org ${org} may run here: ${g}`),
    `${loaded.file}: to allow custom code only from this site's org, ${how} "byoc": "o:site" for these roles (see docs/security.md)`,
  ];
}
