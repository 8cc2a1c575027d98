import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isCohortError } from "../../src/errors/index.js";
import { decode, encode, FLModel } from "../../src/wire/index.js";
import { CkksContext } from "../../src/privacy/he.js";
import { HEModelDecryptor, HEModelEncryptor, heEncryptorArgs } from "../../src/privacy/he-filters.js";
import { isPackedLayer, unpackLayer } from "../../src/privacy/he-frame.js";
import { currentHeWorker } from "../../src/privacy/he-worker.js";
import { isHeFilterPath, publicContext, startHeFilterWorker, type FilterContext } from "../../src/privacy/index.js";

const keys = await CkksContext.generate();
const site = { site: "site-1", jobId: "job-1", taskName: "train" };
const ENCRYPTOR = { path: "nvflare.app_opt.he.model_encryptor.HEModelEncryptor", args: { encrypt_layers: "^w" } };
const DECRYPTOR = { path: "nvflare.app_opt.he.model_decryptor.HEModelDecryptor", args: {} };
const fctx = (direction: "in" | "out"): FilterContext => ({ ...site, direction, charge: async () => undefined, log: () => undefined, ckks: keys.client });
const layer = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));
const small = (): FLModel =>
  new FLModel({
    params: { w: layer(5000, (i) => 0.05 * Math.sin(i)), w2: layer(10, (i) => i / 10), b: new Float32Array([1, 2]) },
    paramsType: "FULL",
    meta: { NUM_STEPS_CURRENT_ROUND: 300, note: "x" },
    currentRound: 2,
    totalRounds: 5,
  });
const big = (n = 1_000_000): FLModel =>
  new FLModel({ params: { w: layer(n, (i) => 0.05 * Math.sin(i * 0.37)) }, paramsType: "FULL", meta: { NUM_STEPS_CURRENT_ROUND: 1000 } });
const code = (c: string) => (err: unknown) =>
  isCohortError(err, c) || assert.fail(`expected ${c}, got ${String((err as { code?: string }).code)}: ${(err as Error).message}`);
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] as number))), 0);

test("isHeFilterPath: the encryptor and decryptor under Cohort's, FLARE's and short names; not the aggregator", () => {
  for (const p of [
    "cohort.HEModelEncryptor",
    "nvflare.app_opt.he.model_encryptor.HEModelEncryptor",
    "HEModelEncryptor",
    "cohort.HEModelDecryptor",
    "nvflare.app_opt.he.model_decryptor.HEModelDecryptor",
    "HEModelDecryptor",
  ])
    assert.ok(isHeFilterPath(p), p);
  for (const p of [
    "cohort.HEAggregator",
    "nvflare.app_opt.he.intime_accumulate_model_aggregator.HEInTimeAccumulateWeightedAggregator",
    "cohort.GaussianPrivacy",
    "",
    "hemodelencryptor",
  ])
    assert.ok(!isHeFilterPath(p), p);
});

test("HE worker: encrypt then decrypt round-trips a model; the result has the in-process filter's names, layout and meta", { timeout: 120_000 }, async () => {
  const runner = startHeFilterWorker(keys.client, { idleMs: 0 });
  try {
    const input = encode(small());
    const encBytes = await runner.apply("out", ENCRYPTOR, input, site);
    assert.equal(input.byteLength, 0, "the input buffer was moved to the worker, not copied");
    const enc = decode(encBytes) as FLModel;
    const ref = await new HEModelEncryptor(heEncryptorArgs.parse(ENCRYPTOR.args)).filter(small(), fctx("out"));
    assert.deepEqual(Object.keys(enc.params).sort(), Object.keys(ref.params).sort());
    assert.deepEqual(
      Object.keys(enc.params).filter((k) => isPackedLayer(enc.params[k])),
      ['he_packed:[["w",5000],["w2",10]]'],
    );
    for (const k of Object.keys(ref.params)) {
      if (!isPackedLayer(ref.params[k])) {
        assert.deepEqual(enc.params[k], ref.params[k], `${k} stays plaintext, unchanged`);
        continue;
      }
      const [a, b] = [unpackLayer(enc.params[k] as Uint8Array), unpackLayer(ref.params[k] as Uint8Array)];
      assert.deepEqual(
        { length: a.length, weight: a.weight, params: a.params, cts: a.cts.map((c) => c.byteLength) },
        { length: b.length, weight: b.weight, params: b.params, cts: b.cts.map((c) => c.byteLength) },
      );
      assert.notDeepEqual(a.cts[0], b.cts[0], "fresh randomness per encryption");
    }
    assert.deepEqual([enc.meta, enc.paramsType, enc.currentRound, enc.totalRounds], [ref.meta, ref.paramsType, ref.currentRound, ref.totalRounds]);

    // A small Node Buffer is a view into Node's shared pool: copied, never moved.
    const pooled = Buffer.from(encode(new FLModel({ params: { w: new Float32Array([0.5]) }, meta: { NUM_STEPS_CURRENT_ROUND: 2 } })));
    const neighbour = Buffer.from("neighbour");
    assert.ok(pooled.buffer === neighbour.buffer && pooled.byteLength < pooled.buffer.byteLength, "both in the pool");
    const tiny = decode(await runner.apply("in", DECRYPTOR, await runner.apply("out", ENCRYPTOR, pooled, site), site)) as FLModel;
    assert.ok(Math.abs(((tiny.params["w"] as Float32Array)[0] as number) - 0.5) < 1e-6);
    assert.equal(neighbour.toString(), "neighbour");
    assert.ok(pooled.byteLength > 0);

    const kept = new Uint8Array(encBytes); // a copy: transferInput false must leave it readable
    const dec = decode(await runner.apply("in", DECRYPTOR, kept, site, { transferInput: false })) as FLModel;
    assert.equal(kept.byteLength, encBytes.byteLength, "transferInput: false copies");
    const orig = small();
    assert.deepEqual(Object.keys(dec.params).sort(), ["b", "w", "w2"]);
    for (const k of ["w", "w2", "b"]) assert.ok(maxDiff(dec.params[k] as Float32Array, orig.params[k] as Float32Array) < 1e-5, `${k} within CKKS error`);
    // Interchangeable with the in-process filters both ways.
    const fromRef = decode(await runner.apply("in", DECRYPTOR, encode(ref), site)) as FLModel;
    assert.ok(maxDiff(fromRef.params["w"] as Float32Array, orig.params["w"] as Float32Array) < 1e-5);
    const byRef = await new HEModelDecryptor().filter(enc, fctx("in"));
    assert.ok(maxDiff(byRef.params["w2"] as Float32Array, orig.params["w2"] as Float32Array) < 1e-5);
  } finally {
    await runner.close();
  }
});

test("HE worker: the site's event loop keeps ticking during a 1M-parameter encryption", { timeout: 180_000 }, async (t) => {
  const runner = startHeFilterWorker(keys.client, { idleMs: 0 });
  try {
    await runner.apply("out", ENCRYPTOR, encode(small()), site); // starts the worker, loads node-seal and the context
    const input = encode(big());
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const start = performance.now();
    const out = await runner.apply("out", { path: "cohort.HEModelEncryptor", args: {} }, input, site);
    const took = performance.now() - start;
    clearInterval(timer);
    maxGap = Math.max(maxGap, performance.now() - last);
    t.diagnostic(
      `1M parameters encrypted in the worker in ${took.toFixed(0)} ms (${out.byteLength} bytes); the site's loop ticked ${ticks} times, longest gap ${maxGap.toFixed(1)} ms`,
    );
    const enc = decode(out) as FLModel;
    assert.equal(unpackLayer(enc.params["w"] as Uint8Array).length, 1_000_000);
    // In-process, the loop would stall for the whole encryption: not one tick until it is done.
    // (How long the loop stalls, with and without the worker, is a figure of `npm run bench -- he`.)
    assert.ok(currentHeWorker(runner), "the encryption ran on the worker thread");
    assert.ok(ticks >= 3, `the site's event loop ticked ${ticks} times during ${took.toFixed(0)} ms of encryption`);
  } finally {
    await runner.close();
  }
});

test("HE worker: a context without a secret key refuses decryption and encryption", { timeout: 60_000 }, async () => {
  const encrypted = encode(await new HEModelEncryptor(heEncryptorArgs.parse({})).filter(small(), fctx("out")));
  const runner = startHeFilterWorker(publicContext(keys.client));
  try {
    await assert.rejects(runner.apply("in", DECRYPTOR, encrypted, site), code("ERR_PRIVACY_HE_NO_SECRET_KEY"));
    await assert.rejects(
      runner.apply("out", ENCRYPTOR, encode(small()), site),
      (err: Error) => code("ERR_PRIVACY_HE_NO_SECRET_KEY")(err) && /cannot encrypt/.test(err.message),
    );
  } finally {
    await runner.close();
  }
});

test("HE worker: bad input, paths, directions and args are refused with clear codes; the worker stays up", { timeout: 60_000 }, async () => {
  const runner = startHeFilterWorker(keys.client, { idleMs: 0 });
  try {
    await assert.rejects(
      runner.apply("in", DECRYPTOR, new Uint8Array([1, 2, 3, 4, 5]), site),
      (err: Error) => code("ERR_PRIVACY_HE_INPUT")(err) && /not an encoded FLModel/.test(err.message),
    );
    const thread = currentHeWorker(runner)?.threadId;
    assert.ok(thread !== undefined);
    await assert.rejects(
      runner.apply("in", DECRYPTOR, encode({ params: { w: new Float32Array(3) } }), site),
      (err: Error) => code("ERR_PRIVACY_HE_INPUT")(err) && /decodes to Object, not an FLModel/.test(err.message),
    );
    await assert.rejects(runner.apply("out", ENCRYPTOR, "not bytes" as unknown as Uint8Array, site), code("ERR_PRIVACY_HE_INPUT"));
    await assert.rejects(
      runner.apply("out", { path: "cohort.HEAggregator", args: {} }, encode(small()), site),
      (err: Error) => code("ERR_PRIVACY_FILTER")(err) && /is not an HE filter/.test(err.message),
    );
    await assert.rejects(
      runner.apply("in", ENCRYPTOR, encode(small()), site),
      (err: Error) => code("ERR_PRIVACY_FILTER")(err) && /runs on results leaving the site/.test(err.message),
    );
    await assert.rejects(
      runner.apply("out", DECRYPTOR, encode(small()), site),
      (err: Error) => code("ERR_PRIVACY_FILTER")(err) && /task data arriving/.test(err.message),
    );
    await assert.rejects(
      runner.apply("out", { path: "HEModelEncryptor", args: { encrypt_layers: 5 } }, encode(small()), site),
      (err: Error) => code("ERR_PRIVACY_FILTER")(err) && /args\.encrypt_layers/.test(err.message),
    );
    await assert.rejects(
      runner.apply("out", { path: "HEModelEncryptor", args: { encrypt_layers: "(" } }, encode(small()), site),
      (err: Error) => code("ERR_PRIVACY_FILTER")(err) && /not a regular expression/.test(err.message),
    );
    await assert.rejects(runner.apply("out", ENCRYPTOR, encode(small()), site, { timeoutMs: -1 }), code("ERR_PRIVACY_FILTER"));
    // A damaged ciphertext is the filter's refusal, from the worker.
    const enc = decode(await runner.apply("out", ENCRYPTOR, encode(small()), site)) as FLModel;
    const name = Object.keys(enc.params).find((k) => isPackedLayer(enc.params[k])) as string;
    await assert.rejects(
      runner.apply("in", DECRYPTOR, encode(new FLModel({ params: { [name.replace("5000", "4999")]: enc.params[name] } })), site),
      (err: Error) => code("ERR_PRIVACY_FILTER")(err) && /layout does not match/.test(err.message),
    );
    assert.equal(currentHeWorker(runner)?.threadId, thread, "refusals do not restart the worker");
    assert.throws(
      () => startHeFilterWorker({ ...keys.client, secret_key: "not base64!" }),
      (err: Error) => code("ERR_PRIVACY_HE_CONTEXT")(err) && /secret_key/.test(err.message) && !err.message.includes("not base64!"),
    );
  } finally {
    await runner.close();
  }
});

test("HE worker: a killed worker rejects its call, queued calls run on a new one; a hung call times out and the worker is ended; close rejects", {
  timeout: 180_000,
}, async () => {
  const runner = startHeFilterWorker(keys.client, { idleMs: 0 });
  await runner.apply("out", ENCRYPTOR, encode(small()), site);
  const first = currentHeWorker(runner);
  assert.ok(first);
  const pending = runner.apply("out", ENCRYPTOR, encode(big()), site);
  const queued = runner.apply("out", ENCRYPTOR, encode(small()), site);
  await new Promise((r) => setTimeout(r, 100));
  await first.terminate(); // as a crash would: the site did not end it
  await assert.rejects(
    pending,
    (err: Error) => code("ERR_PRIVACY_HE_WORKER")(err) && /stopped \(exit code 1\).*next call starts a new worker/.test(err.message),
  );
  assert.ok(isPackedLayer((decode(await queued) as FLModel).params['he_packed:[["w",5000],["w2",10]]']), "the queued call ran on a new worker");
  const second = currentHeWorker(runner);
  assert.ok(second && second.threadId !== first.threadId);

  // A job's encrypt_layers regex that backtracks forever on a layer name: the worker is stuck in
  // one synchronous match until the site ends it.
  const stuck = new FLModel({ params: { [`${"a".repeat(40)}!`]: new Float32Array(4) }, meta: { NUM_STEPS_CURRENT_ROUND: 1 } });
  await assert.rejects(
    runner.apply("out", { path: "HEModelEncryptor", args: { encrypt_layers: "^(a+)+$" } }, encode(stuck), site, { timeoutMs: 500 }),
    (err: Error) => code("ERR_PRIVACY_HE_TIMEOUT")(err) && /no answer from the HE worker in 500 ms/.test(err.message),
  );
  const dec = decode(await runner.apply("in", DECRYPTOR, await runner.apply("out", ENCRYPTOR, encode(small()), site), site)) as FLModel;
  assert.ok(maxDiff(dec.params["w"] as Float32Array, small().params["w"] as Float32Array) < 1e-5, "the next call works");
  assert.notEqual(currentHeWorker(runner)?.threadId, second.threadId);

  const running = assert.rejects(
    runner.apply("out", ENCRYPTOR, encode(big()), site),
    (err: Error) => code("ERR_PRIVACY_HE_WORKER")(err) && /closed/.test(err.message),
  );
  const waiting = assert.rejects(runner.apply("out", ENCRYPTOR, encode(small()), site), code("ERR_PRIVACY_HE_WORKER"));
  await runner.close();
  await Promise.all([running, waiting]);
  await assert.rejects(runner.apply("out", ENCRYPTOR, encode(small()), site), code("ERR_PRIVACY_HE_WORKER"));
  assert.equal(currentHeWorker(runner), undefined);
});

test("HE worker: ends itself when idle and restarts on the next call", { timeout: 60_000 }, async () => {
  const runner = startHeFilterWorker(keys.client, { idleMs: 100 });
  try {
    await runner.apply("out", ENCRYPTOR, encode(small()), site);
    assert.ok(currentHeWorker(runner));
    for (let i = 0; i < 200 && currentHeWorker(runner) !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(currentHeWorker(runner), undefined, "ended once idle for 100 ms");
    assert.ok(isPackedLayer((decode(await runner.apply("out", ENCRYPTOR, encode(small()), site)) as FLModel).params['he_packed:[["w",5000],["w2",10]]']));
  } finally {
    await runner.close();
  }
});

test("HE worker, compiled (dist/): round-trips, and an idle worker does not keep the process alive", { timeout: 120_000 }, () => {
  const dist = fileURLToPath(new URL("../../dist/", import.meta.url));
  assert.ok(existsSync(`${dist}privacy/he-worker-thread.js`), "dist/ is built (npm test builds it; else run npm run build)");
  // No close(): the process must end on its own once the calls are answered.
  const script = `
    import { generateCkksContexts, startHeFilterWorker } from ${JSON.stringify(`${dist}privacy/index.js`)};
    import { decode, encode, FLModel } from ${JSON.stringify(`${dist}wire/index.js`)};
    const { client } = await generateCkksContexts();
    const runner = startHeFilterWorker(client);
    const ctx = { site: "site-1", jobId: "j", taskName: "train" };
    const w = Float32Array.from({ length: 9000 }, (_, i) => Math.cos(i) / 10);
    const enc = await runner.apply("out", { path: "cohort.HEModelEncryptor", args: {} }, encode(new FLModel({ params: { w }, meta: { NUM_STEPS_CURRENT_ROUND: 7 } })), ctx);
    const dec = decode(await runner.apply("in", { path: "cohort.HEModelDecryptor", args: {} }, enc, ctx));
    console.log(JSON.stringify({ err: dec.params.w.reduce((m, x, i) => Math.max(m, Math.abs(x - w[i])), 0) }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ""} (a timeout means the worker kept the process alive)\n${r.stderr}`);
  const { err } = JSON.parse(r.stdout.trim()) as { err: number };
  assert.ok(err < 1e-5, `max error ${err}`);
});
