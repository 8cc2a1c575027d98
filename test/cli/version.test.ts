/** `cohort --version` and `-V` print the version of package.json and exit 0 (issue 21: it failed). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runCli } from "../helpers/index.js";

test("cohort --version and -V print package.json's version", async () => {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  for (const flag of ["--version", "-V"]) {
    const r = await runCli([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), version);
  }
});
