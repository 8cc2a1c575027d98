/**
 * Issue 2 §2: every project.yml key gets one of three answers (accepted / ignored / refused),
 * documented in a table in the docs. PROJECT_KEYS and PARTICIPANT_KEYS are the code's table; every
 * key must appear in docs/provisioning.md.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { OTHER_PARTICIPANT_TYPES, PARTICIPANT_KEYS, PROJECT_KEYS } from "../../src/config/index.js";
import { REPO_ROOT } from "../helpers/index.js";

const DOC = join(REPO_ROOT, "docs", "provisioning.md");

function mentions(doc: string, key: string): boolean {
  // As a whole word (keys contain '_', so fed_learn_port does not match inside another key).
  return new RegExp(`(^|[^A-Za-z0-9_])${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([^A-Za-z0-9_]|$)`, "m").test(doc);
}

test("every key of PROJECT_KEYS, PARTICIPANT_KEYS and the other participant types appears in docs/provisioning.md", () => {
  assert.ok(existsSync(DOC), `${DOC} is missing: the key table (accepted / ignored / refused) belongs there`);
  const doc = readFileSync(DOC, "utf8");
  const keys = [...Object.keys(PROJECT_KEYS), ...Object.keys(PARTICIPANT_KEYS), ...Object.keys(OTHER_PARTICIPANT_TYPES)];
  assert.ok(keys.length >= 25, "the key tables are not empty");
  const missing = keys.filter((k) => !mentions(doc, k));
  assert.deepEqual(missing, [], `keys missing from ${DOC}`);
  assert.match(doc, /not supported yet/i, "refused keys are documented as not supported yet");
});
