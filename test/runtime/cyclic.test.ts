/**
 * The cyclic workflow against scripted sites: the model goes site to site in order, each round is
 * persisted, a failing site is skipped with a reason, random order, early termination, resume.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decode, DXO, encode, FLModel, Shareable, Tensor } from "../../src/wire/index.js";
import { CyclicController, cyclicArgs } from "../../src/runtime/components/cyclic-controller.js";
import { ModelPersistor, persistorArgs } from "../../src/runtime/components/persistor.js";
import type { ServerJobContext } from "../../src/runtime/components/registry.js";
import { tempDir } from "../helpers/index.js";

type Answer = (site: string, task: string, model: FLModel) => FLModel | Error;

function server(
  sites: string[],
  answer: Answer,
  resume = false,
): { ctx: ServerJobContext; calls: string[]; progress: { round: number; metrics: Record<string, number>; sites: readonly string[] }[]; warnings: string[] } {
  const runDir = tempDir("cohort-cyclic-");
  const persistor = new ModelPersistor(persistorArgs.parse({ model: { kind: "softmax" }, features: 4, classes: 2 }), runDir);
  const calls: string[] = [];
  const progress: { round: number; metrics: Record<string, number>; sites: readonly string[] }[] = [];
  const warnings: string[] = [];
  const ctx: ServerJobContext = {
    jobId: "j",
    jobName: "cyclic",
    site: "server",
    sites,
    runDir,
    resume,
    signal: new AbortController().signal,
    wire: { encode, decode, FLModel, DXO, Tensor, Shareable },
    log: () => undefined,
    warn: (l) => warnings.push(l),
    component: <T>() => persistor as T,
    async sendTask(site, taskName, payload) {
      calls.push(`${site}:${taskName}`);
      const m = decode(payload) as FLModel;
      const r = answer(site, taskName, m);
      if (r instanceof Error) throw r;
      return encode(r);
    },
    progress: (round, _total, metrics, s) => progress.push({ round, metrics, sites: s }),
  };
  return { ctx, calls, progress, warnings };
}

/** Each site adds its number to every weight, so the final model tells who trained, in order. */
const addSiteNumber: Answer = (site, task, m) => {
  if (task !== "train") return new FLModel({ metrics: { accuracy: 0.8 }, meta: { eval_samples: 1 } });
  const n = Number(site.slice(-1));
  const params = Object.fromEntries(Object.entries(m.params as Record<string, Float32Array>).map(([k, v]) => [k, v.map((x) => x + n)]));
  return new FLModel({ params, paramsType: "FULL", metrics: { accuracy: n / 10 }, meta: { eval_samples: 1 } });
};

test("fixed order: each round passes the model through every site; persisted every round; final validation", async () => {
  const s = server(["site-2", "site-1", "site-3"], addSiteNumber);
  await new CyclicController(cyclicArgs.parse({ num_rounds: 2 })).run(s.ctx);
  assert.deepEqual(s.calls.slice(0, 6), ["site-1:train", "site-2:train", "site-3:train", "site-1:train", "site-2:train", "site-3:train"]);
  assert.deepEqual(s.calls.slice(6).sort(), ["site-1:validate", "site-2:validate", "site-3:validate"], "the final model is validated at every site at once");
  const final = decode(readFileSync(join(s.ctx.runDir, "models", "global_model.cohort"))) as FLModel;
  const bias = final.params["dense1.bias"] as Float32Array;
  assert.deepEqual([...bias], [12, 12], "2 rounds × (1 + 2 + 3)");
  assert.ok(existsSync(join(s.ctx.runDir, "models", "checkpoint.json")));
  assert.deepEqual(
    s.progress.map((p) => p.round),
    [1, 2, 2],
  );
  assert.ok(Math.abs((s.progress.at(-1)?.metrics["accuracy"] ?? 0) - 0.8) < 1e-9);
});

test("a failing site is skipped with its reason and the model goes on", async () => {
  const s = server(["site-1", "site-2", "site-3"], (site, task, m) =>
    site === "site-2" && task === "train" ? new Error("site-2: out of memory") : addSiteNumber(site, task, m),
  );
  await new CyclicController(cyclicArgs.parse({ num_rounds: 1 })).run(s.ctx);
  const final = decode(readFileSync(join(s.ctx.runDir, "models", "global_model.cohort"))) as FLModel;
  assert.deepEqual([...(final.params["dense1.bias"] as Float32Array)], [4, 4]);
  assert.match(s.warnings.join("\n"), /site-2 skipped: site-2: out of memory/);
  assert.deepEqual(s.progress[0]?.sites, ["site-1", "site-3"]);
});

test("a result of the wrong shape or with NaN is skipped too; a round where every site fails ends the job", async () => {
  const bad = server(["site-1", "site-2"], (site, task, m) => {
    if (task !== "train") return addSiteNumber(site, task, m);
    if (site === "site-1") return new FLModel({ params: { "dense1.weight": new Float32Array(3), "dense1.bias": new Float32Array(2) }, paramsType: "FULL" });
    return new FLModel({ params: { "dense1.weight": new Float32Array(8).fill(NaN), "dense1.bias": new Float32Array(2) }, paramsType: "FULL" });
  });
  await assert.rejects(new CyclicController(cyclicArgs.parse({ num_rounds: 1 })).run(bad.ctx), /ERR_WORKFLOW_TOO_FEW_RESULTS|no site returned a model/);
  assert.match(bad.warnings.join("\n"), /site-1 skipped: .*3 values, expected 8/);
  assert.match(bad.warnings.join("\n"), /site-2 skipped: .*not finite/);
});

test("random order visits every site each round; DIFF results add to the model; early termination", async () => {
  const orders: string[][] = [];
  const s = server(["site-1", "site-2", "site-3", "site-4"], (site, task, m) => {
    if (task !== "train") return addSiteNumber(site, task, m);
    if ((m.meta["cyclic_position"] as number) === 0) orders.push([]);
    orders.at(-1)?.push(site);
    const diff = Object.fromEntries(Object.entries(m.params as Record<string, Float32Array>).map(([k, v]) => [k, new Float32Array(v.length).fill(1)]));
    return new FLModel({ params: diff, paramsType: "DIFF" });
  });
  await new CyclicController(cyclicArgs.parse({ num_rounds: 6, order: "random" })).run(s.ctx);
  assert.equal(orders.length, 6);
  for (const o of orders) assert.deepEqual([...o].sort(), ["site-1", "site-2", "site-3", "site-4"]);
  assert.ok(new Set(orders.map((o) => o.join())).size > 1, "orders differ between rounds");
  const final = decode(readFileSync(join(s.ctx.runDir, "models", "global_model.cohort"))) as FLModel;
  assert.deepEqual([...(final.params["dense1.bias"] as Float32Array)], [24, 24]);

  const early = server(["site-1", "site-2"], (site, task, m) => {
    const r = addSiteNumber(site, task, m);
    if (r instanceof Error) return r;
    return task === "train" && site === "site-1" && m.currentRound === 1
      ? new FLModel({ params: r.params, paramsType: "FULL", meta: { early_termination: true } })
      : r;
  });
  await new CyclicController(cyclicArgs.parse({ num_rounds: 5, allow_early_termination: true })).run(early.ctx);
  assert.equal(early.calls.filter((c) => c.endsWith(":train")).length, 3, "round 1 (2 sites) + site-1 of round 2");
});
