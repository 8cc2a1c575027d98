/**
 * FLARE's recipes and Job API in Cohort's `nvflare` shim (issue 20): a recipe exports exactly the
 * job folder FLARE's job.export() writes (the fixtures of test/fixtures/flare-export, written from
 * FLARE's source, never from this shim); FLARE's hello-numpy job.py, unchanged, runs with
 * `python3 job.py` (FULL and DIFF) in Cohort's simulator, found beside the shim, and prints the
 * result path and status; hello-numpy-cross-val's training mode; FedJob with per-site apps and
 * CyclicRecipe; PocEnv against a running POC; the errors a user meets.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { decodeNpy } from "../../src/runtime/components/npy.js";
import { testPoc } from "../helpers/poc.js";
import { REPO_ROOT, runCli, tempDir } from "../helpers/index.js";
import { PYTHON, requireSystem } from "../helpers/requirements.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";

const needs = (() => {
  const f = requireFlareData();
  if (f.skip) return f;
  return requireSystem("python3", "bwrap");
})();
const FIXTURES = join(REPO_ROOT, "test", "fixtures", "flare-export");
const PYTHONPATH = `${join(REPO_ROOT, "python")}:${join(REPO_ROOT, "python", "flare_shim")}`;
/** Cohort from source (always current), for the runs that do not test how the shim finds it. */
const COHORT_FROM_SOURCE = `${process.execPath} --import ${import.meta.resolve("tsx")} ${join(REPO_ROOT, "src", "cli", "main.ts")}`;

/** A PATH with node and Debian's python3, and no `cohort` on it. */
function pathWithoutCohort(): string {
  const bin = tempDir("cohort-recipe-bin-");
  symlinkSync(process.execPath, join(bin, "node"));
  return `${bin}:/usr/bin:/bin`;
}

function python(cwd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 120_000) {
  const r = spawnSync(PYTHON, args, {
    cwd,
    encoding: "utf8",
    env: { PATH: pathWithoutCohort(), PYTHONPATH, PYTHONDONTWRITEBYTECODE: "1", HOME: cwd, COHORT_CLI: COHORT_FROM_SOURCE, ...env },
    timeout: timeoutMs,
  });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** A folder with a copy of one of FLARE's hello-world examples. */
function example(name: string): string {
  const dir = tempDir(`cohort-${name}-`);
  cpSync(flareFile("examples", "hello-world", name), dir, { recursive: true });
  return dir;
}

function sameJson(got: string, want: string): void {
  assert.deepStrictEqual(JSON.parse(readFileSync(got, "utf8")), JSON.parse(readFileSync(want, "utf8")), `${got} vs ${want}`);
}

const serverModel = (runDir: string): number[] => {
  const file = join(runDir, "models", "server.npy");
  return [...decodeNpy(readFileSync(file), file).data];
};

describe("recipes export FLARE's job folders", () => {
  test("NumpyFedAvgRecipe (hello-numpy) and NumpyFedAvgRecipe + add_cross_site_evaluation (hello-numpy-cross-val, training) write FLARE's files", needs, () => {
    const dir = example("hello-numpy");
    const script = `
import numpy as np
from nvflare.app_common.np.recipes import NumpyFedAvgRecipe
from nvflare.recipe.utils import add_cross_site_evaluation
NumpyFedAvgRecipe(name="hello-numpy", min_clients=2, num_rounds=3, model=[[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                  train_script="client.py", train_args="--update_type full").export("out")
r = NumpyFedAvgRecipe(name="hello-numpy-train-cse", min_clients=2, num_rounds=3, model=np.array([0.0] * 10), train_script="client.py", train_args="")
add_cross_site_evaluation(r)
r.export("out")
`;
    const r = python(dir, ["-c", script]);
    assert.equal(r.code, 0, r.out);
    for (const [job, fixture] of [
      ["hello-numpy", "hello-numpy"],
      ["hello-numpy-train-cse", "hello-numpy-cross-val"],
    ] as const) {
      for (const f of ["meta.json", "app/config/config_fed_server.json", "app/config/config_fed_client.json"])
        sameJson(join(dir, "out", job, f), join(FIXTURES, fixture, f));
      assert.deepEqual(readdirSync(join(dir, "out", job, "app", "custom")), ["client.py"]);
    }
  });
});

describe("FLARE's job.py files, unchanged", () => {
  for (const kind of ["full", "diff"] as const)
    test(`hello-numpy job.py --update_type ${kind}: completes in Cohort's simulator (found beside the shim), prints the result path and status; the model ends at [[1..9]] + 3`, {
      ...needs,
      timeout: 180_000,
    }, () => {
      if (!existsSync(join(REPO_ROOT, "dist", "cli", "main.js"))) assert.fail("dist/cli/main.js is missing: run npm run build (npm ci does)");
      const dir = example("hello-numpy");
      const root = join(dir, "sim");
      // No COHORT_CLI and no cohort on PATH: the shim runs <checkout>/dist/cli/main.js with node.
      const r = python(dir, ["job.py", "--update_type", kind], { NVFLARE_SIMULATOR_WORKSPACE_ROOT: root, COHORT_CLI: "" });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`Result can be found in : ${root}/hello-numpy\\n`));
      assert.match(r.out, /Job Status is: FINISHED:COMPLETED\n/);
      assert.deepEqual(serverModel(join(root, "hello-numpy", "server", "simulate_job")), [4, 5, 6, 7, 8, 9, 10, 11, 12]);
      assert.ok(
        readdirSync(join(root, "hello-numpy", "server", "simulate_job", "tb_events")).length === 2,
        "add_experiment_tracking: TensorBoard files per site",
      );
      if (kind === "diff") assert.match(readFileSync(join(root, "hello-numpy", "log.txt"), "utf8"), /\(DIFFs, added to the global model\)/);
    });

  test("hello-numpy-cross-val job.py --mode training: the cross-site matrix is where FLARE's job.py says", { ...needs, timeout: 180_000 }, () => {
    const dir = example("hello-numpy-cross-val");
    const root = join(dir, "sim");
    const r = python(dir, ["job.py", "--mode", "training", "--num_rounds", "2"], { NVFLARE_SIMULATOR_WORKSPACE_ROOT: root });
    assert.equal(r.code, 0, r.out);
    const matrix = JSON.parse(
      readFileSync(join(root, "hello-numpy-train-cse", "server", "simulate_job", "cross_site_val", "cross_val_results.json"), "utf8"),
    ) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(matrix).sort(), ["site-1", "site-2"]);
    for (const row of Object.values(matrix)) assert.deepEqual(Object.keys(row).sort(), ["SRV_server", "site-1", "site-2"]);
    assert.match(r.out, /Job status: FINISHED:COMPLETED/);
  });
});

describe("the Job API and other recipes", () => {
  test("FedJob with an app per site and CyclicRecipe with a numpy model run in the simulator", { ...needs, timeout: 180_000 }, () => {
    const dir = example("hello-numpy");
    const script = `
import json, os
from nvflare import FedJob
from nvflare.app_common.np.np_model_persistor import NPModelPersistor
from nvflare.app_common.workflows.fedavg import FedAvg
from nvflare.job_config.script_runner import ScriptRunner, FrameworkType
from nvflare.recipe import CyclicRecipe, SimEnv

job = FedJob(name="per-site", min_clients=2)
job.to_server(FedAvg(num_clients=2, num_rounds=2))
job.to_server(NPModelPersistor(model=[1.0, 2.0]), id="persistor")
for site in ("site-1", "site-2"):
    job.to(ScriptRunner(script="client.py", framework=FrameworkType.NUMPY), site)
folder = job.export_job("out")
print("apps", sorted(os.listdir(folder)), json.load(open(os.path.join(folder, "meta.json")))["deploy_map"])
print("exit", job.simulator_run(os.path.abspath("ws-fedjob"), n_clients=2))

run = CyclicRecipe(name="cyclic-np", model=[0.0, 0.0, 0.0], num_rounds=2, min_clients=2, train_script="client.py").execute(SimEnv(num_clients=2, workspace_root=os.path.abspath("ws-cyclic")))
print("cyclic", run.get_status(), run.get_result())
`;
    const r = python(dir, ["-c", script]);
    assert.equal(r.code, 0, r.out);
    assert.match(
      r.out,
      /apps \['app_server', 'app_site-1', 'app_site-2', 'meta\.json'\] \{'app_server': \['server'\], 'app_site-1': \['site-1'\], 'app_site-2': \['site-2'\]\}/,
    );
    assert.match(r.out, /exit 0/);
    assert.deepEqual(serverModel(join(dir, "ws-fedjob", "server", "simulate_job")), [3, 4]);
    assert.match(r.out, /cyclic FINISHED:COMPLETED .*ws-cyclic\/cyclic-np/);
  });

  test(
    "what a user gets wrong is said plainly: an unsupported tracker or PocEnv option, a missing script, a server checkpoint, a custom aggregator, an unknown component",
    needs,
    () => {
      const dir = example("hello-numpy");
      const attempt = (code: string) =>
        python(dir, [
          "-c",
          `from nvflare import FedJob\nfrom nvflare.app_common.np.recipes import NumpyFedAvgRecipe\nfrom nvflare.recipe import PocEnv, add_experiment_tracking\n${code}`,
        ]);
      const recipe = 'NumpyFedAvgRecipe(name="x", min_clients=2, train_script="client.py"';
      for (const tracker of ["mlflow", "wandb"])
        assert.match(
          attempt(`add_experiment_tracking(${recipe}), "${tracker}")`).out,
          new RegExp(`tracking_type '${tracker}': Cohort writes TensorBoard files`),
        );
      assert.match(attempt(`${recipe.replace("client.py", "nope.py")}).export("out")`).out, /nope\.py: the script this job names does not exist/);
      assert.match(
        attempt(`${recipe}, initial_ckpt=${JSON.stringify(join(dir, "model.npy"))})`).out,
        /initial_ckpt: Cohort's server reads models only from its run folder/,
      );
      assert.match(attempt(`${recipe}, aggregator=object())`).out, /aggregator: a custom aggregator object is not supported/);
      assert.match(attempt(`FedJob(name="x").to_server(object())`).out, /object is not a component Cohort's FedJob knows/);
      for (const option of ['docker_image="img"', 'project_conf_path="p.yml"', "use_he=True"])
        assert.match(attempt(`PocEnv(num_clients=2, ${option})`).out, /PocEnv: docker_image, project_conf_path and use_he are not supported/);
    },
  );
});

const poc = testPoc("cohort-recipe-poc-");

test("PocEnv against a running POC: submitted through cohort admin (one signing implementation), the results downloaded; the POC is left running", {
  ...needs,
  timeout: 240_000,
}, async () => {
  await poc.start();
  const dir = example("hello-numpy");
  writeFileSync(
    join(dir, "poc_job.py"),
    `from nvflare.app_common.np.recipes import NumpyFedAvgRecipe
from nvflare.recipe import PocEnv
recipe = NumpyFedAvgRecipe(name="hello-numpy-poc", min_clients=2, num_rounds=2, model=[[1, 2], [3, 4]], train_script="client.py", train_args="--update_type diff", params_transfer_type="DIFF")
run = recipe.execute(PocEnv(num_clients=2, poc_workspace=${JSON.stringify(poc.workspace)}))
print("Result can be found in :", run.get_result())
print("Job Status is:", run.get_status())
`,
  );
  const r = python(dir, ["poc_job.py"], {}, 200_000);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Submitted job: [0-9a-f-]{36}\n/);
  assert.match(r.out, /Job Status is: FINISHED:COMPLETED/);
  const result = /Result can be found in : (\S+)/.exec(r.out)?.[1] ?? "";
  assert.deepEqual(serverModel(join(result, "workspace")), [3, 4, 5, 6]);
  const status = await runCli(["poc", "status", "-w", poc.workspace]);
  assert.doesNotMatch(status.stdout, /not running/, "PocEnv leaves a POC it did not start running");
  assert.equal(dirname(result).length > 0, true);
});
