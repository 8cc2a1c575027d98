/**
 * ccwf cross-site evaluation (FLARE's CrossSiteEvalServer/ClientController): hello-swarm-cse in the
 * simulator (the final model and every site's own model evaluated everywhere, the server keeps no
 * model); then the server and client controllers wired through in-memory inboxes: a model that
 * cannot be had is reported at once to the evaluators waiting for it, a wrongly shaped model is
 * refused with the parameter named, a server cannot make a site send its model outside the job's
 * evaluators, and configurations naming sites outside the job are refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runSimulation } from "../../src/runtime/simulator/index.js";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { CrossSiteEvalServerController, cseServerArgs } from "../../src/runtime/components/cse-server.js";
import { CrossSiteEvalClientController, cseClientArgs } from "../../src/runtime/components/cse-client.js";
import { ModelPersistor, persistorArgs } from "../../src/runtime/components/persistor.js";
import type { CrossSiteMatrix } from "../../src/runtime/components/cross-site-eval.js";
import type { ClientJobContext } from "../../src/runtime/components/registry.js";
import { PeerInbox } from "../../src/runtime/peer/inbox.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { testServerContext, testSiteContext } from "../helpers/job-contexts.js";
import { assertSwarmCseMatrix } from "../helpers/swarm-cse.js";

test("hello-swarm-cse in the simulator: every site evaluates the final model and every site's own; the server keeps no model", {
  timeout: 120_000,
}, async () => {
  const ws = tempDir("cohort-swarm-cse-");
  const sites = ["site-1", "site-2", "site-3"];
  const r = await runSimulation({ jobDir: join(REPO_ROOT, "examples", "jobs", "hello-swarm-cse"), sites, workspace: ws });
  assert.equal(r.status, "FINISHED:COMPLETED", r.reason);
  assert.ok(!existsSync(r.modelsDir) || readdirSync(r.modelsDir).length === 0, "no model at the server");
  // The global model evaluated where it is gives the last round's figure: it is the model the swarm made.
  const finalAt = sites.find((s) => existsSync(join(ws, s, "simulate_job", "models", "final_metrics.json")));
  assert.ok(finalAt);
  assertSwarmCseMatrix(join(r.modelsDir, ".."), sites, finalAt, r.rounds.at(-1)?.metrics["accuracy"]);
});

const MODEL = { model: { kind: "softmax" }, features: 4, classes: 2, seed: 1 };

/** Sites with real persistors (site-1 holds a final global model) and inboxes, their controllers, and the server's context calling them. */
function federation(
  sites: string[],
  o: { submitModel?: (site: string) => FLModel; getModelTimeout?: number } = {},
): { run(args: Record<string, unknown>): Promise<CrossSiteMatrix>; ctxs: Map<string, ClientJobContext>; warnings: string[]; stop(): void } {
  const abort = new AbortController();
  const inboxes = new Map(sites.map((s) => [s, new PeerInbox({ site: s, peers: sites, signal: abort.signal })]));
  const ctxs = new Map<string, ClientJobContext>();
  const controllers = new Map<string, CrossSiteEvalClientController>();
  for (const site of sites) {
    const runDir = tempDir("cohort-cse-site-");
    const persistor = new ModelPersistor(persistorArgs.parse(MODEL), runDir);
    const initial = persistor.load(false).params;
    if (site === "site-1") persistor.finish(initial, { accuracy: 0.5 });
    ctxs.set(
      site,
      testSiteContext({
        runDir,
        site,
        sites,
        signal: abort.signal,
        component: <T>() => persistor as T,
        peers: {
          send: async (to, topic, payload) => (inboxes.get(to) as PeerInbox).deliver(site, topic, payload.slice()),
          receive: (from, topic, timeoutMs, signal) => (inboxes.get(site) as PeerInbox).receive(from, topic, timeoutMs, signal),
        },
        runTask: async (task, payload) => {
          if (task === "submit_model") return encode(o.submitModel?.(site) ?? new FLModel({ params: initial, paramsType: "FULL" }));
          const m = decode(payload) as FLModel;
          // "Accuracy" tells which model was evaluated: the first weight of the owner's model.
          return encode(new FLModel({ params: {}, metrics: { accuracy: Object.values(m.params as Record<string, Float32Array>)[0]?.[0] ?? -1 } }));
        },
      }),
    );
    controllers.set(site, new CrossSiteEvalClientController(cseClientArgs.parse({ get_model_timeout: o.getModelTimeout ?? 30 })));
  }
  const warnings: string[] = [];
  return {
    ctxs,
    warnings,
    stop: () => abort.abort("test over"),
    async run(args) {
      const ctx = testServerContext(
        {
          sites,
          sendTask: (site, name, payload) =>
            (controllers.get(site) as CrossSiteEvalClientController).execute(name, payload, ctxs.get(site) as ClientJobContext),
        },
        warnings,
      );
      await new CrossSiteEvalServerController(cseServerArgs.parse(args)).run(ctx);
      return JSON.parse(readFileSync(join(ctx.runDir, "cross_site_val", "cross_val_results.json"), "utf8")) as CrossSiteMatrix;
    },
  };
}

const ownModel = (site: string): FLModel =>
  new FLModel({ params: { "dense1.weight": new Float32Array(8).fill(Number(site.slice(-1))), "dense1.bias": new Float32Array(2) }, paramsType: "FULL" });

test("controllers: the global model comes from the site that holds it, each local model from its owner, to every evaluator", async () => {
  const f = federation(["site-1", "site-2", "site-3"], { submitModel: ownModel });
  try {
    const m = await f.run({});
    for (const s of ["site-1", "site-2", "site-3"]) {
      assert.deepEqual(Object.keys(m[s] ?? {}), ["GLOBAL_global_model", "site-1", "site-2", "site-3"]);
      for (const owner of ["site-1", "site-2", "site-3"])
        assert.deepEqual(m[s]?.[owner], { accuracy: Number(owner.slice(-1)) }, `${s} evaluated ${owner}'s model`);
    }
    // Only evaluatees' models and only the named global model client's global models.
    const only = await f.run({ evaluators: ["site-2"], evaluatees: ["site-3"], global_model_client: "site-2" });
    assert.deepEqual(Object.keys(only), ["site-2"]);
    assert.deepEqual(Object.keys(only["site-2"] ?? {}), ["site-3"]);
    assert.match(f.warnings.join("\n"), /site-2 has no global models to evaluate/);
  } finally {
    f.stop();
  }
});

test("controllers: a model its owner cannot give is reported to the evaluators at once; the others are evaluated", { timeout: 30_000 }, async () => {
  const f = federation(["site-1", "site-2", "site-3"], {
    submitModel: (site) => {
      if (site === "site-3") throw new Error("site-3 has no locally trained model to submit yet");
      return ownModel(site);
    },
    getModelTimeout: 600,
  });
  try {
    const started = Date.now();
    const m = await f.run({ eval_task_timeout: 600 });
    assert.ok(Date.now() - started < 10_000, "nobody waited out get_model_timeout");
    for (const s of ["site-1", "site-2"]) {
      assert.match(JSON.stringify(m[s]?.["site-3"]), /site-3 did not share it: .*no locally trained model/);
      assert.deepEqual(m[s]?.["site-2"], { accuracy: 2 });
    }
    assert.match(JSON.stringify(m["site-3"]?.["site-3"]), /no locally trained model/);
  } finally {
    f.stop();
  }
});

test("controllers: an evaluator refuses a model not shaped as its own, naming the parameter", async () => {
  const f = federation(["site-1", "site-2"], {
    submitModel: (site) =>
      site === "site-2"
        ? new FLModel({ params: { "dense1.weight": new Float32Array(3), "dense1.bias": new Float32Array(2) }, paramsType: "FULL" })
        : ownModel(site),
  });
  try {
    const m = await f.run({});
    assert.match(JSON.stringify(m["site-1"]?.["site-2"]), /site-2 from site-2: parameter \\"dense1\.weight\\" is 3 values, this site's model has 8/);
    assert.deepEqual(m["site-2"]?.["site-1"], { accuracy: 1 });
  } finally {
    f.stop();
  }
});

test("controllers: a server cannot make a site send its model outside the job's evaluators", async () => {
  const f = federation(["site-1", "site-2", "site-3"], { submitModel: ownModel });
  const c = new CrossSiteEvalClientController(cseClientArgs.parse({}));
  const ctx = f.ctxs.get("site-2") as ClientJobContext;
  try {
    await c.execute("cse_config", encode({ cse: 1, config: { evaluators: ["site-1", "site-2"], evaluatees: ["site-2"], global_model_client: "" } }), ctx);
    const share = (to: string[]) =>
      c.execute("cse_share_model", encode({ cse: 1, share: { round: 0, model_type: "local", model_name: "best_model", model_owner: "site-2", to } }), ctx);
    await assert.rejects(share(["site-1", "site-9"]), /only to the job's other evaluating sites, not to site-9/);
    await assert.rejects(share(["site-3"]), /not to site-3/);
    await assert.rejects(share(["site-2"]), /not to site-2/);
    await assert.rejects(c.execute("cse_eval", encode({ cse: 1, evaluate: { round: 0, model_name: "x" } }), ctx), /not a cross-site evaluation task/);
    const sent = decode(await share(["site-1"])) as { shared: { sent: string[] } };
    assert.deepEqual(sent.shared.sent, ["site-1"]);
  } finally {
    f.stop();
  }
});

test("server: sites outside the job are refused before any model moves", async () => {
  const f = federation(["site-1", "site-2"]);
  try {
    await assert.rejects(f.run({ evaluators: ["site-1", "site-7"] }), /args\.evaluators: site-7 not among site-1, site-2/);
    await assert.rejects(f.run({ global_model_client: "site-7" }), /global_model_client: site-7 is not among/);
    await assert.rejects(f.run({ participating_clients: ["site-1", "site-0"] }), /participating_clients: site-0 not among site-1, site-2/);
  } finally {
    f.stop();
  }
});
