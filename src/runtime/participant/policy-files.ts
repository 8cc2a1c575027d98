/**
 * A participant's own policy files (`local/authorization.json`, `local/privacy.json`,
 * `local/resources.json`; `X.json` wins over `X.json.default` where FLARE says so), read the one
 * way a deployed site and the simulator both use. Every problem of every file is reported at once;
 * a file that cannot be used at all stops the participant (`ERR_SITE_POLICY_FILES`, exit status 4).
 * A privacy scope naming a filter Cohort lacks is not such a problem: that scope refuses jobs.
 */
import type { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { formatIssue, localConfigPath, serverResourcesSchema, type ConfigIssue, ConfigErrorCode } from "../../config/index.js";
import { loadSitePolicy, type LoadedPolicy } from "../../authz/index.js";
import { loadPrivacyPolicy, readPolicyJson, type PrivacyPolicy } from "../../privacy/index.js";
import { componentFor } from "../components/registry.js";
import "../components/builtins.js";
import { siteCapacity, siteResourcesSchema, type SiteCapacity } from "../site/resources.js";
import { PolicyFilesErrorCode } from "./errors.js";

export interface SitePolicyFiles {
  readonly authz: LoadedPolicy | undefined;
  /** Sites only (the server has no privacy.json). */
  readonly privacy: PrivacyPolicy | undefined;
  readonly resources: z.infer<typeof siteResourcesSchema> | undefined;
  /** The resources file read (the user's path), when there is one. */
  readonly resourcesFile: string | undefined;
  readonly capacity: SiteCapacity;
}

/** The lines of a refusal: each problem it lists, or its message. */
export function problemLines(err: unknown): string[] {
  if (!isCohortError(err)) return [err instanceof Error ? err.message : String(err)];
  const d = err.details;
  if (Array.isArray(d["problems"])) return (d["problems"] as unknown[]).map(String);
  if (Array.isArray(d["issues"])) return (d["issues"] as ConfigIssue[]).map((i) => formatIssue(i));
  return [err.message];
}

/** Reads resources.json and checks it with every schema that reads it (site keys, server keys, the resource manager). */
function readResources(kitDir: string, role: "server" | "client", problems: string[]): Pick<SitePolicyFiles, "resources" | "resourcesFile" | "capacity"> {
  const file = localConfigPath(kitDir, "resources");
  const empty = { resources: undefined, resourcesFile: file, capacity: siteCapacity(undefined).capacity };
  if (!file) return empty;
  let raw: unknown;
  try {
    raw = readPolicyJson(file, ConfigErrorCode.Invalid, "fix: correct the JSON syntax (or start again from local/resources.json.default)");
  } catch (err) {
    problems.push(...problemLines(err));
    return empty;
  }
  const issues = (r: z.ZodSafeParseResult<unknown>): void => {
    if (r.success) return;
    for (const i of r.error.issues)
      problems.push(
        formatIssue({
          file,
          field:
            i.path
              .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
              .join("")
              .replace(/^\./, "") || "(top level)",
          message: i.message,
          ...("input" in i ? { value: i.input } : {}),
        }),
      );
  };
  const site = siteResourcesSchema.safeParse(raw, { reportInput: true });
  issues(site);
  if (role === "server") issues(serverResourcesSchema.safeParse(raw, { reportInput: true }));
  if (!site.success) return empty;
  const { capacity, problems: rm } = siteCapacity(site.data);
  for (const p of rm) problems.push(formatIssue({ file, ...p }));
  return { resources: site.data, resourcesFile: file, capacity };
}

/**
 * Loads a participant's policy files (`kitDir` holds `local/`); `name` is the participant, for the
 * error. Throws one ERR_SITE_POLICY_FILES error listing every problem of every file.
 */
export function loadSitePolicyFiles(kitDir: string, role: "server" | "client", name: string): SitePolicyFiles {
  const problems: string[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (err) {
      problems.push(...problemLines(err));
      return undefined;
    }
  };
  const authz = attempt(() => loadSitePolicy(kitDir));
  const privacy = role === "client" ? attempt(() => loadPrivacyPolicy(kitDir, (p) => componentFor(p)?.kind === "filter")) : undefined;
  const resources = readResources(kitDir, role, problems);
  if (problems.length > 0) {
    throw new CohortError(
      PolicyFilesErrorCode.Invalid,
      `${name}: ${problems.length === 1 ? "a problem" : `${problems.length} problems`} in its local/ policy files; it does not start until they are fixed:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
      { site: name, problems },
    );
  }
  return { authz, privacy, ...resources };
}
