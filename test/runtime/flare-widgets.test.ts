/**
 * FLARE's widgets: TensorBoard event files framed and checksummed as TFRecords (CRC-32C checked
 * against its published check value, frames read back), TBAnalyticsReceiver writing each site's
 * logged values, IntimeModelSelector recording the best round.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { crc32c, readTfRecords, scalarRecord } from "../../src/runtime/components/tfevents.js";
import { IntimeModelSelector, modelSelectorArgs, TBAnalyticsReceiver, tbReceiverArgs } from "../../src/runtime/components/flare-widgets.js";
import { componentFor, type JobContextBase } from "../../src/runtime/components/registry.js";
import "../../src/runtime/components/builtins.js";
import type { MetricEntry } from "../../src/runtime/components/metrics-log.js";
import { tempDir } from "../helpers/index.js";
import { testServerContext } from "../helpers/job-contexts.js";

const ctxIn = (runDir: string, logs: string[] = []): JobContextBase =>
  testServerContext({ sites: ["site-1", "site-2"], runDir, log: (l) => logs.push(l), sendTask: () => Promise.reject(new Error("no tasks")) }, logs);

test("CRC-32C has its published check value; a scalar record reads back with its tag, value and step", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  const [data] = readTfRecords(scalarRecord("weight_mean", 4.5, 2, 1700000000));
  assert.ok(data);
  const b = Buffer.from(data);
  assert.equal(b[0], 0x09, "field 1 (wall_time), fixed64");
  assert.equal(b.readDoubleLE(1), 1700000000);
  assert.deepEqual([b[9], b[10]], [0x10, 2], "field 2 (step) = 2");
  assert.ok(b.includes(Buffer.from("weight_mean")), "the tag");
  const at = b.indexOf(Buffer.from("weight_mean")) + "weight_mean".length;
  assert.equal(b[at], 0x15, "Summary.Value field 2 (simple_value), fixed32");
  assert.equal(b.readFloatLE(at + 1), 4.5);
  const bad = scalarRecord("x", 1, 0, 1);
  bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 1;
  assert.throws(() => readTfRecords(bad), /CRC mismatch/);
});

test("TBAnalyticsReceiver: one event file per site under tb_events/, each logged value a scalar; result metrics are not analytics", () => {
  const dir = tempDir();
  const tb = new TBAnalyticsReceiver(tbReceiverArgs.parse({}), ctxIn(dir));
  const entry = (site: string, key: string, value: number, step: number, source: "log" | "result"): MetricEntry => ({
    site,
    task: "train",
    round: step,
    key,
    value,
    step,
    source,
    at: new Date().toISOString(),
  });
  tb.onMetric(entry("site-1", "weight_mean", 6, 0, "log"));
  tb.onMetric(entry("site-1", "weight_mean", 7, 1, "log"));
  tb.onMetric(entry("site-2", "weight_mean", 6, 0, "log"));
  tb.onMetric(entry("site-2", "accuracy", 0.5, 0, "result"));
  assert.deepEqual(readdirSync(join(dir, "tb_events")).sort(), ["site-1", "site-2"]);
  const files = readdirSync(join(dir, "tb_events", "site-1"));
  assert.equal(files.length, 1);
  assert.match(files[0] ?? "", /^events\.out\.tfevents\.\d+\./);
  const records = readTfRecords(readFileSync(join(dir, "tb_events", "site-1", files[0] ?? "")));
  assert.equal(records.length, 3, "file version + 2 scalars");
  assert.ok(Buffer.from(records[0] ?? []).includes(Buffer.from("brain.Event:2")));
  const site2 = readTfRecords(readFileSync(join(dir, "tb_events", "site-2", readdirSync(join(dir, "tb_events", "site-2"))[0] ?? "")));
  assert.equal(site2.length, 2, "the result metric is not written");
  assert.throws(() => tbReceiverArgs.parse({ tb_folder: "../../startup" }), /must be a file or folder name, not a path/);
});

test("IntimeModelSelector: the best round by key_metric (or its negation) is recorded and logged", () => {
  const dir = tempDir();
  const logs: string[] = [];
  const s = new IntimeModelSelector(modelSelectorArgs.parse({ key_metric: "accuracy" }), ctxIn(dir, logs));
  s.onRoundMetrics(1, { accuracy: 0.5 });
  s.onRoundMetrics(2, { accuracy: 0.7 });
  s.onRoundMetrics(3, { accuracy: 0.6 });
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "models", "best_global_model.json"), "utf8")), { round: 2, accuracy: 0.7 });
  assert.equal(logs.filter((l) => l.startsWith("new best")).length, 2);
  const loss = new IntimeModelSelector(modelSelectorArgs.parse({ key_metric: "loss", negate_key_metric: true }), ctxIn(join(dir, "b")));
  loss.onRoundMetrics(1, { loss: 2 });
  loss.onRoundMetrics(2, { loss: 1 });
  loss.onRoundMetrics(3, { loss: 3 });
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "b", "models", "best_global_model.json"), "utf8")), { round: 2, loss: 1 });
});

test("ValidationJsonGenerator: FLARE's defaults are accepted; another results folder or file name is refused (the workflows write FLARE's)", () => {
  const def = componentFor("nvflare.app_common.widgets.validation_json_generator.ValidationJsonGenerator");
  assert.ok(def);
  assert.doesNotThrow(() => def.create({}, ctxIn(tempDir())));
  assert.throws(
    () => def.create({ results_dir: "elsewhere" }, ctxIn(tempDir())),
    /ValidationJsonGenerator args\.results_dir: Cohort's cross-site evaluation writes cross_site_val\//,
  );
  assert.throws(() => def.create({ json_file_name: "x.json" }, ctxIn(tempDir())), /json_file_name: .*cross_val_results\.json/);
});
