/**
 * Issue 14 "Also": byocGrantsBeyondOrg names who outside a site's org may bring their own code,
 * for FLARE's default policy, a policy restricted to the site's org, custom roles, and every
 * condition form; and it agrees with `authorize` on every one- and two-condition rule.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { authorize, byocGrantsBeyondOrg, parsePolicy } from "../../src/authz/index.js";
import { DEFAULT_AUTHORIZATION } from "../../src/provision/index.js";

const SITE_ORG = "hospital_a";

function grants(permissions: Record<string, unknown>, siteOrg = SITE_ORG): string[] {
  return byocGrantsBeyondOrg(parsePolicy({ format_version: "1.0", permissions }, "authorization.json"), siteOrg);
}

/** A role with only `byoc` set to the given expression. */
const byocOnly = (expression: string | string[]): Record<string, unknown> => ({ researcher: { byoc: expression } });

describe("byocGrantsBeyondOrg", () => {
  test("FLARE's default policy: every org's lead, and project_admin through its role-wide rule", () => {
    assert.deepEqual(byocGrantsBeyondOrg(parsePolicy(DEFAULT_AUTHORIZATION, "authorization.json.default"), SITE_ORG), [
      'role project_admin of any org may submit custom code (byoc) [permissions.project_admin = "any"]',
      'role lead of any org may submit custom code (byoc) [permissions.lead.byoc = "any"]',
    ]);
  });

  test("the default policy restricted to the site's own org: nothing", () => {
    const { project_admin: _pa, ...rest } = DEFAULT_AUTHORIZATION.permissions;
    const restricted = {
      ...rest,
      project_admin: { submit_job: "any", manage_job: "any", view: "any", operate: "any", byoc: "o:site" },
      lead: { ...DEFAULT_AUTHORIZATION.permissions.lead, byoc: "o:site" },
    };
    assert.deepEqual(grants(restricted), []);
    // The site's org named explicitly, in another case and spacing, is still the site's own org.
    assert.deepEqual(grants({ ...restricted, lead: { ...restricted.lead, byoc: " O:Hospital_A " } }), []);
  });

  test("roles without a byoc rule, 'none'/'no', and a role-wide 'none' grant nothing", () => {
    assert.deepEqual(grants({ member: { view: "any" }, a: { byoc: "none" }, b: { byoc: "no" }, c: "none", d: { submit_job: "any", manage_job: "any" } }), []);
  });

  test("'any'/'all', o:submitter and n:submitter reach every org (the submitter is the one asking)", () => {
    for (const expression of ["any", "all", "o:submitter", "n:submitter"]) {
      assert.deepEqual(
        grants(byocOnly(expression)),
        [`role researcher of any org may submit custom code (byoc) [permissions.researcher.byoc = "${expression}"]`],
        expression,
      );
    }
  });

  test("blocking conditions: 'not o:site' is everyone else; 'not o:submitter' blocks everyone; a blocked org is named", () => {
    assert.deepEqual(grants(byocOnly("not o:site")), ['role researcher of any org may submit custom code (byoc) [permissions.researcher.byoc = "not o:site"]']);
    assert.deepEqual(grants(byocOnly("not o:submitter")), []);
    assert.deepEqual(grants(byocOnly(["any", "not o:rival"])), [
      'role researcher of any org except \'rival\' may submit custom code (byoc) [permissions.researcher.byoc = ["any","not o:rival"]]',
    ]);
    assert.deepEqual(grants(byocOnly(["o:site", "not o:rival"])), []);
  });

  test("custom roles: named orgs and named users", () => {
    assert.deepEqual(grants({ partner: { byoc: ["o:b", "o:C"] } }), [
      "role partner of orgs 'b', 'c' may submit custom code (byoc) [permissions.partner.byoc = [\"o:b\",\"o:c\"]]",
    ]);
    assert.deepEqual(grants({ reviewer: ["n:carol", "o:acme"] }), [
      'role reviewer of org \'acme\' may submit custom code (byoc) [permissions.reviewer = ["n:carol","o:acme"]]',
      'user \'carol\' with role reviewer of any org may submit custom code (byoc) [permissions.reviewer = ["n:carol","o:acme"]]',
    ]);
    // A named user the role already covers adds nothing; a named user blocked elsewhere is named with it.
    assert.deepEqual(grants({ r: { byoc: ["any", "n:carol"] } }), ['role r of any org may submit custom code (byoc) [permissions.r.byoc = ["any","n:carol"]]']);
    assert.deepEqual(grants({ r: { byoc: ["n:carol", "not o:rival"] } }), [
      "user 'carol' with role r of any org except 'rival' may submit custom code (byoc) [permissions.r.byoc = [\"n:carol\",\"not o:rival\"]]",
    ]);
  });

  test("a site whose certificate names no org: o:site matches no one, so only other grants count", () => {
    assert.deepEqual(grants(byocOnly("o:site"), ""), []);
    assert.equal(grants(byocOnly("any"), "").length, 1);
  });

  test("agrees with authorize on every rule of one or two conditions", () => {
    const pool = [
      "any",
      "none",
      "o:site",
      "o:submitter",
      "n:submitter",
      "o:b",
      "o:hospital_a",
      "n:carol",
      "not o:site",
      "not o:b",
      "not n:carol",
      "not o:submitter",
      "not any",
    ];
    const rules: (string | string[])[] = [...pool, ...pool.flatMap((x) => pool.map((y) => [x, y]))];
    const orgs = ["b", "c", "zz-unnamed"];
    const names = ["carol", "dave"];
    for (const rule of rules) {
      const policy = parsePolicy({ format_version: "1.0", permissions: { r: { byoc: rule } } }, "authorization.json");
      const outsider = orgs.some((org) =>
        names.some((name) => {
          const person = { name, org, role: "r" };
          return authorize(policy, { right: "byoc", user: person, submitter: person, siteOrg: SITE_ORG }).allowed;
        }),
      );
      assert.equal(byocGrantsBeyondOrg(policy, SITE_ORG).length > 0, outsider, JSON.stringify(rule));
    }
  });
});
