import { test } from "node:test";
import assert from "node:assert/strict";
import { CohortError, isCohortError } from "../../src/errors/index.js";

test("CohortError carries a stable code and structured details", () => {
  const err = new CohortError("ERR_EXAMPLE", "something failed", { file: "a.yml", field: "x" });
  assert.equal(err.code, "ERR_EXAMPLE");
  assert.deepEqual(err.details, { file: "a.yml", field: "x" });
  assert.ok(isCohortError(err));
  assert.ok(isCohortError(err, "ERR_EXAMPLE"));
  assert.ok(!isCohortError(err, "ERR_OTHER"));
  assert.ok(!isCohortError(new Error("plain")));
  assert.deepEqual(JSON.parse(JSON.stringify(err)), { code: "ERR_EXAMPLE", message: "something failed", details: { file: "a.yml", field: "x" } });
});
