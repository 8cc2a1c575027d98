import { test } from "node:test";
import assert from "node:assert/strict";
import { CkksContext } from "../../src/privacy/he.js";

test("CKKS: clients encrypt weighted updates, the parameters-only server context sums them and cannot decrypt", { timeout: 60_000 }, async () => {
  const keys = await CkksContext.generate();
  assert.equal(keys.server.secret_key, undefined, "the server context has no secret key");
  assert.ok(!JSON.stringify(keys.server).includes(keys.client.secret_key ?? "-"));
  const client = await CkksContext.load(keys.client);
  const server = await CkksContext.load(keys.server);
  assert.equal(client.canDecrypt, true);
  assert.equal(server.canDecrypt, false);
  const n = 10_000; // 3 ciphertexts of 4096 slots
  const a = Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 0.1);
  const b = Float64Array.from({ length: n }, (_, i) => Math.cos(i) * 0.1);
  const wa = 300;
  const wb = 100;
  const ea = client.encrypt(a.map((x) => x * wa));
  const eb = client.encrypt(b.map((x) => x * wb));
  assert.equal(ea.length, 3);
  const sum = server.add([ea, eb]);
  assert.throws(() => server.decrypt(sum, n), /no secret key: it cannot decrypt/);
  assert.throws(() => server.encrypt(a), /no secret key/);
  const mean = client.decrypt(sum, n).map((x) => x / (wa + wb));
  let maxErr = 0;
  for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs((mean[i] as number) - ((a[i] as number) * wa + (b[i] as number) * wb) / (wa + wb)));
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
  const bytesPerParam = ea.reduce((s, c) => s + c.byteLength, 0) / n;
  assert.ok(bytesPerParam < 4 * 64, `ciphertext bytes per parameter ${bytesPerParam.toFixed(1)}`);
});

import { FLModel } from "../../src/wire/index.js";
import { HEAggregator, HEModelDecryptor, HEModelEncryptor, heEncryptorArgs } from "../../src/privacy/he-filters.js";
import { unpackLayer, isPackedLayer } from "../../src/privacy/he-frame.js";
import type { FilterContext } from "../../src/privacy/index.js";

test("HE FedAvg round: sites encrypt weighted layers (packed into one vector), the server aggregates without a key, sites decrypt the weighted mean", {
  timeout: 60_000,
}, async () => {
  const keys = await CkksContext.generate();
  const fctx = (site: string, withKey = true): FilterContext => ({
    site,
    jobId: "j",
    taskName: "train",
    direction: "out",
    charge: async () => undefined,
    log: () => undefined,
    ...(withKey ? { ckks: keys.client } : {}),
  });
  const enc = new HEModelEncryptor(heEncryptorArgs.parse({ encrypt_layers: "^w" }));
  const layer = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));
  const upd = [
    { site: "site-1", w: layer(5000, (i) => Math.sin(i)), w2: layer(10, (i) => i), b: new Float32Array([1, 2]), steps: 300 },
    { site: "site-2", w: layer(5000, (i) => Math.cos(i)), w2: layer(10, (i) => -i), b: new Float32Array([3, 4]), steps: 100 },
  ];
  const agg = new HEAggregator();
  agg.reset();
  for (const u of upd) {
    const out = await enc.filter(
      new FLModel({ params: { w: u.w, w2: u.w2, b: u.b }, paramsType: "FULL", meta: { NUM_STEPS_CURRENT_ROUND: u.steps } }),
      fctx(u.site),
    );
    const packed = Object.keys(out.params).filter((k) => isPackedLayer(out.params[k]));
    assert.deepEqual(packed, ['he_packed:[["w",5000],["w2",10]]'], "w and w2 are encrypted together");
    assert.equal(unpackLayer(out.params[packed[0] as string] as Uint8Array).cts.length, 2, "5010 values: two ciphertexts, not three");
    assert.ok(!("w" in out.params) && !("w2" in out.params), "no plaintext left of the chosen layers");
    assert.ok(out.params["b"] instanceof Float32Array, "b (not selected) stays plaintext");
    await agg.submit({ site: u.site, params: out.params, weight: u.steps });
  }
  await assert.rejects(
    agg.submit({ site: "site-3", params: { w: new Float32Array(5000), w2: new Float32Array(10), b: new Float32Array(2) }, weight: 1 }),
    /layer names differ/,
  );
  const r = agg.result();
  assert.deepEqual(r.accepted, ["site-1", "site-2"]);
  assert.equal(r.totalWeight, 400);
  assert.ok(Math.abs((r.params["b"] as Float32Array)[0]! - 1.5) < 1e-6);
  await assert.rejects(new HEModelDecryptor().filter(new FLModel({ params: r.params }), fctx("server", false)), /has no CKKS client context/);
  const global = await new HEModelDecryptor().filter(new FLModel({ params: r.params }), fctx("site-1"));
  assert.deepEqual(Object.keys(global.params).sort(), ["b", "w", "w2"]);
  const w = global.params["w"] as Float32Array;
  let maxErr = 0;
  for (let i = 0; i < 5000; i++) maxErr = Math.max(maxErr, Math.abs(w[i]! - (Math.fround(Math.sin(i)) * 300 + Math.fround(Math.cos(i)) * 100) / 400));
  const w2 = global.params["w2"] as Float32Array;
  for (let i = 0; i < 10; i++) maxErr = Math.max(maxErr, Math.abs(w2[i]! - (i * 300 - i * 100) / 400));
  assert.ok(maxErr < 1e-5, `max error ${maxErr}`);
  // A packed entry whose layout does not add up to its length is refused, not split wrongly.
  const [name, bytes] = Object.entries(r.params).find(([, v]) => isPackedLayer(v)) as [string, Uint8Array];
  await assert.rejects(
    new HEModelDecryptor().filter(new FLModel({ params: { [name.replace("5000", "4999")]: bytes } }), fctx("site-1")),
    /layout does not match its 5010 values/,
  );
});

import { buildServerJob } from "../../src/runtime/sandbox/job-host.js";
import { componentFor } from "../../src/runtime/components/registry.js";
import "../../src/runtime/components/builtins.js";
import { isCohortError } from "../../src/errors/index.js";
import { HeErrorCode } from "../../src/privacy/index.js";

test("the server side refuses a CKKS context with a secret key; the HE aggregator refuses server-side weights", async () => {
  const keys = await CkksContext.generate();
  const io = {
    signal: new AbortController().signal,
    log: () => undefined,
    warn: () => undefined,
    sendTask: async () => new Uint8Array(),
    progress: () => undefined,
  };
  const init = {
    jobId: "j",
    jobName: "j",
    site: "server",
    sites: ["site-1"],
    appDir: "/nonexistent",
    runDir: "/nonexistent",
    role: "server" as const,
    resume: false,
    server: { components: [], workflows: [{ path: "cohort.ScatterAndGather", args: {} }], task_data_filters: [], task_result_filters: [] },
  };
  await assert.rejects(
    buildServerJob({ ...init, he: keys.client }, io),
    (e: unknown) => isCohortError(e, HeErrorCode.SecretAtServer) && !e.message.includes(keys.client.secret_key ?? "-"),
  );
  const agg = componentFor("nvflare.app_opt.he.intime_accumulate_model_aggregator.HEInTimeAccumulateWeightedAggregator");
  assert.ok(agg);
  const ctx = {} as Parameters<typeof agg.create>[1];
  assert.ok(agg.create({ expected_data_kind: "WEIGHT_DIFF", aggregation_weights: { "site-1": 1 } }, ctx) instanceof HEAggregator);
  assert.throws(() => agg.create({ aggregation_weights: { "site-1": 2 } }, ctx), /set aggregation_weights in HEModelEncryptor/);
  assert.throws(() => agg.create({ weigh_by_local_iter: true }, ctx), /weigh_by_local_iter in HEModelEncryptor/);
});
