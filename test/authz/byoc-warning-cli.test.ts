/**
 * Issue 14 "Also": `cohort kit verify` warns (exit code unchanged) when the policy a site loads
 * grants byoc beyond its org, following the site's rule (local/authorization.json, else the
 * .default); `cohort start` logs the same warning once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_AUTHORIZATION } from "../../src/provision/index.js";
import { runCli, writeFile } from "../helpers/index.js";
import { provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";

let prodDir = "";
const kit = (name: string): string => join(prodDir, name);
const policyFile = (site: string): string => join(kit(site), "local", "authorization.json");

/** The default policy with byoc limited to the site's org, project_admin included. */
const RESTRICTED = {
  format_version: "1.0",
  permissions: {
    ...DEFAULT_AUTHORIZATION.permissions,
    project_admin: { submit_job: "any", manage_job: "any", download_job: "any", view: "any", operate: "any", shell_commands: "any", byoc: "o:site" },
    lead: { ...DEFAULT_AUTHORIZATION.permissions.lead, byoc: "o:site" },
  },
};

before(async () => {
  prodDir = (await provisionProject("http", "mtls", { name: "byoc_warning" })).prodDir;
});

describe("cohort kit verify: byoc beyond the site's org", { concurrency: false }, () => {
  after(() => rmSync(policyFile("site-1"), { force: true }));

  test("the provisioned default policy: a warning per grant and the fix, exit 0", async () => {
    const r = await runCli(["kit", "verify", kit("site-1")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^kit OK: site-1 \(client, org org_a\)/);
    const defaultFile = `${policyFile("site-1")}.default`;
    const lines = r.stderr.trim().split("\n");
    assert.deepEqual(lines, [
      `warning: ${defaultFile}: custom code from outside this site's org 'org_a' may run here: role project_admin of any org may submit custom code (byoc) [permissions.project_admin = "any"]`,
      `warning: ${defaultFile}: custom code from outside this site's org 'org_a' may run here: role lead of any org may submit custom code (byoc) [permissions.lead.byoc = "any"]`,
      `warning: ${defaultFile}: to allow custom code only from this site's org, copy it to local/authorization.json and there set "byoc": "o:site" for these roles (see docs/security.md)`,
    ]);
  });

  test("local/authorization.json overrides the .default: restricted to the site's org, no warning", async () => {
    writeFile(policyFile("site-1"), JSON.stringify(RESTRICTED, null, 2));
    const r = await runCli(["kit", "verify", kit("site-1")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
  });

  test("local/authorization.json granting one other org: named, with the fix for that file", async () => {
    writeFile(
      policyFile("site-1"),
      JSON.stringify({ ...RESTRICTED, permissions: { ...RESTRICTED.permissions, lead: { ...RESTRICTED.permissions.lead, byoc: ["o:site", "o:org_b"] } } }),
    );
    const r = await runCli(["kit", "verify", kit("site-1")]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stderr.includes(
        `warning: ${policyFile("site-1")}: custom code from outside this site's org 'org_a' may run here: role lead of org 'org_b' may submit custom code (byoc)`,
      ),
      r.stderr,
    );
    assert.ok(r.stderr.includes(`set "byoc": "o:site" for these roles`) && !r.stderr.includes("copy it to"), r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 2, r.stderr);
  });

  test("a malformed policy: a warning naming it, exit code still that of the kit check", async () => {
    writeFile(policyFile("site-1"), "{");
    const r = await runCli(["kit", "verify", kit("site-1")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^warning: .*authorization\.json: not valid JSON.*who may run custom code here was not checked/);
  });

  test("an admin kit has no site policy: no warning", async () => {
    const r = await runCli(["kit", "verify", kit("admin@nvidia.com")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
  });
});

describe("cohort start: the same warning, logged once", { concurrency: false }, () => {
  let server: CohortProcess | undefined;
  let site: CohortProcess | undefined;
  after(async () => {
    await site?.stop();
    await server?.stop();
  });

  test("the server with the default policy", { timeout: 60_000 }, async () => {
    server = startParticipantProcess(kit("localhost"), { server: true });
    await server.waitFor(/\[localhost\] warning: .*to allow custom code only from this site's org/);
    const warnings = server.lines.filter((l) => /custom code from outside this site's org 'nvidia' may run here/.test(l));
    assert.equal(warnings.length, 2, server.output);
    assert.match(warnings[1] ?? "", /role lead of any org may submit custom code \(byoc\) \[permissions\.lead\.byoc = "any"\]/);
  });

  test("a site with the default policy", { timeout: 60_000 }, async () => {
    site = startParticipantProcess(kit("site-2"));
    await site.waitFor(/\[site-2\] warning: .*to allow custom code only from this site's org/);
    assert.equal(site.lines.filter((l) => /custom code from outside this site's org 'org_b' may run here/.test(l)).length, 2, site.output);
  });
});
