/**
 * examples/hello-pt (issue 20, PyTorch): FLARE's hello-pt job.py and client.py pattern through the
 * `nvflare` shim: `python3 job.py` exports the PyTorch FedAvgRecipe (initial weights as safetensors),
 * runs it in Cohort's simulator with torch tensors in the script, and the final global model,
 * read back with cohort_flare.safetensors into the example's network, reaches >= 0.75 test accuracy
 * after 3 rounds. The whole run takes about 20 s on 2 cores, so npm test runs the example as shipped.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { DEBIAN_DATASET_DIR, PYTHON, requireSystem } from "../helpers/requirements.js";

const needs = requireSystem("python3", "torch", "bwrap");
const PYTHONPATH = `${join(REPO_ROOT, "python")}:${join(REPO_ROOT, "python", "flare_shim")}`;
const COHORT_FROM_SOURCE = `${process.execPath} --import ${import.meta.resolve("tsx")} ${join(REPO_ROOT, "src", "cli", "main.ts")}`;
const DATA = existsSync(join(DEBIAN_DATASET_DIR, "t10k-images-idx3-ubyte.gz"))
  ? DEBIAN_DATASET_DIR
  : join(REPO_ROOT, "examples", "data", "fashion-mnist-subset");

/** Loads the saved global model into SimpleNetwork and prints its accuracy on the test images. */
const EVALUATE = `
import sys, torch
from cohort_flare.safetensors import load_file
from model import SimpleNetwork
from client import fashion_mnist, evaluate
net = SimpleNetwork()
net.load_state_dict(load_file(sys.argv[1], framework="pt"))
test_set = fashion_mnist(sys.argv[2], train=False, limit=10000, seed=0)
print("ACCURACY", evaluate(net, torch.utils.data.DataLoader(test_set, batch_size=500), "cpu"))
`;

test("examples/hello-pt: python3 job.py trains the CNN with torch state dicts to >= 0.75 test accuracy in 3 rounds", { ...needs, timeout: 300_000 }, () => {
  const dir = tempDir("cohort-hello-pt-");
  cpSync(join(REPO_ROOT, "examples", "hello-pt"), dir, { recursive: true });
  const env = {
    PATH: "/usr/bin:/bin",
    PYTHONPATH,
    PYTHONDONTWRITEBYTECODE: "1",
    HOME: dir,
    COHORT_CLI: COHORT_FROM_SOURCE,
    NVFLARE_SIMULATOR_WORKSPACE_ROOT: join(dir, "ws"),
  };
  const started = Date.now();
  const r = spawnSync(PYTHON, ["job.py"], { cwd: dir, encoding: "utf8", env, timeout: 240_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.equal(r.status, 0, out);
  assert.ok((Date.now() - started) / 1000 < 120, `trains in under 2 minutes (took ${(Date.now() - started) / 1000} s)`);
  assert.match(out, /Job Status is: FINISHED:COMPLETED/);
  const result = join(dir, "ws", "hello-pt");
  assert.match(out, new RegExp(`Result can be found in : ${result}`));
  const exported = JSON.parse(readFileSync(join(result, "job", "app", "config", "config_fed_server.json"), "utf8")) as {
    components: { path: string; args: Record<string, unknown> }[];
  };
  const persistor = exported.components.find((c) => c.path === "nvflare.app_opt.pt.file_model_persistor.PTFileModelPersistor");
  assert.deepEqual(persistor?.args, { model: { path: "model.SimpleNetwork" }, initial_weights_file: "custom/initial_model.safetensors" });
  const model = join(result, "server", "simulate_job", "models", "FL_global_model.safetensors");
  assert.ok(existsSync(model), out);
  assert.ok(existsSync(join(result, "server", "simulate_job", "models", "best_FL_global_model.safetensors")));
  const e = spawnSync(PYTHON, ["-c", EVALUATE, model, DATA], { cwd: dir, encoding: "utf8", env, timeout: 60_000 });
  assert.equal(e.status, 0, `${e.stdout}\n${e.stderr}`);
  const accuracy = Number(/ACCURACY ([0-9.]+)/.exec(e.stdout)?.[1]);
  assert.ok(accuracy >= 0.75, `the final global model's test accuracy ${accuracy} >= 0.75`);
});

test("python/tests' torch tests run where torch is (python-module.test.ts runs them too, skipping them without torch)", {
  ...requireSystem("python3", "torch"),
  timeout: 120_000,
}, () => {
  const r = spawnSync(PYTHON, ["-m", "unittest", "-v", "tests.test_params_format", "tests.test_pt_recipe"], {
    cwd: join(REPO_ROOT, "python"),
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1" },
    timeout: 100_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /skipped/, "torch is installed: no test may skip");
  assert.match(r.stderr, /test_receive_gives_tensors_and_send_takes_a_state_dict .* ok/);
});
