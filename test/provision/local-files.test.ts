/**
 * docs/provisioning.md (kit layout): the provisioned `local/resources.json.default` keeps every
 * store relative to the participant's workspace, never under /tmp (nor any absolute path).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { freePort, smallProjectYaml, tempDir, writeFile } from "../helpers/index.js";

/** Every string in a JSON value, with its path. */
function strings(v: unknown, path = "$"): [string, string][] {
  if (typeof v === "string") return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${path}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => strings(x, `${path}.${k}`));
  return [];
}

test("stores in the provisioned resources.json.default are relative: no /tmp, no absolute path", async () => {
  const dir = tempDir("cohort-local-files-");
  const file = writeFile(join(dir, "project.yml"), smallProjectYaml("local_files", await freePort()));
  const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
  for (const participant of ["localhost", "site-1"]) {
    const res = JSON.parse(readFileSync(join(r.prodDir, participant, "local", "resources.json.default"), "utf8")) as unknown;
    // `uri_root` is FLARE's key prefix inside a store ("/" is its root), not a file-system path.
    const all = strings(res).filter(([p]) => !p.endsWith(".uri_root"));
    const bad = all.filter(([, s]) => s.includes("/tmp") || s.startsWith("/"));
    assert.deepEqual(bad, [], `${participant}: absolute or /tmp paths`);
    if (participant === "localhost")
      assert.ok(
        all.some(([p, v]) => p.endsWith(".root_dir") && v === "snapshot-storage"),
        "precondition: the server's snapshot store has a root_dir",
      );
  }
});
