/**
 * Issue 8 "Federated authorization": decisions against FLARE's provisioned default policy
 * (DEFAULT_AUTHORIZATION) and, for the condition forms the default does not use, against the
 * default extended with custom roles. Each row: who asks, at a site of which org, for which right,
 * about whose job → allow/deny and the policy entry that decided.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { authorize, parsePolicy, type AuthzIdentity } from "../../src/authz/index.js";
import { DEFAULT_AUTHORIZATION } from "../../src/provision/index.js";

const DEFAULT = parsePolicy(DEFAULT_AUTHORIZATION, "local/authorization.json.default");

const EXTENDED = parsePolicy(
  {
    format_version: "1.0",
    permissions: {
      ...DEFAULT_AUTHORIZATION.permissions,
      // A custom role: o:<org> on a category, an explicit right overriding its category, a list.
      auditor: { view: "o:hospital-a", list_jobs: "none", download_job: ["n:submitter", "o:site"] },
      // Role-wide list of n:<name> and o:<org>.
      reviewer: ["n:carol", "o:acme"],
      // Blocking conditions, alone and mixed with allow ones; odd case and spacing on purpose.
      guest: { view: ["any", "  NOT   O:Rival "], submit_job: "not n:mallory", byoc: ["not o:submitter"], operate: "o: site" },
      // Category plus an explicit override inside it.
      ops_lead: { manage_job: "n:submitter", delete_job: "o:site" },
    },
  },
  "local/authorization.json",
);

interface Row {
  readonly name: string;
  readonly policy?: "default" | "extended";
  readonly role: string;
  readonly user: string;
  readonly org: string;
  readonly siteOrg: string;
  readonly right: string;
  readonly submitter?: AuthzIdentity;
  readonly allowed: boolean;
  /** The deciding entry's path; null = no rule at all. */
  readonly rule: string | null;
  /** Words the reason must contain. */
  readonly reason?: RegExp;
}

const alice: AuthzIdentity = { name: "alice@a.org", org: "a", role: "lead" };
const bob: AuthzIdentity = { name: "bob@b.org", org: "b", role: "lead" };

const ROWS: readonly Row[] = [
  // project_admin: role-wide "any" answers for every right, known or not.
  { name: "project_admin any: shutdown anywhere", role: "project_admin", user: "pa@x.org", org: "x", siteOrg: "a", right: "shutdown", allowed: true, rule: "permissions.project_admin" },
  { name: "project_admin any: an unknown command too", role: "project_admin", user: "pa@x.org", org: "x", siteOrg: "a", right: "frobnicate", allowed: true, rule: "permissions.project_admin" },
  { name: "project_admin any: byoc", role: "project_admin", user: "pa@x.org", org: "x", siteOrg: "a", right: "byoc", allowed: true, rule: "permissions.project_admin" },
  // org_admin
  { name: "org_admin none: submit_job", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "submit_job", allowed: false, rule: "permissions.org_admin.submit_job", reason: /'none' matches no one/ },
  { name: "org_admin none: byoc", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "byoc", allowed: false, rule: "permissions.org_admin.byoc" },
  { name: "org_admin none: server-predeployed-flwr", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "server-predeployed-flwr", allowed: false, rule: "permissions.org_admin.server-predeployed-flwr" },
  { name: "org_admin o:site: restart own site (operate)", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "restart", allowed: true, rule: "permissions.org_admin.operate" },
  { name: "org_admin o:site: not another org's site", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "b", right: "restart", allowed: false, rule: "permissions.org_admin.operate", reason: /user org 'a' is not the site org 'b'/ },
  { name: "org_admin o:site: ls own site (shell_commands)", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "ls", allowed: true, rule: "permissions.org_admin.shell_commands" },
  { name: "org_admin o:site: tail at another site", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "b", right: "tail", allowed: false, rule: "permissions.org_admin.shell_commands" },
  { name: "org_admin o:submitter: abort a job of their org", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "b", right: "abort_job", submitter: alice, allowed: true, rule: "permissions.org_admin.manage_job", reason: /submitter's org 'a'/ },
  { name: "org_admin o:submitter: not another org's job", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "delete_job", submitter: bob, allowed: false, rule: "permissions.org_admin.manage_job", reason: /user org 'a' is not the submitter's org 'b'/ },
  { name: "org_admin o:submitter: download_job of their org", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "b", right: "download_job", submitter: alice, allowed: true, rule: "permissions.org_admin.download_job" },
  { name: "org_admin o:submitter without a submitter: deny, says why", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "abort_job", allowed: false, rule: "permissions.org_admin.manage_job", reason: /needs the job's submitter and the request names none/ },
  { name: "org_admin any: view category (list_jobs)", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "b", right: "list_jobs", allowed: true, rule: "permissions.org_admin.view" },
  { name: "org_admin clone_job none", role: "org_admin", user: "oa@a.org", org: "a", siteOrg: "a", right: "clone_job", submitter: alice, allowed: false, rule: "permissions.org_admin.clone_job" },
  // lead
  { name: "lead any: submit_job", role: "lead", user: "bob@b.org", org: "b", siteOrg: "a", right: "submit_job", allowed: true, rule: "permissions.lead.submit_job" },
  { name: "lead any: byoc", role: "lead", user: "bob@b.org", org: "b", siteOrg: "a", right: "byoc", allowed: true, rule: "permissions.lead.byoc" },
  { name: "lead n:submitter: abort own job", role: "lead", user: "alice@a.org", org: "a", siteOrg: "b", right: "abort_job", submitter: alice, allowed: true, rule: "permissions.lead.manage_job" },
  { name: "lead n:submitter: not someone else's job, even same org", role: "lead", user: "carol@a.org", org: "a", siteOrg: "a", right: "abort_job", submitter: alice, allowed: false, rule: "permissions.lead.manage_job", reason: /user 'carol@a\.org' is not the submitter 'alice@a\.org'/ },
  { name: "lead n:submitter: clone own job", role: "lead", user: "alice@a.org", org: "a", siteOrg: "a", right: "clone_job", submitter: alice, allowed: true, rule: "permissions.lead.clone_job" },
  { name: "lead n:submitter: download another's job", role: "lead", user: "bob@b.org", org: "b", siteOrg: "b", right: "download_job", submitter: alice, allowed: false, rule: "permissions.lead.download_job" },
  { name: "lead n:submitter without a submitter: deny", role: "lead", user: "alice@a.org", org: "a", siteOrg: "a", right: "delete_job", allowed: false, rule: "permissions.lead.manage_job", reason: /no job/ },
  { name: "lead o:site: sys_info own site", role: "lead", user: "bob@b.org", org: "b", siteOrg: "b", right: "sys_info", allowed: true, rule: "permissions.lead.operate" },
  { name: "lead o:site: shutdown another site", role: "lead", user: "bob@b.org", org: "b", siteOrg: "a", right: "shutdown", allowed: false, rule: "permissions.lead.operate" },
  { name: "lead view: show_privacy_budget is in view", role: "lead", user: "bob@b.org", org: "b", siteOrg: "a", right: "show_privacy_budget", allowed: true, rule: "permissions.lead.view" },
  { name: "lead: the category name itself is a right (FLARE keeps it)", role: "lead", user: "bob@b.org", org: "b", siteOrg: "a", right: "view", allowed: true, rule: "permissions.lead.view" },
  { name: "lead: a command in no category and not named → no rule", role: "lead", user: "bob@b.org", org: "b", siteOrg: "a", right: "check_resources", allowed: false, rule: null, reason: /has no rule for 'check_resources' at this site/ },
  // member
  { name: "member any: check_status", role: "member", user: "m@b.org", org: "b", siteOrg: "b", right: "check_status", allowed: true, rule: "permissions.member.view" },
  { name: "member cannot submit (no rule)", role: "member", user: "m@b.org", org: "b", siteOrg: "b", right: "submit_job", allowed: false, rule: null, reason: /user 'm@b\.org' \(role member, org b\) has no rule for 'submit_job' at this site/ },
  { name: "member cannot abort (category not granted)", role: "member", user: "m@b.org", org: "b", siteOrg: "b", right: "abort_job", submitter: alice, allowed: false, rule: null, reason: /nor its category 'manage_job'/ },
  // Unknown and test-hook roles: no rule, deny.
  { name: "unknown role", role: "intern", user: "i@a.org", org: "a", siteOrg: "a", right: "list_jobs", allowed: false, rule: null, reason: /role 'intern' is not in this site's policy/ },
  { name: "FLARE's 'super' test hook is not a bypass", role: "super", user: "s@a.org", org: "a", siteOrg: "a", right: "shutdown", allowed: false, rule: null },
  { name: "empty role", role: "", user: "e@a.org", org: "a", siteOrg: "a", right: "list_jobs", allowed: false, rule: null },
  // Names are compared as FLARE does: lower case, whitespace collapsed.
  { name: "normalised names: role 'Org_Admin', org 'A' at site org 'a '", role: "Org_Admin", user: "OA@a.org", org: "A", siteOrg: "a ", right: "Restart", allowed: true, rule: "permissions.org_admin.operate" },
  // Custom roles (extended policy).
  { policy: "extended", name: "custom role o:<org>: view for hospital-a", role: "auditor", user: "au@h.org", org: "hospital-a", siteOrg: "b", right: "show_stats", allowed: true, rule: "permissions.auditor.view", reason: /user org 'hospital-a' is 'hospital-a'/ },
  { policy: "extended", name: "custom role o:<org>: other org", role: "auditor", user: "au@h.org", org: "hospital-b", siteOrg: "b", right: "show_stats", allowed: false, rule: "permissions.auditor.view" },
  { policy: "extended", name: "explicit right overrides its category (list_jobs none over view)", role: "auditor", user: "au@h.org", org: "hospital-a", siteOrg: "b", right: "list_jobs", allowed: false, rule: "permissions.auditor.list_jobs" },
  { policy: "extended", name: "list OR: second condition o:site", role: "auditor", user: "au@h.org", org: "b", siteOrg: "b", right: "download_job", submitter: alice, allowed: true, rule: "permissions.auditor.download_job" },
  { policy: "extended", name: "list OR: first condition n:submitter", role: "auditor", user: "alice@a.org", org: "a", siteOrg: "b", right: "download_job", submitter: alice, allowed: true, rule: "permissions.auditor.download_job" },
  { policy: "extended", name: "list OR: none matches, every reason given", role: "auditor", user: "x@c.org", org: "c", siteOrg: "b", right: "download_job", submitter: alice, allowed: false, rule: "permissions.auditor.download_job", reason: /is not the submitter 'alice@a\.org'; user org 'c' is not the site org 'b'/ },
  { policy: "extended", name: "list OR without a submitter: the o:site branch still allows", role: "auditor", user: "x@b.org", org: "b", siteOrg: "b", right: "download_job", allowed: true, rule: "permissions.auditor.download_job" },
  { policy: "extended", name: "role-wide list n:<name>", role: "reviewer", user: "Carol", org: "z", siteOrg: "a", right: "shutdown", allowed: true, rule: "permissions.reviewer", reason: /user 'carol' is 'carol'/ },
  { policy: "extended", name: "role-wide list o:<org>", role: "reviewer", user: "dave", org: "acme", siteOrg: "a", right: "abort_job", allowed: true, rule: "permissions.reviewer" },
  { policy: "extended", name: "role-wide list: neither", role: "reviewer", user: "dave", org: "other", siteOrg: "a", right: "abort_job", allowed: false, rule: "permissions.reviewer" },
  { policy: "extended", name: "not o:<org> in a list blocks even with any", role: "guest", user: "g", org: "rival", siteOrg: "a", right: "list_jobs", allowed: false, rule: "permissions.guest.view", reason: /blocked by 'not o:rival'/ },
  { policy: "extended", name: "not o:<org> in a list: others pass via any", role: "guest", user: "g", org: "friend", siteOrg: "a", right: "list_jobs", allowed: true, rule: "permissions.guest.view" },
  { policy: "extended", name: "only blocking n:<name>, not matched → allow", role: "guest", user: "g", org: "friend", siteOrg: "a", right: "submit_job", allowed: true, rule: "permissions.guest.submit_job", reason: /no blocking condition matches/ },
  { policy: "extended", name: "only blocking n:<name>, matched → deny", role: "guest", user: "Mallory", org: "friend", siteOrg: "a", right: "submit_job", allowed: false, rule: "permissions.guest.submit_job" },
  { policy: "extended", name: "not o:submitter blocks a same-org job", role: "guest", user: "g", org: "a", siteOrg: "a", right: "byoc", submitter: alice, allowed: false, rule: "permissions.guest.byoc" },
  { policy: "extended", name: "not o:submitter lets another org's job through", role: "guest", user: "g", org: "c", siteOrg: "a", right: "byoc", submitter: alice, allowed: true, rule: "permissions.guest.byoc" },
  { policy: "extended", name: "not o:submitter without a submitter fails closed", role: "guest", user: "g", org: "c", siteOrg: "a", right: "byoc", allowed: false, rule: "permissions.guest.byoc", reason: /cannot be checked/ },
  { policy: "extended", name: "FLARE's 'o: site' spelling means o:site", role: "guest", user: "g", org: "a", siteOrg: "a", right: "report_resources", allowed: true, rule: "permissions.guest.operate" },
  { policy: "extended", name: "category with explicit override: delete_job o:site for a non-submitter", role: "ops_lead", user: "o", org: "a", siteOrg: "a", right: "delete_job", submitter: bob, allowed: true, rule: "permissions.ops_lead.delete_job" },
  { policy: "extended", name: "category with explicit override: abort_job still n:submitter", role: "ops_lead", user: "o", org: "a", siteOrg: "a", right: "abort_job", submitter: bob, allowed: false, rule: "permissions.ops_lead.manage_job" },
  { policy: "extended", name: "default roles unchanged in the extended policy", role: "member", user: "m", org: "a", siteOrg: "a", right: "get_job_meta", allowed: true, rule: "permissions.member.view" },
];

describe("authorize() against FLARE's default policy (and custom roles)", () => {
  test("the default policy parses with no warnings", () => {
    assert.deepEqual(DEFAULT.warnings, []);
    assert.deepEqual([...DEFAULT.roles.keys()], ["project_admin", "org_admin", "lead", "member"]);
  });

  for (const row of ROWS) {
    test(row.name, () => {
      const policy = row.policy === "extended" ? EXTENDED : DEFAULT;
      const d = authorize(policy, {
        right: row.right,
        user: { name: row.user, org: row.org, role: row.role },
        siteOrg: row.siteOrg,
        ...(row.submitter ? { submitter: row.submitter } : {}),
      });
      assert.equal(d.allowed, row.allowed, d.reason);
      assert.equal(d.rule?.path ?? null, row.rule, d.reason);
      if (row.reason) assert.match(d.reason, row.reason);
      // Every reason names the user, their role and the right, so an admin can read it alone.
      assert.ok(d.reason.includes(`'${row.user.toLowerCase()}'`) && d.reason.includes(`'${row.right.toLowerCase()}'`), d.reason);
      assert.ok(!d.reason.startsWith("NOT_AUTHORIZED"), "callers add NOT_AUTHORIZED");
    });
  }

  test("the deciding rule carries role, entry and expression", () => {
    const d = authorize(DEFAULT, { right: "abort_job", user: { name: "oa", org: "a", role: "org_admin" }, submitter: alice, siteOrg: "a" });
    assert.deepEqual(d.rule, { role: "org_admin", right: "manage_job", expression: "o:submitter", path: "permissions.org_admin.manage_job" });
    assert.equal(d.condition, "o:submitter");
    const wide = authorize(EXTENDED, { right: "x", user: { name: "carol", org: "z", role: "reviewer" }, siteOrg: "a" });
    assert.deepEqual(wide.rule, { role: "reviewer", right: "*", expression: '["n:carol","o:acme"]', path: "permissions.reviewer" });
  });
});
