/** `cohort demo` (what `npm run demo` runs): provisions examples/project.yml and verifies every kit. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadProjectFile } from "../../src/config/index.js";
import { REPO_ROOT, runCli } from "../helpers/index.js";

test("cohort demo exits 0 and prints 'verified' for every participant of examples/project.yml", async () => {
  const { project } = loadProjectFile(join(REPO_ROOT, "examples", "project.yml"));
  const names = [project.server.name, ...project.clients.map((c) => c.name), ...project.admins.map((a) => a.name)];
  assert.equal(project.admins.length, 4);
  assert.deepEqual(new Set(project.admins.map((a) => a.role)), new Set(["project_admin", "org_admin", "lead", "member"]));
  const r = await runCli(["demo"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`provisioned ${project.name} \\(${names.length} kits\\)`));
  assert.match(r.stdout, /root CA fingerprint: SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  const lines = r.stdout.split("\n");
  for (const name of names) {
    const row = lines.find((l) => l.startsWith(`${name} `));
    assert.ok(row, `a row for ${name}:\n${r.stdout}`);
    assert.match(row, /\bverified\b/, row);
  }
  assert.match(r.stdout, /temporary workspace removed/);
});
