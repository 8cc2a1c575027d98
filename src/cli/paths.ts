import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root, from either src/cli (tsx) or dist/cli (compiled). */
export function repoRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

export function exampleProjectFile(): string {
  return join(repoRoot(), "examples", "project.yml");
}
