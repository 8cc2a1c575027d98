/**
 * Real processes (issue 19): a site started (`cohort start`) with FLARE's sample privacy.json
 * unchanged in local/ runs; the scopes naming filters Cohort lacks are reported at start (log,
 * audit line, check_status, show_scopes) and refuse jobs of that scope with the reason, while the
 * job runs on the other site. A site whose policy files cannot be used lists every problem once
 * and exits with status 4 (invalid input), which sub_start.sh treats as final.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, writeFile } from "../helpers/index.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, auditRecords, JobWatcher, type CohortProcess } from "../helpers/processes.js";
import { noOpJob } from "../helpers/noop-job.js";

const ADMIN = "admin@nvidia.com";
const SAMPLE = ["nvflare", "lighter", "templates", "master_template.sample_privacy.json"];
const skip = requireFlareData();

describe("a site with FLARE's sample privacy.json", skip, () => {
  let dir = "";
  let prodDir = "";
  let server: CohortProcess;
  const sites = new Map<string, CohortProcess>();
  const kit = (n: string): string => join(prodDir, n);
  const watcher = new JobWatcher(
    () => kit(ADMIN),
    () => server.output.slice(-2000),
  );

  before(async () => {
    const fed = await startFederation({
      project: "flare_sample_privacy",
      sites: ["site-1", "site-2"],
      admin: ADMIN,
      prepare: (k) => copyFileSync(flareFile(...SAMPLE), join(k("site-1"), "local", "privacy.json")),
    });
    ({ dir, prodDir, server } = fed);
    for (const [n, p] of fed.sites) sites.set(n, p);
  });
  after(() => stopFederation(server, sites.values(), watcher));

  test("starts, reports the scopes that refuse jobs, refuses a job of such a scope with the reason; the job runs on site-2", { timeout: 180_000 }, async () => {
    const out = sites.get("site-1")?.output ?? "";
    assert.match(
      out,
      /WARNING: privacy scope 'public' refuses jobs: .*privacy\.json names filters Cohort does not implement: .*"BadModelDetector", .*"AddNoiseToMinMax"/,
    );
    assert.match(out, /WARNING: privacy scope 'private' refuses jobs: .*"AddNoiseToMinMax"/);
    const started = auditRecords(kit("site-1")).filter((r) => r["action"] === "privacy.scope");
    assert.deepEqual(
      started.map((r) => [r["outcome"], r["code"]]),
      [
        ["denied", "ERR_PRIVACY_SCOPE_UNAVAILABLE"],
        ["denied", "ERR_PRIVACY_SCOPE_UNAVAILABLE"],
      ],
    );
    const scopes = await adminCli(kit(ADMIN), "show_scopes site-1");
    assert.equal(scopes.code, 0, scopes.text);
    assert.match(scopes.text, /"usable":\s*false/);
    assert.match(scopes.text, /AddNoiseToMinMax/);
    const status = await adminCli(kit(ADMIN), "check_status client");
    assert.match(status.text, /privacy_scopes_refusing_jobs/);

    const job = noOpJob(join(dir, "jobs", "public"), (f) => {
      f.meta["name"] = "public-scope";
      f.meta["min_clients"] = 1;
      f.meta["scope"] = "public";
      (f.server["workflows"] as { args: Record<string, unknown> }[])[0]!.args["min_clients"] = 1;
    });
    const sub = await adminCli(kit(ADMIN), `submit_job ${job}`);
    assert.equal(sub.code, 0, sub.text);
    const jobId = String(sub.json["job_id"]);
    const meta = await watcher.wait(jobId, (s) => s.startsWith("FINISHED:"), 150_000);
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    const denied = auditRecords(kit("site-1")).find((r) => r["job"] === jobId && r["action"] === "job.deploy" && r["outcome"] === "denied");
    assert.match(String(denied?.["reason"]), /privacy scope 'public' is not usable at site-1: .*AddNoiseToMinMax/);
    assert.ok(
      auditRecords(kit("site-2")).some((r) => r["job"] === jobId && r["action"] === "task.received"),
      "site-2 ran the job",
    );
    assert.ok(
      sites.get("site-1")?.pid && (await Promise.race([sites.get("site-1")?.exited, Promise.resolve("running")])) === "running",
      "site-1 keeps running",
    );
  });
});

test("a site whose policy files cannot be used lists every problem once and exits with status 4", { timeout: 120_000 }, async () => {
  const { provisionProject } = await import("../helpers/processes.js");
  const { prodDir } = await provisionProject("http", "mtls", { name: "broken_policy" });
  const site = join(prodDir, "site-1");
  writeFile(
    join(site, "local", "privacy.json"),
    JSON.stringify({
      scopes: [
        { name: "a", task_result_filter: [] },
        { name: "a", budget: { epsilon: 0 } },
      ],
      default_scope: "nope",
    }),
  );
  writeFile(join(site, "local", "authorization.json"), JSON.stringify({ format_version: 1.0, permissions: { lead: { submit_job: "x:site" } } }));
  const r = await runCli(["start", site], {}, { timeoutMs: 90_000 });
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 4, out);
  assert.match(out, /ERR_SITE_POLICY_FILES/);
  assert.match(out, /site-1: 6 problems in its local\/ policy files; it does not start until they are fixed/);
  for (const re of [
    /authorization\.json: format_version/,
    /authorization\.json: permissions\.lead\.submit_job: unknown condition type "x:"/,
    /privacy\.json: \$\.scopes\[0\]: .*task_result_filter/,
    /privacy\.json: \$\.scopes\[1\]\.name: duplicate scope name "a"/,
    /privacy\.json: \$\.scopes\[1\]\.budget\.epsilon/,
    /privacy\.json: \$\.default_scope: names no scope/,
  ])
    assert.equal(out.split("\n").filter((l) => re.test(l)).length, 1, `${re} once:\n${out}`);
  assert.doesNotMatch(out, /connected to/);
});
