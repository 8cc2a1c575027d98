/**
 * Swarm learning (issue 7) without processes: hello-swarm in the simulator (learns; the final model
 * is at one site, the server keeps none); the server controller retries a round whose aggregator
 * fails with another site; the client controllers, wired through in-memory inboxes, leave out a
 * peer's malformed update with its reason and refuse a round without enough updates.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runSimulation } from "../../src/runtime/simulator/index.js";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { SwarmServerController, swarmServerArgs } from "../../src/runtime/components/swarm-server.js";
import { SwarmClientController, swarmClientArgs } from "../../src/runtime/components/swarm-client.js";
import { ModelPersistor, persistorArgs } from "../../src/runtime/components/persistor.js";
import type { ClientJobContext, ServerJobContext } from "../../src/runtime/components/registry.js";
import { PeerInbox } from "../../src/runtime/peer/inbox.js";
import type { SwarmRoundTask } from "../../src/runtime/components/swarm-protocol.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { testServerContext, testWire as wire } from "../helpers/job-contexts.js";

test("hello-swarm in the simulator: learns; the final model is at the last aggregator; the server keeps no model", { timeout: 120_000 }, async () => {
  const ws = tempDir("cohort-swarm-sim-");
  const r = await runSimulation({ jobDir: join(REPO_ROOT, "examples", "jobs", "hello-swarm"), sites: ["site-1", "site-2", "site-3"], workspace: ws });
  assert.equal(r.status, "FINISHED:COMPLETED", r.reason);
  assert.equal(r.rounds.length, 3);
  assert.ok((r.rounds.at(-1)?.metrics["accuracy"] ?? 0) >= 0.72, JSON.stringify(r.rounds));
  assert.ok(!existsSync(r.modelsDir) || readdirSync(r.modelsDir).length === 0, "no model at the server");
  const finals = ["site-1", "site-2", "site-3"].filter((s) => existsSync(join(ws, s, "simulate_job", "models", "final_metrics.json")));
  assert.equal(finals.length, 1, `the final model is at exactly one site (${finals.join(", ")})`);
});

function serverCtx(
  sites: string[],
  answer: (site: string, t: SwarmRoundTask) => unknown,
): { ctx: ServerJobContext; progress: { round: number; sites: readonly string[] }[]; warnings: string[]; aggregators: string[] } {
  const progress: { round: number; sites: readonly string[] }[] = [];
  const warnings: string[] = [];
  const aggregators: string[] = [];
  const ctx = testServerContext(
    {
      sites,
      async sendTask(site, _name, payload) {
        const t = decode(payload) as SwarmRoundTask;
        if (site === t.aggregator && !aggregators.includes(`${t.round}.${t.attempt}`)) aggregators.push(`${t.round}.${t.attempt}`);
        const r = answer(site, t);
        if (r instanceof Error) throw r;
        return encode(r);
      },
      progress: (round, _total, _metrics, s) => progress.push({ round, sites: s }),
    },
    warnings,
  );

  return { ctx, progress, warnings, aggregators };
}

test("server: a round whose aggregator fails is retried with another site; the next round names where the model is", async () => {
  const seen: SwarmRoundTask[] = [];
  let failedAggregator = "";
  const s = serverCtx(["site-1", "site-2", "site-3"], (site, t) => {
    seen.push(t);
    if (site !== t.aggregator) return { role: "trainer", metrics: {} };
    if (t.round === 0 && t.attempt === 0) {
      failedAggregator = site;
      return new Error(`${site}: out of memory`);
    }
    return { role: "aggregator", metrics: { accuracy: 0.5 }, contributors: ["site-1", "site-2", "site-3"] };
  });
  await new SwarmServerController(swarmServerArgs.parse({ num_rounds: 2 })).run(s.ctx);
  assert.deepEqual(
    s.progress.map((p) => p.round),
    [1, 2],
  );
  const retry = seen.find((t) => t.round === 0 && t.attempt === 1);
  assert.ok(retry && retry.aggregator !== failedAggregator, "attempt 2 of round 1 has another aggregator");
  const next = seen.find((t) => t.round === 1);
  assert.deepEqual(next?.previous, { aggregator: retry.aggregator, attempt: 1 });
  assert.match(s.warnings.join("\n"), /out of memory/);
  assert.ok(
    seen.every((t) => !("params" in (t as object))),
    "round tasks carry no model",
  );
});

test("server: a round no aggregator completes ends the job with the reason", async () => {
  const s = serverCtx(["site-1", "site-2"], (site, t) => (site === t.aggregator ? new Error("down") : { role: "trainer", metrics: {} }));
  await assert.rejects(new SwarmServerController(swarmServerArgs.parse({ num_rounds: 1 })).run(s.ctx), { code: "ERR_WORKFLOW_TOO_FEW_RESULTS" });
});

/** Three client controllers over in-memory inboxes; each site's "train" adds its number to every weight. */
function clients(sites: string[], learner: (site: string, m: FLModel) => FLModel) {
  const abort = new AbortController();
  const inboxes = new Map(sites.map((s) => [s, new PeerInbox({ site: s, peers: sites, signal: abort.signal })]));
  const ctxs = new Map<string, ClientJobContext>();
  const warnings: string[] = [];
  for (const site of sites) {
    const runDir = tempDir("cohort-swarm-site-");
    const persistor = new ModelPersistor(persistorArgs.parse({ model: { kind: "softmax" }, features: 4, classes: 2 }), runDir);
    ctxs.set(site, {
      jobId: "j",
      jobName: "swarm",
      site,
      sites,
      runDir,
      signal: abort.signal,
      wire,
      log: () => undefined,
      warn: (l) => warnings.push(`${site}: ${l}`),
      component: <T>() => persistor as T,
      peers: {
        send: async (to, topic, payload) => inboxes.get(to)?.deliver(site, topic, payload.slice()),
        receive: (from, topic, timeoutMs, signal) => (inboxes.get(site) as PeerInbox).receive(from, topic, timeoutMs, signal),
      },
      runTask: async (task, payload) =>
        task === "train" ? encode(learner(site, decode(payload) as FLModel)) : encode(new FLModel({ metrics: { accuracy: 0.9 } })),
    });
  }
  return { ctxs, warnings, stop: () => abort.abort("test over") };
}

const addSiteNumber = (site: string, m: FLModel): FLModel => {
  const n = Number(site.slice(-1));
  return new FLModel({
    params: Object.fromEntries(Object.entries(m.params as Record<string, Float32Array>).map(([k, v]) => [k, v.map((x) => x + n)])),
    paramsType: "FULL",
    meta: { NUM_STEPS_CURRENT_ROUND: 1 },
  });
};

async function round(c: ReturnType<typeof clients>, t: SwarmRoundTask, controllers: Map<string, SwarmClientController>) {
  return Promise.allSettled(
    t.participants.map(
      async (s) =>
        decode(await (controllers.get(s) as SwarmClientController).execute("swarm_learn", encode(t), c.ctxs.get(s) as ClientJobContext)) as {
          role: string;
          contributors?: string[];
          rejected?: { site: string; reason: string }[];
        },
    ),
  );
}

test("clients: updates go to the aggregator, the new model to every site; a site whose training fails tells the aggregator at once and is left out with its reason", async () => {
  const sites = ["site-1", "site-2", "site-3"];
  const c = clients(sites, (site, m) =>
    site === "site-3" ? new FLModel({ params: { "dense1.weight": new Float32Array(3) }, paramsType: "FULL" }) : addSiteNumber(site, m),
  );
  const controllers = new Map(sites.map((s) => [s, new SwarmClientController(swarmClientArgs.parse({ min_responses_required: 2, peer_timeout: 5 }))]));
  try {
    const r0 = await round(c, { swarm: 1, round: 0, total_rounds: 2, attempt: 0, aggregator: "site-2", trainers: sites, participants: sites }, controllers);
    const agg = r0[1];
    assert.equal(agg?.status, "fulfilled", String(agg?.status === "rejected" ? agg.reason : ""));
    assert.deepEqual(agg.status === "fulfilled" ? agg.value.contributors : [], ["site-1", "site-2"]);
    assert.match(JSON.stringify(agg.status === "fulfilled" ? agg.value.rejected : []), /site-3 could not train: .*dense1\.weight.* is 3 values, expected 8/);
    // Round 2 starts from round 1's model, received from site-2: bias = mean(1, 2) = 1.5 before training.
    const seenBias: number[] = [];
    const c2 = c.ctxs.get("site-1") as ClientJobContext & { runTask: ClientJobContext["runTask"] };
    const original = c2.runTask;
    c.ctxs.set("site-1", {
      ...c2,
      runTask: async (task, payload) => {
        if (task === "train") seenBias.push(((decode(payload) as FLModel).params["dense1.bias"] as Float32Array)[0] as number);
        return original(task, payload);
      },
    });
    const r1 = await round(
      c,
      {
        swarm: 1,
        round: 1,
        total_rounds: 2,
        attempt: 0,
        aggregator: "site-1",
        trainers: ["site-1", "site-2"],
        participants: sites,
        previous: { aggregator: "site-2", attempt: 0 },
      },
      controllers,
    );
    assert.ok(
      r1.every((x) => x.status === "fulfilled"),
      JSON.stringify(r1),
    );
    assert.deepEqual(seenBias, [1.5]);
  } finally {
    c.stop();
  }
});

test("clients: an aggregator without enough usable updates fails the round with each reason", async () => {
  const sites = ["site-1", "site-2"];
  const c = clients(sites, (site, m) =>
    site === "site-2"
      ? new FLModel({ params: { "dense1.weight": new Float32Array(8).fill(NaN), "dense1.bias": new Float32Array(2) }, paramsType: "FULL" })
      : addSiteNumber(site, m),
  );
  const controllers = new Map(sites.map((s) => [s, new SwarmClientController(swarmClientArgs.parse({ peer_timeout: 5 }))]));
  try {
    const r = await round(c, { swarm: 1, round: 0, total_rounds: 1, attempt: 0, aggregator: "site-1", trainers: sites, participants: sites }, controllers);
    assert.equal(r[0]?.status, "rejected");
    assert.match(String(r[0]?.status === "rejected" ? (r[0].reason as Error).message : ""), /1 of 2 updates usable for round 1, 2 required \(site-2: /);
  } finally {
    c.stop();
  }
});

test("server and aggregator: a trainer whose round task fails is reported to the aggregator, which stops waiting for it", { timeout: 120_000 }, async () => {
  const sites = ["site-1", "site-2", "site-3"];
  const c = clients(sites, addSiteNumber);
  // peer_timeout far beyond the test's timeout: finishing at all shows the aggregator stopped waiting.
  const controllers = new Map(sites.map((s) => [s, new SwarmClientController(swarmClientArgs.parse({ peer_timeout: 3600 }))]));
  // The server side, with sendTask wired to the client controllers; site-3 is unreachable. The
  // default min_responses_required (every trainer still in the round) does not count site-3.
  const s = serverCtx(sites, () => undefined);
  const notices: string[] = [];
  s.ctx.sendTask = async (site, name, payload) => {
    const body = decode(payload) as { notice?: { site: string } };
    if (body.notice) notices.push(`${site} told ${body.notice.site} failed`);
    if (site === "site-3") throw new Error("site-3: connection lost");
    return (controllers.get(site) as SwarmClientController).execute(name, payload, c.ctxs.get(site) as ClientJobContext);
  };
  try {
    const rounds: { round: number; sites: readonly string[] }[] = [];
    s.ctx.progress = (round, _t, _m, contributors) => rounds.push({ round, sites: contributors });
    // Aggregator always site-1 or site-2 (site-3 cannot aggregate here).
    await new SwarmServerController(swarmServerArgs.parse({ num_rounds: 1, aggr_clients: ["site-1", "site-2"] })).run(s.ctx);
    assert.deepEqual(rounds, [{ round: 1, sites: ["site-1", "site-2"] }]);
    assert.equal(notices.length, 1, notices.join("; "));
    assert.match(notices[0] ?? "", /told site-3 failed/);
    assert.match(s.warnings.join("\n"), /site-3 failed: site-3: connection lost/);
  } finally {
    c.stop();
  }
});

test("a site's privacy filters apply to the update it sends (ctx.runTask), and do not refuse the swarm's control task", { timeout: 60_000 }, async () => {
  const { buildSiteJob } = await import("../../src/runtime/sandbox/job-host.js");
  const { loadJobFolder } = await import("../../src/runtime/jobs/definition.js");
  const { initParams } = await import("../../src/runtime/learn/models.js");
  const jobDir = join(REPO_ROOT, "examples", "jobs", "hello-swarm");
  const client = loadJobFolder(jobDir).apps.get("app")?.client;
  assert.ok(client);
  const abort = new AbortController();
  const host = await buildSiteJob(
    {
      jobId: "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69",
      jobName: "hello-swarm",
      site: "site-1",
      sites: ["site-1", "site-2"],
      appDir: join(jobDir, "app"),
      runDir: tempDir("cohort-swarm-filters-"),
      role: "client",
      resume: false,
      client,
      privacy: { scope: "private", task_data_filters: [], task_result_filters: [{ name: "ExcludeVars", args: { exclude_vars: ["dense1.bias"] } }] },
    },
    { signal: abort.signal, log: () => undefined, warn: () => undefined },
  );
  try {
    const notice = encode({ swarm: 1, notice: { round: 0, attempt: 0, site: "site-2", reason: "test" } });
    assert.deepEqual(
      decode(
        await (host.executorFor("swarm_learn") as { execute: (t: string, p: Uint8Array, c: ClientJobContext) => Promise<Uint8Array> }).execute(
          "swarm_learn",
          notice,
          host.ctx,
        ),
      ),
      { ok: true },
    );
    const model = new FLModel({ params: initParams({ kind: "softmax" }, 784, 10, 1), paramsType: "FULL", currentRound: 0, totalRounds: 1 });
    const update = decode(await host.ctx.runTask("train", encode(model))) as FLModel;
    assert.ok("dense1.weight" in update.params, "the update has the weights");
    assert.ok(!("dense1.bias" in update.params), "the site's ExcludeVars ran on the update before it could leave");
  } finally {
    abort.abort("test over");
  }
});

test("clients: after a retried round, the first attempt's aggregator trains from the model the server accepted, not its own", { timeout: 30_000 }, async () => {
  const sites = ["site-1", "site-2", "site-3"];
  const calls = new Map<string, number>();
  // Each call adds the site's number plus 100 per earlier call: attempt 2 differs from attempt 1.
  const c = clients(sites, (site, m) => {
    const k = calls.get(site) ?? 0;
    calls.set(site, k + 1);
    const n = Number(site.slice(-1)) + 100 * k;
    return new FLModel({
      params: Object.fromEntries(Object.entries(m.params as Record<string, Float32Array>).map(([name, v]) => [name, v.map((x) => x + n)])),
      paramsType: "FULL",
      meta: { NUM_STEPS_CURRENT_ROUND: 1 },
    });
  });
  const controllers = new Map(sites.map((s) => [s, new SwarmClientController(swarmClientArgs.parse({ peer_timeout: 5 }))]));
  try {
    const base = { swarm: 1 as const, total_rounds: 2, trainers: sites, participants: sites };
    // Attempt 1 of round 1 completes at site-1, but (say) its answer never reached the server: retried at site-2.
    assert.ok((await round(c, { ...base, round: 0, attempt: 0, aggregator: "site-1" }, controllers)).every((x) => x.status === "fulfilled"));
    assert.ok((await round(c, { ...base, round: 0, attempt: 1, aggregator: "site-2" }, controllers)).every((x) => x.status === "fulfilled"));
    const seen: number[] = [];
    const ctx1 = c.ctxs.get("site-1") as ClientJobContext;
    c.ctxs.set("site-1", {
      ...ctx1,
      runTask: async (task, payload) => {
        if (task === "train") seen.push(((decode(payload) as FLModel).params["dense1.bias"] as Float32Array)[0] as number);
        return ctx1.runTask(task, payload);
      },
    });
    const r1 = await round(c, { ...base, round: 1, attempt: 0, aggregator: "site-3", previous: { aggregator: "site-2", attempt: 1 } }, controllers);
    assert.ok(
      r1.every((x) => x.status === "fulfilled"),
      JSON.stringify(r1),
    );
    // Attempt 2's model: the mean of 101, 102, 103 = 102 (attempt 1's, kept by site-1, was 2).
    assert.deepEqual(seen, [102]);
  } finally {
    c.stop();
  }
});

test("inbox: per-sender quotas keep one peer from filling it; discard drops what is no longer needed; a message already here is taken even after giving up", async () => {
  const abort = new AbortController();
  const inbox = new PeerInbox({ site: "site-1", peers: ["site-1", "site-2", "site-3"], signal: abort.signal, maxMessages: 32, maxBytes: 1024 });
  for (let i = 0; i < 16; i++) inbox.deliver("site-2", `junk.${i}`, new Uint8Array(1));
  assert.throws(() => inbox.deliver("site-2", "junk.x", new Uint8Array(1)), { code: "ERR_PEER_INBOX_FULL" });
  inbox.deliver("site-3", "swarm.update.0.0", new Uint8Array(8)); // the other peer still gets in
  assert.throws(() => inbox.deliver("site-3", "big", new Uint8Array(600)), { code: "ERR_PEER_INBOX_FULL" }, "over its share of the bytes");
  assert.equal(
    inbox.discard((from, topic) => from === "site-2" && topic.startsWith("junk.")),
    16,
  );
  inbox.deliver("site-2", "swarm.update.1.0", new Uint8Array(1));
  const gaveUp = new AbortController();
  gaveUp.abort(new Error("site-3 failed"));
  assert.equal((await inbox.receive("site-3", "swarm.update.0.0", 1000, gaveUp.signal)).byteLength, 8);
  await assert.rejects(inbox.receive("site-3", "swarm.update.0.0", 1000, gaveUp.signal), /site-3 failed/);
  abort.abort("done");
});
