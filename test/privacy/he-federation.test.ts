/**
 * HE end to end with real processes: a project provisioned with FLARE's HEBuilder, a server and two
 * sites (`cohort start`), the hello-he and hello-fedavg examples (same seeds, shortened) submitted
 * with `cohort admin`. FedAvg with HE reaches the plaintext run's accuracy within 1 point; the
 * server's job workspace holds only ciphertexts, and its kit holds no key that decrypts them.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isCohortError } from "../../src/errors/index.js";
import { decode, FLModel } from "../../src/wire/index.js";
import { CkksContext } from "../../src/privacy/he.js";
import { isPackedLayer, unpackLayer } from "../../src/privacy/he-frame.js";
import { HeErrorCode, readCkksContextFile } from "../../src/privacy/index.js";
import { REPO_ROOT, editJsonFile, type EditableJson } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, JobWatcher, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2"];
const ADMIN = "admin@nvidia.com";
const SERVER = "localhost";
let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites: CohortProcess[] = [];
const kit = (n: string): string => join(prodDir, n);
const watcher = new JobWatcher(
  () => kit(ADMIN),
  () => [server, ...sites].map((p) => p.output.slice(-1500)).join("\n---\n"),
);

/** An example job, shortened the same way for both runs: 3 rounds, 3000 samples per site. */
function job(example: string): string {
  const dst = join(dir, "jobs", example);
  cpSync(join(REPO_ROOT, "examples", "jobs", example), dst, { recursive: true });
  const rw = (p: string, f: (j: EditableJson) => void): void => editJsonFile(join(dst, p), f);
  rw("app/config/config_fed_server.json", (s) => Object.assign(s["workflows"][0]["args"], { num_rounds: 3, wait_time_after_min_received: 1 }));
  rw("app/config/config_fed_client.json", (c) => Object.assign(c["executors"][0]["executor"]["args"], { max_train_samples: 3000 }));
  return dst;
}

before(async () => {
  const fed = await startFederation({
    project: "he_test",
    sites: SITES,
    admin: ADMIN,
    builders: `builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.he.HEBuilder
    args: {poly_modulus_degree: 8192, coeff_mod_bit_sizes: [60, 40, 40], scale_bits: 40}
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`,
  });
  ({ dir, prodDir, server } = fed);
  sites.push(...fed.sites.values());
});

after(() => stopFederation(server, sites, watcher));

let plainAccuracy = 0;

test("FedAvg with HE matches the plaintext run within 1 point; the server keeps only ciphertexts and cannot decrypt them", { timeout: 150_000 }, async (t) => {
  // Both jobs at once: they share nothing but the processes, and the machine's two cores.
  const ids: string[] = [];
  for (const example of ["hello-fedavg", "hello-he"]) {
    const sub = await adminCli(kit(ADMIN), `submit_job ${job(example)}`);
    assert.equal(sub.code, 0, sub.text);
    ids.push(String(sub.json["job_id"]));
  }
  const [plainId, heId] = ids as [string, string];
  const accuracy = async (id: string): Promise<number> => {
    const meta = await watcher.wait(id, (s) => s.startsWith("FINISHED:"), 120_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", `${JSON.stringify(meta)}\n${sites.map((p) => p.output.slice(-1500)).join("\n---\n")}`);
    const rounds = meta["rounds"] as { round: number; metrics: { accuracy: number } }[];
    assert.deepEqual(
      rounds.map((r) => r.round),
      [1, 2, 3],
    );
    return rounds.at(-1)?.metrics.accuracy ?? 0;
  };
  const plain = await accuracy(plainId);
  const he = await accuracy(heId);
  t.diagnostic(`held-out accuracy after 3 rounds: plaintext ${plain.toFixed(4)}, HE ${he.toFixed(4)}`);
  plainAccuracy = plain;
  assert.ok(Math.abs(he - plain) <= 0.01, `HE accuracy ${he} within 1 point of the plaintext ${plain}`);

  // The server's job workspace: every layer of the persisted global (and best) model is a ciphertext.
  const models = join(kit(SERVER), "workspace", "jobs", heId, "workspace", "models");
  let layer: Uint8Array | undefined;
  for (const f of ["global_model.cohort", "best_model.cohort"]) {
    const m = decode(readFileSync(join(models, f)));
    assert.ok(m instanceof FLModel);
    const values = Object.values(m.params);
    assert.equal(values.length, 1, "the MLP's 4 layers, packed into one encrypted vector");
    assert.equal((JSON.parse(Object.keys(m.params)[0]?.replace(/^he_packed:/, "") ?? "[]") as unknown[]).length, 4, Object.keys(m.params)[0]);
    for (const v of values) assert.ok(isPackedLayer(v) && !(v instanceof Float32Array), `${f}: a CKKS-framed layer, not float32`);
    layer ??= values[0] as Uint8Array;
  }
  const plainModel = decode(readFileSync(join(kit(SERVER), "workspace", "jobs", plainId, "workspace", "models", "global_model.cohort"))) as FLModel;
  assert.ok(
    Object.values(plainModel.params).every((v) => v instanceof Float32Array),
    "the plaintext job's model is float32 (the check above is not vacuous)",
  );

  // The server kit's context has no secret key and cannot decrypt; a site's can.
  const serverCtx = readCkksContextFile(join(kit(SERVER), "startup", "server_context.ckks"), "server");
  assert.equal(serverCtx.secret_key, undefined);
  const l = unpackLayer(layer as Uint8Array);
  const atServer = await CkksContext.load(serverCtx);
  assert.throws(
    () => atServer.decrypt(l.cts, l.length),
    (e: unknown) => isCohortError(e, HeErrorCode.NoSecretKey),
  );
  const atSite = await CkksContext.load(readCkksContextFile(join(kit("site-1"), "startup", "client_context.ckks"), "client"));
  const w = atSite.decrypt(l.cts, l.length).map((x) => x / l.weight);
  assert.ok(
    w.every((x) => Number.isFinite(x) && Math.abs(x) < 10),
    "a site decrypts the global model to sensible weights",
  );
  assert.match(server.output, new RegExp(`job ${heId.slice(0, 8)} info: round 3/3 aggregated from (site-1, site-2|site-2, site-1)`));
});

// The floor is Debian's full Fashion-MNIST's: the bundled subset learns less in 3 rounds.
test("the plaintext run of that comparison learns: over 0.6 held-out accuracy after 3 rounds", requireSystem("dataset"), () => {
  assert.ok(plainAccuracy > 0.6, `the plaintext run learns (${plainAccuracy})`);
});
