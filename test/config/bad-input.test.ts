/**
 * Issue 2 §4 at library level: every broken project.yml is refused by loadProjectFile (and by
 * provision, before anything is written) with the file, the field path, the bad value and what is
 * allowed, in the error's details as well as its message.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadProjectFile, type ConfigIssue } from "../../src/config/index.js";
import { provision } from "../../src/provision/index.js";
import { isCohortError, type CohortError } from "../../src/errors/index.js";
import { BAD_INPUTS, type BadInputCase } from "../helpers/bad-inputs.js";
import { listDir, tempDir, writeFile } from "../helpers/index.js";

function materialize(c: BadInputCase): { dir: string; file: string } {
  const dir = tempDir("cohort-bad-");
  for (const [rel, text] of Object.entries(c.files)) writeFile(join(dir, rel), text);
  return { dir, file: join(dir, c.project ?? "proj/project.yml") };
}

function catchError(fn: () => unknown): CohortError {
  try {
    fn();
  } catch (err) {
    assert.ok(isCohortError(err), `expected a CohortError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the project to be refused");
}

describe("bad project.yml input is refused with file, field, value and what is allowed", () => {
  for (const c of BAD_INPUTS) {
    test(c.name, async () => {
      const { dir, file } = materialize(c);
      const err = catchError(() => loadProjectFile(file));
      assert.equal(err.code, c.code, err.message);
      assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
      if (c.line !== undefined) {
        assert.equal(err.details["line"], c.line);
        assert.ok(err.message.includes(`${file}:${c.line}:`), err.message);
      }
      if (c.field !== undefined) {
        if (c.code === "ERR_CONFIG_INVALID") {
          const issues = err.details["issues"] as readonly ConfigIssue[];
          assert.ok(Array.isArray(issues) && issues.length > 0);
          const issue = issues.find((i) => i.field === c.field);
          assert.ok(issue, `an issue for ${c.field} among ${issues.map((i) => i.field).join(", ")}`);
          assert.equal(issue.file, file);
          if (c.value !== undefined) {
            assert.ok("value" in issue, `issue carries the bad value`);
            assert.equal(JSON.stringify(issue.value), c.value);
          }
          for (const re of c.allowed) assert.match(`${issue.message}; ${issue.fix ?? ""}`, re);
        } else {
          assert.equal(err.details["field"], c.field);
          if (c.value !== undefined) assert.equal(JSON.stringify(err.details["value"]), c.value);
        }
        assert.ok(err.message.includes(`${c.field}: `), `message names the field: ${err.message}`);
      }
      if (c.value !== undefined) assert.ok(err.message.includes(c.value), `message shows the value ${c.value}: ${err.message}`);
      for (const re of c.allowed) assert.match(err.message, re);

      // provision() refuses it too, before writing anything.
      const ws = join(dir, "ws");
      await assert.rejects(provision({ projectFile: file, workspace: ws }), (e: unknown) => isCohortError(e, c.code));
      assert.equal(existsSync(ws), false, `nothing written: ${listDir(ws).join(", ")}`);
    });
  }

  test("several problems are reported together, each with its own field", () => {
    const dir = tempDir("cohort-bad-");
    const file = writeFile(
      join(dir, "project.yml"),
      `api_version: 3
name: multi
participants:
  - {name: server1, type: server, org: nvidia, fed_learn_port: 0}
  - {name: site-1, type: client, org: nvidia, connection_security: ssl}
  - {name: site 2, type: client, org: nvidia}
  - {name: admin@nvidia.com, type: admin, org: nvidia}
`,
    );
    const err = catchError(() => loadProjectFile(file));
    const fields = (err.details["issues"] as ConfigIssue[]).map((i) => i.field).sort();
    assert.deepEqual(fields, ["participants[0].fed_learn_port", "participants[1].connection_security", "participants[2].name", "participants[3].role"]);
    assert.match(err.message, /^4 problems in /);
  });

  test("refused top-level key edge, refused participant keys auth_identity and parent (also connect_to.auth_identity)", () => {
    const dir = tempDir("cohort-bad-");
    const file = writeFile(
      join(dir, "project.yml"),
      `api_version: 3
name: refused
edge: {}
participants:
  - {name: server1, type: server, org: nvidia}
  - {name: site-1, type: client, org: nvidia, auth_identity: other, parent: site-0}
  - {name: site-2, type: client, org: nvidia, connect_to: {host: 127.0.0.1, auth_identity: other}}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: lead}
`,
    );
    const err = catchError(() => loadProjectFile(file));
    const issues = err.details["issues"] as ConfigIssue[];
    for (const field of ["edge", "participants[1].auth_identity", "participants[1].parent", "participants[2].connect_to.auth_identity"]) {
      const issue = issues.find((i) => i.field === field);
      assert.ok(issue, field);
      assert.match(issue.message, /not supported yet/);
    }
  });

  test("a missing project file and a missing --add-client file are refused with the path", () => {
    const dir = tempDir("cohort-bad-");
    const missing = join(dir, "nope.yml");
    const e1 = catchError(() => loadProjectFile(missing));
    assert.equal(e1.code, "ERR_CONFIG_FILE_NOT_FOUND");
    assert.ok(e1.message.includes(missing));
    const file = writeFile(join(dir, "project.yml"), "api_version: 3\nname: p\nparticipants:\n  - {name: s, type: server, org: o}\n");
    const e2 = catchError(() => loadProjectFile(file, { addClients: [join(dir, "site.yml")] }));
    assert.equal(e2.code, "ERR_CONFIG_FILE_NOT_FOUND");
    assert.ok(e2.message.includes(join(dir, "site.yml")));
  });
});
