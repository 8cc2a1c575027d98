// Mutants of authorization evaluation (src/authz/): each lets a request through that the site's
// policy denies, or reads a condition the other way round.
import { mutant, type MutationArea } from "./_engine.js";

const EVALUATE = "src/authz/evaluate.ts";
const CONDITIONS = "src/authz/conditions.ts";
const POLICY = "src/authz/policy.ts";

const area: MutationArea = {
  title: "authz evaluation (src/authz/: evaluate, conditions, policy)",
  tests: [
    "test/authz/decisions.test.ts",
    "test/authz/blocking.property.test.ts",
    "test/authz/policy-file.test.ts",
    "test/authz/byoc.test.ts",
    "test/runtime/site-security.test.ts",
  ],
  mutants: [
    mutant(
      "authz-super-role-bypass",
      "FLARE's test bypass: a certificate with role 'super' is allowed everything",
      EVALUATE,
      "  const permissions = policy.roles.get(user.role);\n",
      '  if (user.role === "super") return { allowed: true, reason: "super" };\n  const permissions = policy.roles.get(user.role);\n',
    ),
    mutant(
      "authz-no-rule-allows",
      "a right the role has no rule for is allowed (fail open)",
      EVALUATE,
      "return { allowed: false, reason: `${who} has no rule for",
      "return { allowed: true, reason: `${who} has no rule for",
    ),
    mutant("authz-blocking-ignored", "a matching blocking condition ('not …') does not block", EVALUATE, "    if (outcome.matched) {\n", "    if (false) {\n"),
    mutant(
      "authz-blocking-fail-open",
      "a blocking condition that needs a submitter lets a request without a job through",
      EVALUATE,
      "if (outcome.missingSubmitter) {",
      "if (false) {",
    ),
    mutant(
      "authz-allowing-condition-unmatched",
      "any allowing condition allows, whether it matches or not",
      EVALUATE,
      "const hit = outcomes.find((o) => o.outcome.matched);",
      "const hit = outcomes[0];",
    ),
    mutant(
      "authz-default-allow",
      "no allowing condition matched, and the request is allowed anyway",
      EVALUATE,
      "return { allowed: false, reason: `${who} may not '${right}' at this site: ${whyNot}",
      "return { allowed: true, reason: `${who} may not '${right}' at this site: ${whyNot}",
    ),
    mutant(
      "authz-role-wide-loses",
      "an explicit right is consulted before the role-wide '*' rule",
      EVALUATE,
      "const rule = permissions?.roleWide ?? permissions?.rights.get(right);",
      "const rule = permissions?.rights.get(right) ?? permissions?.roleWide;",
    ),
    mutant(
      "conditions-empty-equals-empty",
      "an identity without an org matches a site without an org (o:site)",
      CONDITIONS,
      'return a !== "" && a === b;',
      "return a === b;",
    ),
    mutant(
      "conditions-not-prefix-ignored",
      "'not <x>' is read as '<x>': a blocking condition becomes an allowing one",
      CONDITIONS,
      "    blocking = true;\n",
      "    blocking = false;\n",
    ),
    mutant(
      "conditions-none-matches",
      "'none' matches everyone",
      CONDITIONS,
      "return outcome(false, `'${condition.text}' matches no one`);",
      "return outcome(true, `'${condition.text}' matches no one`);",
    ),
    mutant(
      "conditions-site-org-is-user-org",
      "o:site compares the user's org with itself: every user with an org matches",
      CONDITIONS,
      "compare(same(user.org, siteOrg),",
      "compare(same(user.org, user.org),",
    ),
    mutant(
      "conditions-submitter-org-is-site-org",
      "o:submitter compares with the site's org instead of the job submitter's",
      CONDITIONS,
      "compare(same(user.org, submitter.org),",
      "compare(same(user.org, siteOrg),",
    ),
    mutant(
      "conditions-submitter-name-is-org",
      "n:submitter compares orgs instead of names: anyone of the submitter's org matches",
      CONDITIONS,
      "compare(same(user.name, submitter.name),",
      "compare(same(user.org, submitter.org),",
    ),
    mutant(
      "conditions-name-is-org",
      "n:<name> compares the user's org with the name",
      CONDITIONS,
      "compare(same(user.name, test.name),",
      "compare(same(user.org, test.name),",
    ),
    mutant(
      "conditions-empty-target-accepted",
      "'o:' (nothing after the colon) is accepted",
      CONDITIONS,
      'if (target === "") return bad(',
      "if (false) return bad(",
    ),
    mutant(
      "policy-category-overrides-explicit",
      "a category's rule overrides the explicit right named beside it",
      POLICY,
      "    for (const { key, right, expression } of entries) {\n      if (isCategory(right)) continue;\n      rights.set(right, rule(key, right, expression));",
      "    for (const { key, right, expression } of entries) {\n      if (isCategory(right)) continue;\n      if (!rights.has(right)) rights.set(right, rule(key, right, expression));",
    ),
  ],
};

export default area;
