/**
 * Issue 2 §4 through the real CLI: `cohort provision` exits 4 on a broken project.yml, printing
 * the file, the field path, the bad value and what is allowed, and writes nothing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BAD_INPUTS } from "../helpers/bad-inputs.js";
import { listDir, minimalProject, runCli, tempDir, writeFile } from "../helpers/index.js";

describe("cohort provision refuses bad input with exit 4 and writes nothing", { concurrency: 3 }, () => {
  for (const c of BAD_INPUTS) {
    test(c.name, async () => {
      const dir = tempDir("cohort-cli-bad-");
      for (const [rel, text] of Object.entries(c.files)) writeFile(join(dir, rel), text);
      const file = join(dir, c.project ?? "proj/project.yml");
      const ws = join(dir, "ws");
      const r = await runCli(["provision", "-p", file, "-w", ws]);
      assert.equal(r.code, 4, `exit code 4 expected\n${r.stdout}\n${r.stderr}`);
      const err = r.stderr;
      assert.match(err, new RegExp(`error \\[${c.code}\\]`));
      assert.ok(err.includes(file), `names the file ${file}:\n${err}`);
      if (c.line !== undefined) assert.ok(err.includes(`${file}:${c.line}:`), `names line ${c.line}:\n${err}`);
      if (c.field !== undefined) assert.ok(err.includes(`: ${c.field}: `), `names the field ${c.field}:\n${err}`);
      if (c.value !== undefined) assert.ok(err.includes(`got ${c.value}`) || err.includes(c.value), `shows the value ${c.value}:\n${err}`);
      for (const re of c.allowed) assert.match(err, re);
      assert.doesNotMatch(r.stdout, /provisioned/);
      assert.equal(existsSync(ws), false, `nothing written, found: ${listDir(ws).join(", ")}`);
      assert.deepEqual(
        listDir(dir).filter((n) => n.startsWith("prod_") || n === "state"),
        [],
      );
    });
  }

  test("ignored keys print warnings and the run still succeeds (exit 0)", async () => {
    const dir = tempDir("cohort-cli-warn-");
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        extraTop: "unknown_top_key: 1",
        server: "  - name: server1\n    type: server\n    org: nvidia\n    use_aio: true",
        admins:
          "  - name: admin@nvidia.com\n    type: admin\n    org: nvidia\n    role: project_admin\n  - name: overseer1\n    type: overseer\n    org: nvidia",
      }),
    );
    const ws = join(dir, "ws");
    const r = await runCli(["provision", "-p", file, "-w", ws]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*participants\[0\]\.use_aio: ignored/);
    assert.match(r.stderr, /warning: .*participants\[3\]\.type: type overseer ignored/);
    assert.match(r.stderr, /warning: .*unknown_top_key: unknown key ignored/);
    assert.deepEqual(listDir(join(ws, "proj", "prod_00")), ["admin@nvidia.com", "admin@nvidia.com.tgz", "server1", "server1.tgz", "site-1", "site-1.tgz"]);
  });

  test("--help works on provision and kit verify and documents the exit codes", async () => {
    const p = await runCli(["provision", "--help"]);
    assert.equal(p.code, 0);
    assert.match(p.stdout, /--add-client/);
    assert.match(p.stdout, /--add-user/);
    assert.match(p.stdout, /--force/);
    assert.match(p.stdout, /COHORT_CA_PASSPHRASE/);
    assert.match(p.stdout, /0 ok, 4 invalid project file, 5 build error/);
    const k = await runCli(["kit", "verify", "--help"]);
    assert.equal(k.code, 0);
    assert.match(k.stdout, /--root-fingerprint/);
  });
});
