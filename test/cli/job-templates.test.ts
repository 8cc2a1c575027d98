/**
 * Issue 20, job templates: `cohort job create` from each of Cohort's templates (with
 * examples/template-scripts/numpy) and from FLARE's sag_np (with FLARE's hello-numpy client.py),
 * each job then run in the simulator to FINISHED:COMPLETED; `-f` edits; show_variables and
 * list_templates as FLARE prints them; and hostile inputs (paths out of the job in -f, links out of
 * the script folder, existing folders, unknown keys and templates), each refused with nothing
 * written outside the job folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runSimulation } from "../../src/runtime/simulator/index.js";
import { decodeNpy } from "../../src/runtime/components/npy.js";
import { loadJobFolder, parseHocon } from "../../src/runtime/jobs/index.js";
import { createJob, readJobVariables, renderVariables } from "../../src/cli/job-templates/index.js";
import { applyEdits, type Json } from "../../src/cli/job-templates/config-tree.js";
import { isCohortError } from "../../src/errors/index.js";
import { REPO_ROOT, runCli, snapshotTree, tempDir } from "../helpers/index.js";
import { requireSystem } from "../helpers/requirements.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";

const SCRIPTS = join(REPO_ROOT, "examples", "template-scripts", "numpy");
const PT_SCRIPTS = join(REPO_ROOT, "examples", "template-scripts", "pytorch");
const python = requireSystem("python3", "bwrap");
const flare = (() => {
  const f = requireFlareData();
  return f.skip ? f : python;
})();
const SITES = ["site-1", "site-2"];

/** Runs a job folder in the simulator; asserts it completed and returns the server's run folder. */
async function simulate(job: string, ws: string): Promise<string> {
  const r = await runSimulation({ jobDir: job, sites: SITES, workspace: ws });
  assert.equal(r.status, "FINISHED:COMPLETED", `${job}: ${r.reason ?? ""}\n${readFileSync(r.logFile, "utf8").slice(-3000)}`);
  return join(ws, "server", "simulate_job");
}

/** The CohortError `fn` throws (fails the test when it throws nothing or something else). */
function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isCohortError(err)) return err;
    throw err;
  }
  assert.fail("expected a refusal");
}

test("each of Cohort's numpy templates, created with the numpy script and 2 rounds, completes in the simulator", { ...python, timeout: 120_000 }, async () => {
  const dir = tempDir("cohort-job-templates-");
  for (const template of ["fedavg_np", "fedavg_cse_np", "cyclic_np", "swarm_cse_np"]) {
    const job = join(dir, template);
    const created = createJob({ jobFolder: job, template, scriptDir: SCRIPTS, edits: [["config_fed_server.conf", "num_rounds=2"]] });
    assert.deepEqual(created.warnings, [], `${template}: every key is one Cohort reads`);
    assert.deepEqual(readdirSync(join(job, "app", "custom")), ["client.py"]);
    assert.deepEqual(readdirSync(join(job, "app", "config")).sort(), ["config_fed_client.conf", "config_fed_server.conf"], "info.conf and info.md stay out");
    const run = await simulate(job, join(dir, `ws-${template}`));
    const log = readFileSync(join(dir, `ws-${template}`, "log.txt"), "utf8");
    assert.match(log, /client\.py metric train_mse=/, `${template}: the script trained`);
    assert.match(log, /round 2\/2/, `${template}: num_rounds=2 from -f`);
    if (template !== "swarm_cse_np") assert.ok(existsSync(join(run, "models", "server.npy")), `${template}: NPModelPersistor's model`);
    else {
      // Swarm with FLARE's numpy persistor at the sites: the models are there, never at the server.
      assert.ok(!existsSync(join(run, "models", "server.npy")), "swarm: the server keeps no model");
      const ws = join(dir, `ws-${template}`);
      assert.ok(
        SITES.some((s) => existsSync(join(ws, s, "simulate_job", "models", "server.npy"))),
        "swarm: the final model is at a site",
      );
    }
    if (template.includes("cse")) {
      const matrix = JSON.parse(readFileSync(join(run, "cross_site_val", "cross_val_results.json"), "utf8")) as Record<string, Record<string, unknown>>;
      assert.deepEqual(Object.keys(matrix).sort(), SITES, `${template}: every site evaluated`);
    }
  }
});

test("each of Cohort's PyTorch templates, created with the PyTorch script (state dicts through FLModel), completes in the simulator", {
  ...requireSystem("python3", "bwrap", "torch"),
  timeout: 240_000,
}, async () => {
  const dir = tempDir("cohort-job-templates-pt-");
  for (const template of ["fedavg_pt", "fedavg_cse_pt", "cyclic_pt", "swarm_cse_pt"]) {
    const job = join(dir, template);
    createJob({
      jobFolder: job,
      template,
      scriptDir: PT_SCRIPTS,
      edits: [
        ["config_fed_server.conf", "num_rounds=2"],
        ["config_fed_client.conf", 'app_config="--train_samples 200 --test_samples 200"'],
      ],
    });
    assert.ok(existsSync(join(job, "app", "custom", "initial_model.safetensors")), `${template}: the initial weights are in the job`);
    const run = await simulate(job, join(dir, `ws-${template}`));
    const log = readFileSync(join(dir, `ws-${template}`, "log.txt"), "utf8");
    assert.match(log, /round 2\/2/, `${template}: two rounds`);
    if (template !== "swarm_cse_pt") assert.ok(existsSync(join(run, "models", "FL_global_model.safetensors")), `${template}: the global model at the server`);
    else assert.ok(!existsSync(join(run, "models")) || readdirSync(join(run, "models")).length === 0, "swarm: no model at the server");
    if (template.includes("cse")) {
      const matrix = JSON.parse(readFileSync(join(run, "cross_site_val", "cross_val_results.json"), "utf8")) as Record<
        string,
        Record<string, { accuracy?: number }>
      >;
      assert.deepEqual(Object.keys(matrix).sort(), SITES, `${template}: every site evaluated`);
      for (const row of Object.values(matrix))
        for (const cell of Object.values(row)) assert.equal(typeof cell.accuracy, "number", `${template}: ${JSON.stringify(row)}`);
    }
  }
});

test("FLARE's sag_np, created by the CLI with -w <its folder>, -sd hello-numpy and -f edits, completes in the simulator", {
  ...flare,
  timeout: 120_000,
}, async () => {
  const dir = tempDir("cohort-job-sag-np-");
  const job = join(dir, "sag_np_job");
  const created = await runCli([
    "job",
    "create",
    "-j",
    job,
    "-w",
    flareFile("job_templates", "sag_np"),
    "-sd",
    flareFile("examples", "hello-world", "hello-numpy"),
    "-f",
    "config_fed_client.conf",
    "app_script=client.py",
    "-f",
    "config_fed_server.conf",
    "num_rounds=3",
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /The following are the variables you can change in the template/);
  assert.match(created.stdout, /config_fed_client\.conf\s+app_script\s+client\.py/);
  assert.match(created.stdout, /config_fed_server\.conf\s+num_rounds\s+3\s+ScatterAndGather/);
  const meta = parseHocon(readFileSync(join(job, "meta.conf"), "utf8"), { file: "meta.conf" }) as Record<string, unknown>;
  assert.equal(meta["name"], "sag_np_job", "meta's name is the job folder's, as FLARE sets it");
  assert.ok(existsSync(join(job, "app", "custom", "client.py")));
  const run = await simulate(job, join(dir, "ws"));
  const model = decodeNpy(readFileSync(join(run, "models", "server.npy")), "server.npy");
  assert.deepEqual([...model.data], [4, 5, 6, 7, 8, 9, 10, 11, 12], "[[1..9]] + 3 rounds of +1");
});

test("every FLARE template is created by its folder into a job folder Cohort loads; sag_cross_np (NPTrainer, NPValidator) completes too", {
  ...flare,
  timeout: 60_000,
}, async () => {
  const dir = tempDir("cohort-job-flare-templates-");
  for (const t of ["sag_np", "sag_cross_np", "cyclic_pt", "swarm_cse_pt"]) {
    const job = join(dir, t);
    const vars = createJob({ jobFolder: job, template: flareFile("job_templates", t) }).variables;
    assert.ok(
      vars.files.some((f) => f.rel === "app/config/config_fed_client.conf"),
      t,
    );
    const def = loadJobFolder(job);
    assert.equal(def.meta.name, t);
    assert.ok(def.apps.get("app")?.server && def.apps.get("app")?.client, `${t}: both sides`);
  }
  await simulate(join(dir, "sag_cross_np"), join(dir, "ws"));
});

test("-f: a bare key sets every occurrence, a path one value, meta too; values keep their type; show_variables prints them", async () => {
  const dir = tempDir("cohort-job-edits-");
  const job = join(dir, "edited");
  createJob({
    jobFolder: job,
    template: "fedavg_cse_np",
    edits: [
      ["config_fed_server.conf", "num_rounds=4", "workflows[1].args.validation_timeout=30"],
      ["app/config_fed_client.conf", "app_config=--local_steps 5", "launch_once=false"],
      ["meta.conf", "min_clients=3"],
    ],
  });
  const server = parseHocon(readFileSync(join(job, "app", "config", "config_fed_server.conf"), "utf8"), { file: "s" }) as {
    workflows: { args: Record<string, unknown> }[];
  };
  assert.equal(server.workflows[0]?.args["num_rounds"], 4);
  assert.equal(server.workflows[1]?.args["validation_timeout"], 30);
  assert.equal(server.workflows[1]?.args["submit_model_timeout"], 600, "untouched");
  const vars = readJobVariables(job);
  const byFile = Object.fromEntries(vars.files.map((f) => [f.rel, Object.fromEntries(f.variables.map((v) => [v.key, v]))]));
  assert.equal(byFile["app/config/config_fed_client.conf"]?.["app_config"]?.value, "--local_steps 5");
  assert.equal(byFile["app/config/config_fed_client.conf"]?.["launch_once"]?.value, false);
  assert.equal(byFile["meta.conf"]?.["min_clients"]?.value, 3);
  assert.equal(byFile["app/config/config_fed_server.conf"]?.["num_rounds"]?.component, "FedAvg");
  assert.equal(byFile["app/config/config_fed_server.conf"]?.["persistor_id"], undefined, "component ids are no variables (FLARE's rule)");
  // A value of the right type that the job's schema refuses: the folder is written (to be fixed) and the error names the file and field.
  const zero = refusal(() => createJob({ jobFolder: join(dir, "zero"), template: "fedavg_np", edits: [["meta.conf", "min_clients=0"]] }));
  assert.equal(zero.code, "ERR_JOB_TEMPLATE_NOT_LOADABLE");
  assert.ok(existsSync(join(dir, "zero", "meta.conf")), "the folder is kept to be fixed");
  assert.match(zero.message, /zero was written, but it is not a job Cohort can load: .*zero\/meta\.conf: min_clients/);
  // FLARE's rule for a bare key: every occurrence, at any depth, in objects and lists alike.
  const tree: Json = { a: { x: 1, y: "s" }, b: [{ x: 2 }, { args: { x: 3 } }], x: 4 };
  applyEdits(tree, ["x=9", "b[1].args.x=7"], "t.conf");
  assert.deepEqual(tree, { a: { x: 9, y: "s" }, b: [{ x: 9 }, { args: { x: 7 } }], x: 9 });
  const shown = await runCli(["job", "show_variables", "-j", job]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout, renderVariables(vars));
  assert.match(shown.stdout, /job folder: .*edited/);
  assert.match(shown.stdout, /config_fed_client\.conf\s+app_config\s+--local_steps 5/);
  const list = await runCli(["job", "list_templates"]);
  assert.equal(list.code, 0, list.stderr);
  for (const t of ["cyclic_np", "fedavg_cse_np", "fedavg_np", "swarm_cse_np"]) assert.match(list.stdout, new RegExp(`^  ${t} `, "m"));
});

test("hostile or wrong input is refused before anything is written, naming the file, key or link; nothing outside the job folder changes", async () => {
  const dir = tempDir("cohort-job-hostile-");
  writeFileSync(join(dir, "keep.txt"), "x");
  const scripts = join(dir, "scripts");
  mkdirSync(scripts);
  writeFileSync(join(scripts, "client.py"), "print(1)\n");
  const before = snapshotTree(dir);
  const job = join(dir, "job");
  const create = (o: Partial<Parameters<typeof createJob>[0]>): { code: string; message: string } =>
    refusal(() => createJob({ jobFolder: job, template: "fedavg_np", ...o }));
  const nothingWritten = (what: string): void => {
    assert.ok(!existsSync(job), `${what}: no job folder`);
    assert.deepEqual(snapshotTree(dir), before, `${what}: nothing else changed`);
  };

  for (const spec of ["../meta.conf", "/etc/passwd", "app/../../x.conf", "app/custom/client.py", "config_fed_other.conf"]) {
    const e = create({ edits: [[spec, "a=1"]] });
    assert.equal(e.code, "ERR_JOB_TEMPLATE_EDIT", spec);
    assert.match(e.message, new RegExp(`-f ${spec.replace(/[.*/]/g, "\\$&")}: .*config_fed_server\\.conf`), spec);
    nothingWritten(spec);
  }
  const unknown = create({ edits: [["config_fed_server.conf", "num_roundz=3"]] });
  assert.match(unknown.message, /config_fed_server\.conf: no key "num_roundz".*num_rounds/);
  assert.match(create({ edits: [["config_fed_server.conf", "workflows[3].args.num_rounds=3"]] }).message, /no key "workflows\[3\]\.args\.num_rounds"/);
  assert.match(create({ edits: [["config_fed_server.conf", "num_rounds=three"]] }).message, /num_rounds is a number; "three" is not/);
  assert.match(create({ edits: [["config_fed_server.conf", "num_rounds-"]] }).message, /removing a key is not supported/);
  nothingWritten("bad keys");

  const e = create({ template: "sag_nope" });
  assert.equal(e.code, "ERR_JOB_TEMPLATE_UNKNOWN");
  assert.match(e.message, /the templates are cyclic_np, cyclic_pt, fedavg_cse_np, fedavg_cse_pt, fedavg_np, fedavg_pt, swarm_cse_np, swarm_cse_pt/);

  symlinkSync(join(dir, "keep.txt"), join(scripts, "secret.txt"));
  const link = create({ scriptDir: scripts });
  assert.equal(link.code, "ERR_JOB_TEMPLATE_SCRIPT_DIR");
  assert.match(link.message, /scripts\/secret\.txt: a link leading outside the script folder/);
  for (const [name, make, why] of [
    ["folder-link", (d: string) => symlinkSync(join(d, "sub"), join(d, "sub-link")), /sub-link: a link to a folder/],
    ["fifo", (d: string) => execFileSync("mkfifo", [join(d, "pipe")]), /pipe: not a file or folder \(a device, socket or pipe\)/],
  ] as const) {
    const d = join(dir, name);
    mkdirSync(join(d, "sub"), { recursive: true });
    make(d);
    assert.match(create({ scriptDir: d }).message, why, name);
    assert.ok(!existsSync(job), `${name}: no job folder`);
  }
  // -sd and -j walking out with "..": the job would land inside the folder being copied, or --force would delete a folder that is no job.
  assert.match(create({ scriptDir: join(scripts, "..") }).message, /must not be the script folder or inside it/);
  nothingWritten("links and ..");

  // A link to a file inside the script folder is copied as that file.
  const inside = join(dir, "scripts2");
  mkdirSync(join(inside, "lib"), { recursive: true });
  writeFileSync(join(inside, "lib", "util.py"), "X = 1\n");
  symlinkSync(join(inside, "lib", "util.py"), join(inside, "util.py"));
  assert.match(
    refusal(() => createJob({ jobFolder: join(inside, "job"), template: "fedavg_np", scriptDir: inside })).message,
    /must not be the script folder or inside it/,
  );
  createJob({ jobFolder: job, template: "fedavg_np", scriptDir: inside });
  assert.equal(readFileSync(join(job, "app", "custom", "util.py"), "utf8"), "X = 1\n");

  // An existing folder: refused without --force; --force replaces only a job folder.
  assert.match(create({}).message, /already exists; pass --force/);
  createJob({ jobFolder: job, template: "cyclic_np", force: true });
  assert.ok(!existsSync(join(job, "app", "custom", "util.py")), "--force replaced the old job");
  const notJob = join(dir, "notjob");
  mkdirSync(notJob);
  writeFileSync(join(notJob, "precious.txt"), "keep me");
  for (const j of [notJob, join(job, "..", "notjob")])
    assert.match(
      refusal(() => createJob({ jobFolder: j, template: "fedavg_np", force: true })).message,
      /not a job folder .*--force replaces only a job folder/,
    );
  assert.equal(readFileSync(join(notJob, "precious.txt"), "utf8"), "keep me");
  assert.match(refusal(() => createJob({ jobFolder: join(dir, "missing", "job"), template: "fedavg_np" })).message, /does not exist; create it first/);

  // A job folder named after its template, in the current folder: -w still means the template, as in FLARE.
  for (const force of [[], ["--force"]]) {
    const r = await runCli(["job", "create", "-j", "fedavg_np", "-w", "fedavg_np", "-sd", "scripts2", ...force], {}, { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
  }
  assert.ok(existsSync(join(dir, "fedavg_np", "app", "custom", "util.py")));
  const cli = await runCli(["job", "create", "-j", job, "-w", "fedavg_np", "--bogus"]);
  assert.equal(cli.code, 4);
  assert.match(cli.stderr, /unknown flag "--bogus"; its flags are -j, --job_folder, -w, --template, -sd, --script_dir/);
});
