/**
 * Issue 8: a malformed authorization.json is refused with the file, the JSON path, the bad value
 * and the fix; FLARE's accepted spellings are accepted; unknown right names only warn; the site's
 * file is found as FLARE finds it (authorization.json, else authorization.json.default).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { authorize, loadSitePolicy, parsePolicy, parseCondition } from "../../src/authz/index.js";
import { isCohortError, type CohortError } from "../../src/errors/index.js";
import { DEFAULT_AUTHORIZATION } from "../../src/provision/index.js";
import { tempDir, writeFile } from "../helpers/index.js";

const FILE = "/kits/site-1/local/authorization.json";

function refusal(raw: unknown, file = FILE): CohortError {
  try {
    parsePolicy(raw, file);
  } catch (err) {
    assert.ok(isCohortError(err, "ERR_AUTHZ_POLICY_INVALID"), `expected ERR_AUTHZ_POLICY_INVALID, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the policy to be refused");
}

const policy = (permissions: unknown): unknown => ({ format_version: "1.0", permissions });

interface BadCase {
  readonly name: string;
  readonly raw: unknown;
  /** JSON path as the message shows it. */
  readonly path: string;
  /** The bad value as the message shows it (JSON). */
  readonly value?: string;
  /** What the message must say, problem and fix. */
  readonly says: RegExp;
}

const BAD: readonly BadCase[] = [
  {
    name: "format_version a number",
    raw: { format_version: 1.0, permissions: { a: "any" } },
    path: "format_version",
    value: "1",
    says: /must be the string "1\.0".*write "format_version": "1\.0"/,
  },
  {
    name: "format_version 2.0",
    raw: { format_version: "2.0", permissions: { a: "any" } },
    path: "format_version",
    value: '"2.0"',
    says: /must be the string "1\.0"/,
  },
  { name: "format_version missing", raw: { permissions: { a: "any" } }, path: "format_version", says: /missing; write "format_version": "1\.0"/ },
  { name: "permissions missing", raw: { format_version: "1.0" }, path: "permissions", says: /missing; e\.g\. "permissions"/ },
  { name: "permissions empty", raw: policy({}), path: "permissions", value: "{}", says: /no roles .*; grant at least one role/ },
  { name: "permissions a list", raw: policy(["any"]), path: "permissions", value: '["any"]', says: /must be an object of role → permissions/ },
  { name: "policy not an object", raw: "any", path: "(top level)", value: '"any"', says: /must be a JSON object/ },
  {
    name: "bad condition type x:site",
    raw: policy({ lead: { submit_job: "x:site" } }),
    path: "permissions.lead.submit_job",
    value: '"x:site"',
    says: /unknown condition type "x:".*use one of any, all, none, no, o:site/,
  },
  { name: "bad word", raw: policy({ lead: { view: "everyone" } }), path: "permissions.lead.view", value: '"everyone"', says: /not a condition .*; use one of/ },
  {
    name: "two words without not",
    raw: policy({ lead: { view: "only o:site" } }),
    path: "permissions.lead.view",
    value: '"only o:site"',
    says: /unknown condition type "only o:"/,
  },
  { name: "not not", raw: policy({ lead: { view: "not not any" } }), path: "permissions.lead.view", says: /not a condition/ },
  { name: "bare not", raw: policy({ lead: { view: "not" } }), path: "permissions.lead.view", says: /not a condition/ },
  { name: "empty target", raw: policy({ lead: { view: "o:" } }), path: "permissions.lead.view", value: '"o:"', says: /nothing after "o:"/ },
  { name: "empty condition", raw: policy({ lead: { view: "  " } }), path: "permissions.lead.view", says: /empty condition/ },
  {
    name: "bad role-wide expression",
    raw: policy({ project_admin: "o:site:x" }),
    path: "permissions.project_admin",
    value: '"o:site:x"',
    says: /not a condition/,
  },
  {
    name: "bad element in a list",
    raw: policy({ lead: { manage_job: ["n:submitter", "q:x"] } }),
    path: "permissions.lead.manage_job[1]",
    value: '"q:x"',
    says: /unknown condition type "q:"/,
  },
  {
    name: "number in a list",
    raw: policy({ lead: { manage_job: ["n:submitter", 7] } }),
    path: "permissions.lead.manage_job[1]",
    value: "7",
    says: /a condition must be a string/,
  },
  {
    name: "empty list",
    raw: policy({ lead: { manage_job: [] } }),
    path: "permissions.lead.manage_job",
    value: "[]",
    says: /empty list of conditions .*; give at least one condition, or "none"/,
  },
  {
    name: "right value an object",
    raw: policy({ lead: { view: { any: true } } }),
    path: "permissions.lead.view",
    value: '{"any":true}',
    says: /must be a condition string or a list/,
  },
  {
    name: "right value a boolean",
    raw: policy({ lead: { byoc: true } }),
    path: "permissions.lead.byoc",
    value: "true",
    says: /must be a condition string or a list/,
  },
  {
    name: "role value a number",
    raw: policy({ lead: 3 }),
    path: "permissions.lead",
    value: "3",
    says: /must be an expression for all rights, a list of expressions, or an object of right → expression/,
  },
  { name: "role value null", raw: policy({ lead: null }), path: "permissions.lead", value: "null", says: /must be an expression for all rights/ },
  {
    name: "key with a dot is bracketed",
    raw: policy({ "lead.x": { "submit.job": "bad" } }),
    path: 'permissions["lead.x"]["submit.job"]',
    value: '"bad"',
    says: /not a condition/,
  },
  { name: "roles differing only by case", raw: policy({ lead: "any", Lead: "none" }), path: "permissions.Lead", says: /the same role as "lead"/ },
  {
    name: "rights differing only by case",
    raw: policy({ lead: { view: "any", VIEW: "none" } }),
    path: "permissions.lead.VIEW",
    says: /the same right as "view"/,
  },
];

describe("parsePolicy refuses a malformed authorization.json with file, JSON path, value and fix", () => {
  for (const c of BAD) {
    test(c.name, () => {
      const err = refusal(c.raw);
      assert.ok(err.message.startsWith(`${FILE}: `) || err.message.includes(`\n  - ${FILE}: `), err.message);
      assert.ok(err.message.includes(`${FILE}: ${c.path}: `), `names the path ${c.path}: ${err.message}`);
      if (c.value !== undefined) assert.ok(err.message.includes(`(got ${c.value})`), `shows the value ${c.value}: ${err.message}`);
      assert.match(err.message, c.says);
      assert.equal(err.details["file"], FILE);
    });
  }

  test("every problem of a file is reported at once", () => {
    const err = refusal({ format_version: "2", permissions: { lead: { submit_job: "x:site", view: [] }, member: 1 } });
    assert.match(err.message, /^4 problems in \/kits\/site-1\/local\/authorization\.json:/);
    for (const path of ["format_version", "permissions.lead.submit_job", "permissions.lead.view", "permissions.member"])
      assert.ok(err.message.includes(`${FILE}: ${path}: `), path);
    assert.equal((err.details["issues"] as unknown[]).length, 4);
  });
});

describe("parsePolicy accepts FLARE's spellings unchanged", () => {
  test("every condition form and its aliases", () => {
    const forms: Record<string, string> = {
      any: "any",
      ALL: "all",
      none: "none",
      No: "no",
      "o:site": "o:site",
      "org:site": "org:site",
      "o: site": "o: site",
      "o:submitter": "o:submitter",
      "O:Hospital-A": "o:hospital-a",
      "n:submitter": "n:submitter",
      "name:submitter": "name:submitter",
      "n:Bob@B.org": "n:bob@b.org",
      "not o:site": "not o:site",
      "  NOT\t o:x ": "not o:x",
    };
    for (const [raw, text] of Object.entries(forms)) {
      const parsed = parseCondition(raw);
      assert.ok(parsed.ok, raw);
      assert.equal(parsed.condition.text, text);
      assert.equal(parsed.condition.blocking, text.startsWith("not "));
    }
    const p = parsePolicy(policy({ r: { view: Object.keys(forms) } }), FILE);
    assert.equal(p.roles.get("r")?.rights.get("list_jobs")?.conditions.length, Object.keys(forms).length);
  });

  test("aliases mean the same: org:site, name:submitter, all, no", () => {
    const p = parsePolicy(policy({ a: { operate: "org:site", manage_job: "name:submitter", view: "all", byoc: "no" } }), FILE);
    const u = { name: "u", org: "a", role: "a" };
    assert.equal(authorize(p, { right: "restart", user: u, siteOrg: "a" }).allowed, true);
    assert.equal(authorize(p, { right: "restart", user: u, siteOrg: "b" }).allowed, false);
    assert.equal(authorize(p, { right: "abort_job", user: u, submitter: u, siteOrg: "b" }).allowed, true);
    assert.equal(authorize(p, { right: "abort_job", user: u, submitter: { ...u, name: "v" }, siteOrg: "b" }).allowed, false);
    assert.equal(authorize(p, { right: "list_jobs", user: u, siteOrg: "b" }).allowed, true);
    assert.equal(authorize(p, { right: "byoc", user: u, siteOrg: "a" }).allowed, false);
  });

  test("the provisioned default has no warnings; role and right names are normalised", () => {
    assert.deepEqual(parsePolicy(DEFAULT_AUTHORIZATION, FILE).warnings, []);
    const p = parsePolicy(policy({ " Lead ": { Submit_Job: "any" } }), FILE);
    assert.ok(p.roles.get("lead")?.rights.has("submit_job"));
    assert.equal(p.roles.get("lead")?.rights.get("submit_job")?.path, 'permissions[" Lead "].Submit_Job');
  });
});

describe("warnings for names that are probably mistakes", () => {
  test("unknown right names warn (with a suggestion) but are allowed", () => {
    const p = parsePolicy(policy({ lead: { sumbit_job: "any", my_command: "o:site", view: "any" }, x: {} }), FILE);
    assert.equal(p.warnings.length, 3);
    assert.match(
      p.warnings[0] ?? "",
      /^permissions\.lead\.sumbit_job: 'sumbit_job' is not a known command, category or special right \(did you mean "submit_job"\?\)/,
    );
    assert.match(p.warnings[1] ?? "", /^permissions\.lead\.my_command: 'my_command' is not a known/);
    assert.match(p.warnings[2] ?? "", /^permissions\.x: role 'x' has no rights/);
    // FLARE allows command names it does not know: the rule still works for that exact name.
    assert.equal(authorize(p, { right: "my_command", user: { name: "u", org: "a", role: "lead" }, siteOrg: "a" }).allowed, true);
    assert.equal(authorize(p, { right: "submit_job", user: { name: "u", org: "a", role: "lead" }, siteOrg: "a" }).allowed, false);
  });

  test("categories, special rights and known commands do not warn; unknown top-level keys do", () => {
    const p = parsePolicy(
      {
        format_version: "1.0",
        comment: "site-1 policy",
        permissions: { lead: { manage_job: "any", byoc: "none", "server-predeployed-flwr": "none", check_resources: "any", abort_job: "any", ls: "o:site" } },
      },
      FILE,
    );
    assert.deepEqual(p.warnings, ["comment: unknown key, ignored (FLARE reads only format_version and permissions)"]);
  });
});

describe("loadSitePolicy finds the site's file as FLARE does", () => {
  const kit = (files: Record<string, string>): string => {
    const dir = tempDir("cohort-authz-kit-");
    for (const [rel, text] of Object.entries(files)) writeFile(join(dir, rel), text);
    return dir;
  };

  test("authorization.json wins over authorization.json.default", () => {
    const dir = kit({
      "local/authorization.json": JSON.stringify(policy({ only: "any" })),
      "local/authorization.json.default": JSON.stringify(DEFAULT_AUTHORIZATION),
    });
    const loaded = loadSitePolicy(dir);
    assert.equal(loaded?.file, join(dir, "local", "authorization.json"));
    assert.deepEqual([...(loaded?.policy.roles.keys() ?? [])], ["only"]);
  });

  test("else authorization.json.default", () => {
    const dir = kit({ "local/authorization.json.default": JSON.stringify(DEFAULT_AUTHORIZATION) });
    const loaded = loadSitePolicy(dir);
    assert.equal(loaded?.file, join(dir, "local", "authorization.json.default"));
    assert.equal(loaded?.policy.roles.size, 4);
    assert.deepEqual(loaded?.warnings, []);
  });

  test("neither → undefined", () => {
    assert.equal(loadSitePolicy(kit({ "local/resources.json": "{}" })), undefined);
  });

  test("invalid JSON and a malformed policy are refused naming the file", () => {
    const broken = kit({ "local/authorization.json": "{ format_version: 1.0 " });
    assert.throws(
      () => loadSitePolicy(broken),
      (err: unknown) =>
        isCohortError(err, "ERR_AUTHZ_POLICY_INVALID") && err.message.startsWith(`${join(broken, "local", "authorization.json")}: not valid JSON`),
    );
    const bad = kit({ "local/authorization.json": JSON.stringify(policy({ lead: { submit_job: "x:site" } })) });
    assert.throws(
      () => loadSitePolicy(bad),
      (err: unknown) =>
        isCohortError(err, "ERR_AUTHZ_POLICY_INVALID") && err.message.includes(`${join(bad, "local", "authorization.json")}: permissions.lead.submit_job: `),
    );
  });
});
