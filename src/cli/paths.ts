import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root, from either src/cli (tsx) or dist/cli (compiled). */
export function repoRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

export function exampleProjectFile(): string {
  return join(repoRoot(), "examples", "project.yml");
}

/** Cohort's version, from its package.json (a checkout's or an installed package's). */
export function cohortVersion(): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), "package.json"), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "unknown";
}
