/**
 * Privacy end to end with real processes: a server and two sites (`cohort start`), jobs submitted
 * with `cohort admin`. site-1 has a local/privacy.json whose default scope forces a Gaussian filter
 * with a small budget; site-2 has none.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, editJsonFile, type EditableJson, writeFile } from "../helpers/index.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, JobWatcher, type AdminCliResult, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2"];
const ADMIN = "admin@nvidia.com";
let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);

const admin = (command: string): Promise<AdminCliResult> => adminCli(kit(ADMIN), command, 120_000);

const watcher = new JobWatcher(
  () => kit(ADMIN),
  () => server.output.slice(-2000),
);
const finished = (jobId: string, timeoutMs = 120_000): Promise<Record<string, unknown>> => watcher.wait(jobId, (s) => s.startsWith("FINISHED:"), timeoutMs);

/** The hello-dp example with changes: 2 rounds, few samples, no job filter (the site forces one). */
function job(name: string, scope?: string): string {
  const dst = join(dir, "jobs", name);
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-dp"), dst, { recursive: true });
  const rw = (p: string, f: (j: EditableJson) => void): void => editJsonFile(join(dst, p), f);
  rw("meta.json", (m) => {
    m["name"] = name;
    if (scope) m["scope"] = scope;
  });
  rw("app/config/config_fed_server.json", (s) => Object.assign(s["workflows"][0]["args"], { num_rounds: 2, wait_time_after_min_received: 1 }));
  rw("app/config/config_fed_client.json", (c) => {
    c["task_result_filters"] = [];
    Object.assign(c["executors"][0]["executor"]["args"], { max_train_samples: 200 });
  });
  return dst;
}

const auditLines = (site: string): Record<string, unknown>[] =>
  readFileSync(join(kit(site), "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

before(async () => {
  const fed = await startFederation({
    project: "privacy_test",
    sites: SITES,
    admin: ADMIN,
    prepare: (kit) => {
      writeFile(
        join(kit("site-1"), "local", "privacy.json"),
        JSON.stringify({
          scopes: [
            { name: "public", task_result_filters: [{ name: "ExcludeVars", args: { exclude_vars: [] } }] },
            {
              name: "private",
              properties: { note: "patients" },
              task_result_filters: [{ name: "GaussianPrivacy", args: { clip_norm: 0.1, epsilon: 0.6, delta: 1e-6 } }],
              budget: { epsilon: 1.0, delta: 1e-5 },
            },
          ],
          default_scope: "private",
        }),
      );
    },
  });
  ({ dir, prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values(), watcher));

describe("privacy federation", () => {
  test("site-1's default scope forces the Gaussian filter; its budget runs out in round 2, the job goes on with site-2", { timeout: 180_000 }, async () => {
    const sub = await admin(`submit_job ${job("dp-budget")}`);
    assert.equal(sub.code, 0, sub.text);
    const jobId = String(sub.json["job_id"]);
    const meta = await finished(jobId);
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    const out = sites.get("site-1")?.output ?? "";
    assert.match(out, /GaussianPrivacy: update norm .* σ=/, "site-1 filtered its round-1 update");
    assert.doesNotMatch(sites.get("site-2")?.output ?? "", /GaussianPrivacy/);
    const audit = auditLines("site-1").filter((l) => l["job"] === jobId);
    const charged = audit.filter((l) => l["action"] === "privacy.charged");
    assert.equal(charged.length, 1, "one charge fits in the budget");
    const refused = audit.find((l) => l["action"] === "privacy.budget" && l["outcome"] === "denied");
    assert.ok(refused, JSON.stringify(audit));
    assert.match(String(refused["reason"]), /train: privacy budget of scope 'private' exhausted: GaussianPrivacy needs ε=0\.6.*spent ε=0\.6 of 1/);
    assert.ok(audit.some((l) => l["action"] === "task.executed" && l["outcome"] === "error" && /privacy budget/.test(String(l["reason"]))));
    assert.match(server.output, /train at site-1 failed, dropped from this round: .*privacy budget of scope 'private' exhausted/);
    const ledger = JSON.parse(readFileSync(join(kit("site-1"), "workspace", "privacy_budget.json"), "utf8")) as {
      scopes: Record<string, { total: { epsilon: number } }>;
    };
    assert.equal(ledger.scopes["private"]?.total.epsilon, 0.6);

    const budget = await admin("show_privacy_budget site-1");
    assert.equal(budget.code, 0, budget.text);
    assert.match(budget.text, /private/);
    assert.match(budget.text, new RegExp(jobId));
    const scopes = await admin("show_scopes site-1");
    assert.equal(scopes.code, 0, scopes.text);
    assert.match(scopes.text, /GaussianPrivacy/);
    assert.match(scopes.text, /public/);
  });

  test("a job naming a scope site-1 does not have is refused there at deploy and runs on site-2", { timeout: 120_000 }, async () => {
    const sub = await admin(`submit_job ${job("dp-secret", "secret")}`);
    assert.equal(sub.code, 0, sub.text);
    const jobId = String(sub.json["job_id"]);
    const meta = await finished(jobId);
    assert.match(
      String(meta["status_reason"]),
      /site-1: .*privacy scope 'secret' is not allowed at site-1 \(its scopes: public, private\)/,
      JSON.stringify(meta),
    );
    const denied = auditLines("site-1").find((l) => l["job"] === jobId && l["action"] === "job.deploy" && l["outcome"] === "denied");
    assert.match(String(denied?.["reason"]), /privacy scope 'secret' is not allowed at site-1/);
    assert.ok(!auditLines("site-1").some((l) => l["job"] === jobId && l["action"] === "task.received"), "site-1 ran nothing");
  });
});
