/**
 * docs/flare-compat.md lists every FLARE class path Cohort registers, and registers every FLARE
 * path it lists in its component tables, so the page cannot drift from the registry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { registeredComponentPaths } from "../../src/runtime/components/registry.js";
import "../../src/runtime/components/builtins.js";
import { spawnSync } from "node:child_process";
import { REPO_ROOT } from "../helpers/index.js";
import { PYTHON, requireSystem } from "../helpers/requirements.js";

const page = readFileSync(join(REPO_ROOT, "docs", "flare-compat.md"), "utf8");
/** The recipes section names Python objects of the shim, not component paths: checked on its own. */
const RECIPES = "## Recipes and the Job API";
const recipesStart = page.indexOf(RECIPES);
const recipesEnd = page.indexOf("\n## ", recipesStart + RECIPES.length);
const recipes = page.slice(recipesStart, recipesEnd);
const doc = page.slice(0, recipesStart) + page.slice(recipesEnd);
const FLARE_PATH = /`(nvflare\.[A-Za-z0-9_.]+)`/g;

test("every FLARE path Cohort registers is in docs/flare-compat.md", () => {
  const listed = new Set([...doc.matchAll(FLARE_PATH)].map((m) => m[1]));
  const missing = registeredComponentPaths().filter((p) => p.startsWith("nvflare.") && !listed.has(p));
  assert.deepEqual(missing, []);
});

test("every FLARE path in docs/flare-compat.md's tables is registered", () => {
  const registered = new Set(registeredComponentPaths());
  const tableRows = doc.split("\n").filter((l) => l.startsWith("| `nvflare."));
  const unknown = tableRows.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(FLARE_PATH)].map((m) => m[1] ?? "")).filter((p) => !registered.has(p));
  assert.deepEqual(unknown, []);
});

test("every Python name of the recipes table is in the nvflare shim", requireSystem("python3"), () => {
  assert.ok(recipesStart > 0 && recipesEnd > recipesStart, `${RECIPES} section`);
  const names = recipes
    .split("\n")
    .filter((l) => l.startsWith("| `nvflare."))
    .flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(FLARE_PATH)].map((m) => m[1] ?? ""));
  assert.ok(names.length >= 8, names.join(", "));
  // A module, or an attribute of its parent module.
  const code = `import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        mod, _, attr = name.rpartition(".")
        getattr(importlib.import_module(mod), attr)
print("ok")`;
  const r = spawnSync(PYTHON, ["-c", code, ...names], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", PYTHONPATH: `${join(REPO_ROOT, "python")}:${join(REPO_ROOT, "python", "flare_shim")}`, PYTHONDONTWRITEBYTECODE: "1" },
  });
  assert.equal(r.status, 0, r.stderr);
});
