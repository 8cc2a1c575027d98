/**
 * FLARE's own files for compatibility tests (../shared/data/flare, see its SOURCE.md): read from
 * there, never copied into the project. COHORT_FLARE_DATA points elsewhere; a clone of a local
 * checkout (a CI clone in a temporary folder) looks beside the checkout it was cloned from.
 * Missing: the test is skipped with the reason, and fails under CI=true like a missing package.
 */
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { isAbsolute, join } from "node:path";
import { CohortError } from "../../src/errors/index.js";
import { REPO_ROOT } from "./index.js";

/** The checkout this clone was made from, when that is a folder on this machine. */
function localOrigin(): string | undefined {
  try {
    const url = execFileSync("git", ["config", "--get", "remote.origin.url"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const path = url.startsWith("file://") ? url.slice("file://".length) : url;
    return isAbsolute(path) && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

const origin = localOrigin();
const CANDIDATES = [
  process.env["COHORT_FLARE_DATA"],
  join(REPO_ROOT, "..", "shared", "data", "flare"),
  origin ? join(origin, "..", "shared", "data", "flare") : undefined,
].filter((d): d is string => typeof d === "string" && d.length > 0);

/** The folder holding FLARE's files, or undefined. */
export const FLARE_DATA: string | undefined = CANDIDATES.find((d) => existsSync(join(d, "SOURCE.md")));

/** node:test options for a test reading FLARE's files. */
export function requireFlareData(): { skip: false } | { skip: string } {
  if (FLARE_DATA) return { skip: false };
  const reason = `FLARE's files (SOURCE.md) are not in ${CANDIDATES.join(", ")}; set COHORT_FLARE_DATA`;
  if (process.env["CI"] === "true") throw new CohortError("ERR_TEST_REQUIREMENT", `CI=true and a test requirement is missing: ${reason}`, { reason });
  return { skip: reason };
}

/** A file of FLARE's, by its path in FLARE's repository (only call when requireFlareData() does not skip). */
export function flareFile(...path: string[]): string {
  return join(FLARE_DATA ?? "/nonexistent", ...path);
}
