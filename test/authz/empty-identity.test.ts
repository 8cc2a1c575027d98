/**
 * docs/authorization.md "Conditions": empty names and orgs never match anything (FLARE compares
 * plain strings, so an empty org would equal an empty site org); a blocking condition that needs a
 * submitter the request does not have denies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { authorize, parsePolicy } from "../../src/authz/index.js";

const policy = parsePolicy(
  { format_version: "1.0", permissions: { r: { view: "o:site", abort_job: "o:submitter", delete_job: "n:submitter", byoc: "not o:submitter" } } },
  "local/authorization.json",
);

test("an empty org or name matches nothing: o:site, o:submitter and n:submitter deny when both sides are empty", () => {
  const empty = { name: "", org: "", role: "r" };
  assert.equal(authorize(policy, { right: "view", user: empty, siteOrg: "" }).allowed, false, "o:site with empty orgs");
  assert.equal(authorize(policy, { right: "abort_job", user: empty, submitter: empty, siteOrg: "a" }).allowed, false, "o:submitter with empty orgs");
  assert.equal(authorize(policy, { right: "delete_job", user: empty, submitter: empty, siteOrg: "a" }).allowed, false, "n:submitter with empty names");
  // Control: the same rules with real names and orgs allow.
  const alice = { name: "alice", org: "a", role: "r" };
  assert.equal(authorize(policy, { right: "view", user: alice, siteOrg: "a" }).allowed, true);
  assert.equal(authorize(policy, { right: "abort_job", user: alice, submitter: alice, siteOrg: "b" }).allowed, true);
  assert.equal(authorize(policy, { right: "delete_job", user: alice, submitter: alice, siteOrg: "b" }).allowed, true);
});

test("a blocking condition that needs a submitter the request does not have denies (fail closed)", () => {
  const alice = { name: "alice", org: "a", role: "r" };
  assert.equal(authorize(policy, { right: "byoc", user: alice, siteOrg: "a" }).allowed, false);
  assert.equal(
    authorize(policy, { right: "byoc", user: alice, submitter: { name: "bob", org: "b", role: "lead" }, siteOrg: "a" }).allowed,
    true,
    "control: another org's job passes",
  );
});
