/**
 * People copy commands from the docs and from a kit into a kit folder, where `npx cohort` resolves to
 * the registry's unrelated package named `cohort` (installed without asking when stdin is not a
 * terminal). README.md, docs/*.md and every file of a freshly provisioned kit use the installed
 * `cohort` instead.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { provision } from "../../src/provision/index.js";
import { installCommand } from "../../src/provision/templates/scripts.js";
import { minimalProject, REPO_ROOT, tempDir, writeFile } from "../helpers/index.js";

const NPX = /npx\s+(--?\S+\s+)*cohort\b/;

/** Every file below `dir`. */
function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** `file:line: text` of each line running cohort through npx. */
function npxLines(files: readonly string[], base: string): string[] {
  return files.flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .flatMap((line, i) => (NPX.test(line) ? [`${relative(base, f)}:${i + 1}: ${line.trim()}`] : [])),
  );
}

test("README.md and docs/*.md never run cohort through npx", () => {
  const docs = [join(REPO_ROOT, "README.md"), ...readdirSync(join(REPO_ROOT, "docs")).flatMap((f) => (f.endsWith(".md") ? [join(REPO_ROOT, "docs", f)] : []))];
  assert.ok(docs.length > 5);
  assert.deepEqual(npxLines(docs, REPO_ROOT), []);
});

test("a freshly provisioned kit (readme.txt, scripts, configs) never runs cohort through npx", async () => {
  const dir = tempDir();
  const r = await provision({ projectFile: writeFile(join(dir, "project.yml"), minimalProject()), workspace: join(dir, "ws") });
  const files = r.kits.flatMap((k) => filesBelow(join(r.prodDir, k.name))).filter((f) => !/\.(key|crt|pem|tgz)$/.test(f));
  assert.ok(files.some((f) => f.endsWith("readme.txt")) && files.some((f) => f.endsWith("start.sh")));
  assert.deepEqual(npxLines(files, r.prodDir), []);
  // What the kit says instead: the installed command, and how to install it.
  const readme = readFileSync(join(r.prodDir, "site-1", "readme.txt"), "utf8");
  assert.match(readme, /npm install -g \.\/cohort-fl-cohort-\S+\.tgz/);
  assert.match(readme, /^ {4}cohort kit verify \. --root-fingerprint/m);
});

test("the pattern finds what it must", () => {
  for (const line of ["npx cohort kit verify .", "run `npx -y cohort start .`", "npx  cohort"]) assert.match(line, NPX);
  for (const line of ["cohort kit verify .", "npx tsx src/cli/main.ts", "npx cohortx"]) assert.doesNotMatch(line, NPX);
});

test("README.md and docs/provisioning.md give the install command of this version's artefact", () => {
  for (const doc of ["README.md", join("docs", "provisioning.md")])
    assert.ok(readFileSync(join(REPO_ROOT, doc), "utf8").includes(installCommand()), `${doc}: ${installCommand()}`);
});
