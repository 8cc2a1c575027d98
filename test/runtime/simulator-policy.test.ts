/**
 * The simulator reads and applies each site's local/ policy files with the site's own loader:
 * FLARE's sample privacy.json unchanged (its scopes name filters Cohort lacks: jobs of those scopes
 * are refused at that site, others run), authorization.json against the simulated submitter,
 * every problem of broken files at once; and FLARE's simulator flags.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runSimulation } from "../../src/runtime/simulator/index.js";
import { runCli, tempDir, writeFile } from "../helpers/index.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";
import { noOpJob } from "../helpers/noop-job.js";

const SAMPLE = ["nvflare", "lighter", "templates", "master_template.sample_privacy.json"];

function localWithSample(dir: string): string {
  const local = join(dir, "local");
  mkdirSync(join(local, "site-1", "local"), { recursive: true });
  copyFileSync(flareFile(...SAMPLE), join(local, "site-1", "local", "privacy.json"));
  return local;
}

/** A no-op job that one site can run (with `scope`, if given), simulated at site-1 and site-2 with the local/ folders of `local`; its log lines collected. */
async function simulateWithLocal(dir: string, local: string, scope?: string) {
  const job = noOpJob(join(dir, "job"), (f) => {
    f.meta["min_clients"] = 1;
    if (scope) f.meta["scope"] = scope;
    (f.server["workflows"] as { args: Record<string, unknown> }[])[0]!.args["min_clients"] = 1;
  });
  const lines: string[] = [];
  const r = await runSimulation({
    jobDir: job,
    sites: ["site-1", "site-2"],
    workspace: join(dir, "ws"),
    localConfigDir: local,
    onLog: (who, level, line) => lines.push(`${who} ${level} ${line}`),
  });
  return { r, lines };
}

test(
  "the simulator applies FLARE's sample privacy.json unchanged: a scope naming filters Cohort lacks refuses the job at that site, with the reason; the job runs on the others",
  requireFlareData(),
  async () => {
    const dir = tempDir("cohort-simpol-");
    const local = localWithSample(dir);
    const { r, lines } = await simulateWithLocal(dir, local, "public");
    assert.equal(r.status, "FINISHED:COMPLETED", r.reason);
    assert.deepEqual(r.sites, ["site-2"]);
    const refusal = lines.find((l) => l.startsWith("site-1 warn") && l.includes("refused at deploy"));
    assert.match(
      refusal ?? lines.join("\n"),
      /privacy scope 'public' is not usable at site-1: .*privacy\.json names filters Cohort does not implement: .*"BadModelDetector", .*"AddNoiseToMinMax"/,
    );
    assert.ok(
      lines.some((l) => /site-1 warn privacy scope 'private' refuses jobs: .*AddNoiseToMinMax/.test(l)),
      "reported once at start",
    );
  },
);

test("the simulator runs a usable scope's site filters and charges its budget in the workspace; authorization.json refuses a submitter it does not allow", async () => {
  const dir = tempDir("cohort-simpol-");
  const local = join(dir, "local");
  writeFile(
    join(local, "site-1", "local", "privacy.json"),
    JSON.stringify({
      scopes: [
        {
          name: "dp",
          task_result_filters: [{ name: "GaussianPrivacy", args: { clip_norm: 1, epsilon: 0.5, delta: 1e-6 } }],
          budget: { epsilon: 0.7, delta: 1e-5 },
        },
      ],
      default_scope: "dp",
    }),
  );
  writeFile(
    join(local, "site-2", "local", "authorization.json"),
    JSON.stringify({ format_version: "1.0", permissions: { project_admin: { submit_job: "none" } } }),
  );
  const { r, lines } = await simulateWithLocal(dir, local);
  assert.deepEqual(r.sites, ["site-1"], lines.join("\n"));
  assert.ok(
    lines.some((l) => /site-2 warn .*refused at deploy: NOT_AUTHORIZED by site-2: submit_job for admin@cohort\.sim/.test(l)),
    lines.join("\n"),
  );
  const ledger = JSON.parse(readFileSync(join(dir, "ws", "site-1", "privacy_budget.json"), "utf8")) as {
    scopes: Record<string, { total: { epsilon: number } }>;
  };
  assert.equal(ledger.scopes["dp"]?.total.epsilon, 0.5, "round 1 charged; round 2 would pass the budget and is refused");
  assert.ok(
    lines.some((l) => /privacy budget of scope 'dp' exhausted/.test(l)),
    lines.join("\n"),
  );
});

test("broken policy files under --local-config: every problem of every site at once, exit status 4", async () => {
  const dir = tempDir("cohort-simpol-");
  const local = join(dir, "local");
  writeFile(
    join(local, "site-1", "local", "privacy.json"),
    JSON.stringify({ scopes: [{ name: "a", task_result_filter: [] }, { name: "a" }], default_scope: "b" }),
  );
  writeFile(join(local, "site-2", "local", "authorization.json"), "{ not json");
  writeFile(
    join(local, "site-2", "local", "resources.json"),
    JSON.stringify({
      components: [
        {
          id: "resource_manager",
          path: "nvflare.app_common.resource_managers.list_resource_manager.ListResourceManager",
          args: { resources: { gpu: [0, -1, 0] } },
        },
      ],
    }),
  );
  const r = await runCli(["simulator", noOpJob(join(dir, "job")), "-c", "site-1", "site-2", "--local-config", local, "-w", join(dir, "ws")]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /ERR_SITE_POLICY_FILES/);
  for (const re of [
    /\$\.scopes\[0\]: .*task_result_filter/,
    /\$\.scopes\[1\]\.name: duplicate scope name "a"/,
    /\$\.default_scope: names no scope/,
    /authorization\.json: not valid JSON/,
    /resources\[gpu\]\[1\]|resources\.gpu\[1\]/,
    /0 is listed twice/,
  ])
    assert.match(r.stderr, re);
  assert.equal(r.stderr.match(/default_scope: names no scope/g)?.length, 1, "each problem once");
});

test("FLARE's simulator flags: -c as a list or a comma string, -gpu ids, -m max_clients, -l log mode; Cohort's local folder is --local-config", async () => {
  const dir = tempDir("cohort-simflags-");
  const job = noOpJob(join(dir, "job"), (f) => {
    f.meta["resource_spec"] = { a: { num_of_gpus: 2 } };
  });
  const list = await runCli(["simulator", job, "-c", "a", "b", "-gpu", "[0,1],[2]", "-l", "concise", "-w", join(dir, "ws1"), "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const result = JSON.parse(list.stdout) as { sites: string[]; status: string };
  assert.deepEqual(result.sites, ["a", "b"], "site a has the 3 GPUs -gpu gave every site");
  const comma = await runCli(["simulator", job, "-c", "a,b", "-w", join(dir, "ws2"), "--json"]);
  assert.equal(comma.code, 1, "without -gpu no site has GPUs");
  assert.match(JSON.parse(comma.stdout).reason, /a: needs 2 GPUs, the site has 0/);
  const max = await runCli(["simulator", job, "-n", "3", "-m", "2", "-w", join(dir, "ws3")]);
  assert.equal(max.code, 4);
  assert.match(max.stderr, /3 sites, more than -m\/--max_clients 2/);
  const badGpu = await runCli(["simulator", job, "-n", "2", "-gpu", "0,-1", "-w", join(dir, "ws4")]);
  assert.equal(badGpu.code, 4);
  assert.match(badGpu.stderr, /-gpu "-1": a GPU id is a whole number 0\.\.255/);
});
