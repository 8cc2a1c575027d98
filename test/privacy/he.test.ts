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
