/**
 * The server's local/resources.json keys for the refusal writer and the pre-login budget: defaults, accepted values, and
 * refusals naming the file, the field, the bad value and the fix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_SERVER_SETTINGS, readLocalJson, serverResourcesSchema } from "../../src/config/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { tempDir, writeFile } from "../helpers/index.js";

function withServerSettings(settings: Record<string, unknown>): { dir: string; file: string } {
  const dir = tempDir("cohort-resources-");
  return { dir, file: writeFile(join(dir, "local", "resources.json"), JSON.stringify({ format_version: 2, servers: [settings] })) };
}

test("the refusal writer's rate defaults to 20 lines at once, then 5 a second; the pre-login budget to 16 MiB", () => {
  assert.equal(DEFAULT_SERVER_SETTINGS.audit_refusal_burst, 20);
  assert.equal(DEFAULT_SERVER_SETTINGS.audit_refusal_per_second, 5);
  assert.equal(DEFAULT_SERVER_SETTINGS.prelogin_budget_bytes, 16 * 1024 * 1024);
  const { dir } = withServerSettings({ audit_refusal_burst: 2, audit_refusal_per_second: 0.1 });
  const s = readLocalJson(dir, "resources", serverResourcesSchema)?.value.servers[0];
  assert.equal(s?.audit_refusal_burst, 2);
  assert.equal(s?.audit_refusal_per_second, 0.1);
});

for (const [field, value] of [
  ["audit_refusal_burst", 0],
  ["audit_refusal_burst", 2.5],
  ["audit_refusal_burst", "20"],
  ["audit_refusal_per_second", 0],
  ["audit_refusal_per_second", -1],
  ["prelogin_budget_bytes", 1024],
] as const) {
  test(`${field}: ${JSON.stringify(value)} is refused with the file, the field, the value and the fix`, () => {
    const { dir, file } = withServerSettings({ [field]: value });
    assert.throws(
      () => readLocalJson(dir, "resources", serverResourcesSchema),
      (err: unknown) => {
        assert.ok(isCohortError(err, "ERR_CONFIG_INVALID"), String(err));
        assert.ok(err.message.includes(file), err.message);
        assert.ok(err.message.includes(`servers[0].${field}`), err.message);
        assert.ok(err.message.includes(`(got ${JSON.stringify(value)})`), err.message);
        assert.match(err.message, /fix: /);
        return true;
      },
    );
  });
}
