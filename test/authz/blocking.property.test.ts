/**
 * Issue 8, property: a `not X` rule never allows a request that X matches, wherever the rule
 * sits (role-wide, a right, a category) and whatever allow conditions sit beside it; and with
 * only allow conditions, a request is allowed exactly when one of them matches. The oracle
 * below restates FLARE's condition semantics independently of src/authz.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { authorize, parsePolicy, type AuthzIdentity } from "../../src/authz/index.js";

const NAMES = ["alice", "bob", "Carol"] as const;
const ORGS = ["a", "b", "C"] as const;

const person = fc.record({ name: fc.constantFrom(...NAMES), org: fc.constantFrom(...ORGS), role: fc.constant("r") });

const conditionText = fc.oneof(
  fc.constantFrom("any", "all", "none", "no", "o:site", "org:site", "o:submitter", "n:submitter", "name:submitter"),
  fc.constantFrom(...ORGS).map((o) => `o:${o}`),
  fc.constantFrom(...NAMES).map((n) => `n:${n}`),
);

interface Request {
  readonly user: AuthzIdentity;
  readonly submitter: AuthzIdentity | undefined;
  readonly siteOrg: string;
}

const request = fc.record({ user: person, submitter: fc.option(person, { nil: undefined }), siteOrg: fc.constantFrom(...ORGS) });

/** FLARE's meaning of one condition (without `not`), names compared case-insensitively. */
function matches(condition: string, r: Request): boolean {
  const lc = (s: string): string => s.toLowerCase();
  const [type, target = ""] = lc(condition).split(":");
  if (type === "any" || type === "all") return true;
  if (type === "none" || type === "no") return false;
  if (type === "o" || type === "org") {
    if (target === "site") return lc(r.user.org) === lc(r.siteOrg);
    if (target === "submitter") return r.submitter !== undefined && lc(r.user.org) === lc(r.submitter.org);
    return lc(r.user.org) === target;
  }
  if (target === "submitter") return r.submitter !== undefined && lc(r.user.name) === lc(r.submitter.name);
  return lc(r.user.name) === target;
}

/** Where the rule goes: role-wide, an explicit right, or the category the command belongs to. */
const placement = fc.constantFrom("role-wide", "right", "category") satisfies fc.Arbitrary<string>;

function policyWith(place: string, expression: string[]): ReturnType<typeof parsePolicy> {
  const role = place === "role-wide" ? expression : place === "right" ? { abort_job: expression } : { manage_job: expression };
  return parsePolicy({ format_version: "1.0", permissions: { r: role } }, "property.json");
}

describe("blocking conditions (property)", () => {
  test("a `not X` rule never allows a request that X matches", () => {
    fc.assert(
      fc.property(
        conditionText,
        fc.array(conditionText, { maxLength: 3 }),
        fc.array(conditionText, { maxLength: 2 }),
        placement,
        request,
        (x, allows, otherBlocks, place, r) => {
          const expression = [...allows, `not ${x}`, ...otherBlocks.map((b) => `not ${b}`)];
          const d = authorize(policyWith(place, expression), { right: "abort_job", ...r, ...(r.submitter ? { submitter: r.submitter } : {}) });
          if (matches(x, r)) assert.equal(d.allowed, false, `${JSON.stringify(expression)} allowed ${JSON.stringify(r)}: ${d.reason}`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("allow-only lists: allowed exactly when one condition matches", () => {
    fc.assert(
      fc.property(fc.array(conditionText, { minLength: 1, maxLength: 4 }), placement, request, (allows, place, r) => {
        const d = authorize(policyWith(place, allows), { right: "abort_job", ...r, ...(r.submitter ? { submitter: r.submitter } : {}) });
        assert.equal(
          d.allowed,
          allows.some((c) => matches(c, r)),
          `${JSON.stringify(allows)} for ${JSON.stringify(r)}: ${d.reason}`,
        );
      }),
      { numRuns: 2000 },
    );
  });

  test("blocking-only lists: allowed exactly when none matches (and a submitter exists if one is needed)", () => {
    fc.assert(
      fc.property(fc.array(conditionText, { minLength: 1, maxLength: 3 }), placement, request, (blocks, place, r) => {
        const d = authorize(
          policyWith(
            place,
            blocks.map((b) => `not ${b}`),
          ),
          { right: "abort_job", ...r, ...(r.submitter ? { submitter: r.submitter } : {}) },
        );
        const needsSubmitter = blocks.some((b) => b.endsWith(":submitter"));
        const expected = !blocks.some((b) => matches(b, r)) && (r.submitter !== undefined || !needsSubmitter);
        assert.equal(d.allowed, expected, `${JSON.stringify(blocks)} for ${JSON.stringify(r)}: ${d.reason}`);
      }),
      { numRuns: 2000 },
    );
  });
});
