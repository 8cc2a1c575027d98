/**
 * Signed job manifests at the sites, with real processes: a server (or whoever holds its job
 * store, which keeps every signed job.tgz) deploys a job its submitter signed with a file dropped,
 * renamed or moved together with its FLARE signature entry, or with a file transplanted from
 * another job by the same signer. The server checked the submitted job; each site checks what it
 * is given against the manifest itself, refuses, and audits the refusal with the file's name.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JOB_SIGNATURE_FILE, signJob } from "../../src/pki/index.js";
import { AdminSession } from "../../src/runtime/index.js";
import { packFolder } from "../../src/runtime/jobs/archive.js";
import { REPO_ROOT, writeFile } from "../helpers/index.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { auditRecords, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2"];
const ADMIN = "admin@nvidia.com";
let dir = "";
let prodDir = "";
let tamperDir = "";
let server: CohortProcess;
let sites: Map<string, CohortProcess>;

const serverOptions = (): { env: Record<string, string>; preloads: string[] } => ({
  env: { COHORT_TAMPER_DEPLOY_DIR: tamperDir },
  preloads: [join(REPO_ROOT, "test", "helpers", "tamper-deploy.ts")],
});

before(async () => {
  tamperDir = mkdtempSync(join(tmpdir(), "cohort-tamper-deploy-"));
  const fed = await startFederation({
    project: "manifest_test",
    sites: SITES,
    admin: ADMIN,
    server: serverOptions(),
  });
  ({ dir, prodDir, server, sites } = fed);
});

after(async () => {
  await stopFederation(server, sites.values());
  rmSync(tamperDir, { recursive: true, force: true });
});

const creds = (): { certPem: string; keyPem: string } => {
  const startup = join(prodDir, ADMIN, "startup");
  return { certPem: readFileSync(join(startup, "client.crt"), "utf8"), keyPem: readFileSync(join(startup, "client.key"), "utf8") };
};

/** hello-fedavg, 1 round, with a custom file standing for the DP filter its submitter put in; signed by the admin. */
function signedJob(name: string, filter = "export const dp = 'on';\n", rounds = 1, extraMeta: Record<string, unknown> = {}): string {
  const d = join(dir, "jobs", name);
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), d, { recursive: true });
  const meta = JSON.parse(readFileSync(join(d, "meta.json"), "utf8")) as Record<string, unknown>;
  writeFile(join(d, "meta.json"), JSON.stringify({ ...meta, name, min_clients: 1, ...extraMeta }));
  const srv = JSON.parse(readFileSync(join(d, "app/config/config_fed_server.json"), "utf8")) as { workflows: { args: Record<string, unknown> }[] };
  Object.assign(srv.workflows[0]?.args ?? {}, { num_rounds: rounds, min_clients: 1, wait_time_after_min_received: 1 });
  writeFile(join(d, "app/config/config_fed_server.json"), JSON.stringify(srv));
  mkdirSync(join(d, "app", "custom"), { recursive: true });
  writeFile(join(d, "app", "custom", "filter.js"), filter);
  signJob(d, creds(), { jobName: name });
  return d;
}

function editSigMap(folder: string, edit: (m: Record<string, string>) => void): void {
  const file = join(folder, JOB_SIGNATURE_FILE);
  const m = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
  edit(m);
  writeFileSync(file, JSON.stringify(m));
}

async function waitFinished(
  s: AdminSession,
  id: string,
  done = (m: Record<string, unknown>) => String(m["status"]).startsWith("FINISHED:"),
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = (await s.run(`get_job_meta ${id}`)) as Record<string, unknown>;
    if (done(m)) return m;
    if (Date.now() > deadline) assert.fail(`job ${id} not finished: ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("a site checks the deployed job against its manifest", () => {
  const cases: [string, (d: string) => void, RegExp][] = [
    [
      "dropped",
      (d) => {
        editSigMap(join(d, "app", "custom"), (m) => delete m["filter.js"]);
        unlinkSync(join(d, "app", "custom", "filter.js"));
      },
      /app\/custom\/(filter\.js was removed|\.__nvfl_sig\.json was changed) after signing/,
    ],
    [
      "renamed",
      (d) => {
        editSigMap(join(d, "app", "custom"), (m) => {
          m["renamed.js"] = m["filter.js"] ?? "";
          delete m["filter.js"];
        });
        renameSync(join(d, "app", "custom", "filter.js"), join(d, "app", "custom", "renamed.js"));
      },
      /app\/custom\/(renamed\.js was added|\.__nvfl_sig\.json was changed) after signing/,
    ],
    [
      "transplanted",
      (d) => {
        // The same admin's other job, with the filter switched off: its file and its FLARE signature.
        const other = signedJob(`other-${Math.random().toString(16).slice(2, 8)}`, "export const dp = 'off';\n");
        cpSync(join(other, "app", "custom", "filter.js"), join(d, "app", "custom", "filter.js"));
        const theirs = JSON.parse(readFileSync(join(other, "app", "custom", JOB_SIGNATURE_FILE), "utf8")) as Record<string, string>;
        editSigMap(join(d, "app", "custom"), (m) => {
          m["filter.js"] = theirs["filter.js"] ?? "";
        });
      },
      /app\/custom\/(filter\.js|\.__nvfl_sig\.json) was changed after signing/,
    ],
  ];
  for (const [what, change, re] of cases) {
    test(`a file ${what} with its FLARE entry on the way to the sites: each site refuses and audits it`, { timeout: 180_000 }, async () => {
      const name = `deploy-${what}`;
      const job = signedJob(name);
      const tampered = mkdtempSync(join(tmpdir(), "cohort-tampered-"));
      cpSync(job, tampered, { recursive: true });
      change(tampered);
      writeFileSync(join(tamperDir, `${name}.tgz`), await packFolder(tampered));
      rmSync(tampered, { recursive: true, force: true });
      const s = await AdminSession.open(join(prodDir, ADMIN));
      try {
        const r = (await s.submitArchive(await packFolder(job))) as Record<string, unknown>;
        const id = String(r["job_id"]);
        const meta = await waitFinished(s, id);
        assert.notEqual(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
        for (const site of SITES) {
          const line = auditRecords(join(prodDir, site)).find((l) => l["action"] === "job.deploy" && l["outcome"] === "denied" && l["job"] === id);
          assert.equal(line?.["code"], "ERR_JOB_TAMPERED", `${site}: ${JSON.stringify(line)}`);
          assert.match(String(line?.["reason"]), re, site);
        }
      } finally {
        await s.close();
      }
    });
  }
});

describe("the same job deployed again is not a replay", () => {
  test("the server and a site restarted mid-job: the job resumes under its id at the site, which reloaded its nonces", { timeout: 240_000 }, async () => {
    // site-1 is mandatory: the resumed job waits for it instead of going on with the other site while it restarts.
    const job = signedJob("resumed-job", "export const dp = 'on';\n", 6, { mandatory_clients: ["site-1"] });
    let s = await AdminSession.open(join(prodDir, ADMIN));
    const id = String(((await s.submitArchive(await packFolder(job))) as Record<string, unknown>)["job_id"]);
    await waitFinished(s, id, (m) => ((m["rounds"] as unknown[] | undefined) ?? []).length >= 1);
    await s.close();
    server.kill();
    await server.exited;
    await sites.get("site-1")?.stop();
    sites.set("site-1", startParticipantProcess(join(prodDir, "site-1")));
    const o = serverOptions();
    server = startParticipantProcess(join(prodDir, "localhost"), { server: true, env: o.env, nodeArgs: o.preloads.flatMap((m) => ["--import", m]) });
    await server.waitFor(/listening on/);
    await server.waitFor(/client site-1 .* logged in/, 60_000);
    s = await AdminSession.open(join(prodDir, ADMIN));
    try {
      const meta = await waitFinished(s, id);
      assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
      assert.equal(meta["resumed_count"], 1);
      const lines = auditRecords(join(prodDir, "site-1")).filter((l) => l["job"] === id);
      assert.ok(
        lines.filter((l) => l["action"] === "job.deployed").length >= 2,
        `site-1 deployed the job twice: ${JSON.stringify(lines.filter((l) => String(l["action"]).startsWith("job.deploy")))}`,
      );
      assert.ok(!lines.some((l) => l["code"] === "ERR_JOB_REPLAYED"));
    } finally {
      await s.close();
    }
  });
});
