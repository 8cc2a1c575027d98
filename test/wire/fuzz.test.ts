import { test } from "node:test";
import assert from "node:assert/strict";
import { runWireFuzz } from "../../fuzz/wire.js";

test("a short fuzz run finds no input that escapes the typed error", async () => {
  const report = await runWireFuzz({ seconds: 2.5 });
  assert.equal(report.violation, undefined, report.violation && `seed ${report.seed}: ${report.violation.error}\ninput ${report.violation.inputHex}`);
  assert.ok(report.iterations > 1000, `only ${report.iterations} inputs in 2.5 s`);
  assert.ok(report.refused > 0 && report.decoded > 0);
});
