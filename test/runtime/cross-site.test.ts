/**
 * Cross-site evaluation against scripted sites: every site's submitted model and the server's
 * global model are evaluated at every site; failures become cells with the reason; the matrix is
 * saved in FLARE's layout. Also the built-in trainer's submit_model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { CrossSiteModelEval, crossSiteArgs } from "../../src/runtime/components/cross-site-eval.js";
import { CrossSiteFashionMnistTrainer } from "../../src/runtime/components/cross-site-trainer.js";
import { trainerArgs } from "../../src/runtime/components/trainer.js";
import { initParams } from "../../src/runtime/learn/models.js";
import type { ClientJobContext } from "../../src/runtime/components/registry.js";
import { tempDir } from "../helpers/index.js";
import { testServerContext, testWire as wire } from "../helpers/job-contexts.js";

test("every site evaluates every site's model and the global one; the matrix is saved", async () => {
  const runDir = tempDir("cohort-xsite-");
  mkdirSync(join(runDir, "models"));
  writeFileSync(join(runDir, "models", "global_model.cohort"), encode(new FLModel({ params: { w: new Float32Array([100]) }, paramsType: "FULL", meta: {} })));
  const warnings: string[] = [];
  const ctx = testServerContext(
    {
      sites: ["site-2", "site-1", "site-3"],
      runDir,
      async sendTask(site, taskName, payload) {
        const n = Number(site.slice(-1));
        if (taskName === "submit_model") {
          if (site === "site-3") throw new Error("site-3: no model");
          return encode(new FLModel({ params: { w: new Float32Array([n]) }, paramsType: "FULL" }));
        }
        const m = decode(payload) as FLModel;
        const w = (m.params["w"] as Float32Array)[0] as number;
        if (site === "site-2" && w === 1) throw new Error("site-2: evaluation crashed");
        return encode(new FLModel({ metrics: { accuracy: w / 1000 + n / 10 }, meta: {} }));
      },
    },
    warnings,
  );
  await new CrossSiteModelEval(crossSiteArgs.parse({})).run(ctx);
  const matrix = JSON.parse(readFileSync(join(runDir, "cross_site_val", "cross_val_results.json"), "utf8")) as Record<
    string,
    Record<string, Record<string, unknown>>
  >;
  assert.deepEqual(Object.keys(matrix), ["site-1", "site-2", "site-3"]);
  for (const row of Object.values(matrix)) assert.deepEqual(Object.keys(row).sort(), ["SRV_global_model", "site-1", "site-2"]);
  assert.deepEqual(matrix["site-1"]?.["site-2"], { accuracy: 0.002 + 0.1 });
  assert.deepEqual(matrix["site-3"]?.["SRV_global_model"], { accuracy: 0.1 + 0.3 });
  assert.match(String(matrix["site-2"]?.["site-1"]?.["error"]), /evaluation crashed/);
  assert.match(warnings.join("\n"), /site-3 did not submit its model: site-3: no model/);
});

test("the cross-site trainer submits its last locally trained model", { timeout: 60_000 }, async () => {
  const ctx: ClientJobContext = {
    jobId: "j",
    jobName: "x",
    site: "site-1",
    sites: ["site-1", "site-2"],
    runDir: tempDir("cohort-xsite-"),
    signal: new AbortController().signal,
    peers: { send: () => Promise.reject(new Error("no peers in this test")), receive: () => Promise.reject(new Error("no peers in this test")) },
    runTask: () => Promise.reject(new Error("no local tasks in this test")),
    wire,
    log: () => undefined,
    warn: () => undefined,
    component: () => {
      throw new Error("none");
    },
  };
  const t = new CrossSiteFashionMnistTrainer(trainerArgs.parse({ model: { kind: "softmax" }, max_train_samples: 300 }));
  await assert.rejects(t.execute("submit_model", encode(new FLModel({})), ctx), /ERR_TRAINER_NO_MODEL|no locally trained model/);
  const params = initParams({ kind: "softmax" }, 784, 10, 1);
  const trained = decode(await t.execute("train", encode(new FLModel({ params, paramsType: "FULL", currentRound: 0, meta: {} })), ctx)) as FLModel;
  const submitted = decode(await t.execute("submit_model", encode(new FLModel({})), ctx)) as FLModel;
  assert.deepEqual(submitted.params["dense1.bias"], trained.params["dense1.bias"]);
  assert.equal(submitted.meta["model_owner"], "site-1");
});
