/**
 * Issue 8: `cohort authz explain` as a real process: allow (exit 0), deny (exit 1) printing the
 * deciding rule, a malformed policy (exit 4) naming the JSON path, missing options (exit 4).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_AUTHORIZATION } from "../../src/provision/index.js";
import { runCli, tempDir, writeFile } from "../helpers/index.js";

const dir = tempDir("cohort-authz-cli-");
const defaultPolicy = writeFile(join(dir, "authorization.json.default"), JSON.stringify(DEFAULT_AUTHORIZATION, null, 2));
const malformed = writeFile(join(dir, "broken.json"), JSON.stringify({ format_version: "1.0", permissions: { lead: { submit_job: "x:site" } } }));

const lead = (user: string, org: string): string[] => ["--user", user, "--org", org, "--role", "lead"];

describe("cohort authz explain", { concurrency: true }, () => {
  test("allow: exit 0, the rule and the matching condition", async () => {
    const r = await runCli([
      "authz",
      "explain",
      defaultPolicy,
      "--site-org",
      "b",
      ...lead("alice@a.org", "a"),
      "--right",
      "abort_job",
      "--submitter-name",
      "alice@a.org",
      "--submitter-org",
      "a",
      "--submitter-role",
      "lead",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ALLOW: user 'alice@a\.org' \(role lead, org a\) may 'abort_job' at this site/);
    assert.match(r.stdout, /decided by: permissions\.lead\.manage_job = "n:submitter" \(condition 'n:submitter'\)/);
    assert.ok(r.stdout.includes(`policy: ${defaultPolicy} (site org b)`), r.stdout);
  });

  test("deny: exit 1, the reason and the rule that decided", async () => {
    const r = await runCli([
      "authz",
      "explain",
      defaultPolicy,
      "--site-org",
      "a",
      ...lead("bob@b.org", "b"),
      "--right",
      "abort_job",
      "--submitter-name",
      "alice@a.org",
      "--submitter-org",
      "a",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      /^DENY: user 'bob@b\.org' \(role lead, org b\) may not 'abort_job' at this site: user 'bob@b\.org' is not the submitter 'alice@a\.org'/,
    );
    assert.match(r.stdout, /decided by: permissions\.lead\.manage_job = "n:submitter"\n/);
  });

  test("deny with no rule: exit 1, says there is no rule", async () => {
    const r = await runCli(["authz", "explain", defaultPolicy, "--site-org", "a", "--user", "m", "--org", "a", "--role", "member", "--right", "submit_job"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /has no rule for 'submit_job' at this site/);
    assert.match(r.stdout, /decided by: no rule for role 'member' and right 'submit_job' \(no rule means deny\)/);
  });

  test("--json: the decision as data", async () => {
    const r = await runCli([
      "authz",
      "explain",
      defaultPolicy,
      "--site-org",
      "a",
      "--user",
      "oa",
      "--org",
      "a",
      "--role",
      "org_admin",
      "--right",
      "shutdown",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { decision: string; allowed: boolean; rule: unknown; condition: string; file: string };
    assert.equal(out.decision, "allow");
    assert.equal(out.allowed, true);
    assert.deepEqual(out.rule, { role: "org_admin", right: "operate", expression: "o:site", path: "permissions.org_admin.operate" });
    assert.equal(out.condition, "o:site");
    assert.equal(out.file, defaultPolicy);
  });

  test("malformed policy: exit 4 with file, JSON path, value and fix", async () => {
    const r = await runCli(["authz", "explain", malformed, "--site-org", "a", ...lead("bob", "b"), "--right", "submit_job"]);
    assert.equal(r.code, 4, r.stdout + r.stderr);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.includes(`error [ERR_AUTHZ_POLICY_INVALID]: ${malformed}: permissions.lead.submit_job: unknown condition type "x:"`), r.stderr);
    assert.match(r.stderr, /\(got "x:site"\); use one of any, all, none/);
  });

  test("missing options: exit 4 naming them", async () => {
    const r = await runCli(["authz", "explain", defaultPolicy, "--role", "lead", "--submitter-name", "x"]);
    assert.equal(r.code, 4, r.stdout + r.stderr);
    assert.match(r.stderr, /missing --site-org, --user, --org, --right, --submitter-org/);
  });
});
