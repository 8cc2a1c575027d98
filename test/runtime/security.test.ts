/**
 * Federated authorization, signed jobs and commands, component safety and bans, with real
 * processes: a server and three sites (`cohort start`), admins of every role (`cohort admin`).
 * Each site keeps the last word: refusals name the refusing site and leave an audit line there.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JOB_SIGNATURE_FILE, signJob } from "../../src/pki/index.js";
import { AdminSession } from "../../src/runtime/index.js";
import { packFolder } from "../../src/runtime/jobs/archive.js";
import { REPO_ROOT, writeFile } from "../helpers/index.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, auditRecords, startParticipantProcess, type AdminCliResult, type CohortProcess } from "../helpers/processes.js";

const SITES = ["site-1", "site-2", "site-3"];
const ADMINS = { pa: "admin@nvidia.com", lead: "lead@org-a.org", orgb: "orgadmin@org-b.org", member: "member@org-c.org" };
let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);

const admin = (who: string, command: string): Promise<AdminCliResult> => adminCli(kit(who), command, 60_000);

const auditOf = (participant: string): Record<string, unknown>[] => auditRecords(kit(participant));

async function waitFinished(jobId: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const s = await AdminSession.open(kit(ADMINS.pa));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = (await s.run(`get_job_meta ${jobId}`)) as Record<string, unknown>;
      if (String(m["status"]).startsWith("FINISHED:")) return m;
      if (Date.now() > deadline) assert.fail(`job ${jobId} not finished: ${JSON.stringify(m)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await s.close();
  }
}

/** A quick job from the hello-fedavg example (2 rounds, small data), optionally with custom code. */
function quickJob(name: string, opts: { byoc?: boolean; minClients?: number; rounds?: number } = {}): string {
  const dst = join(dir, "jobs", name);
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), dst, { recursive: true });
  const meta = JSON.parse(readFileSync(join(dst, "meta.json"), "utf8")) as Record<string, unknown>;
  meta["name"] = name;
  meta["min_clients"] = opts.minClients ?? 2;
  writeFile(join(dst, "meta.json"), JSON.stringify(meta));
  const srv = JSON.parse(readFileSync(join(dst, "app/config/config_fed_server.json"), "utf8")) as { workflows: { args: Record<string, unknown> }[] };
  Object.assign(srv.workflows[0]?.args ?? {}, { num_rounds: opts.rounds ?? 2, min_clients: opts.minClients ?? 2, wait_time_after_min_received: 1 });
  writeFile(join(dst, "app/config/config_fed_server.json"), JSON.stringify(srv));
  const cli = JSON.parse(readFileSync(join(dst, "app/config/config_fed_client.json"), "utf8")) as {
    executors: { executor: { args: Record<string, unknown> } }[];
  };
  Object.assign(cli.executors[0]?.executor.args ?? {}, { max_train_samples: 1000 });
  writeFile(join(dst, "app/config/config_fed_client.json"), JSON.stringify(cli));
  if (opts.byoc) writeFile(join(dst, "app/custom/notes.js"), "export const note = 'custom code makes this job BYOC';\n");
  return dst;
}

before(async () => {
  const fed = await startFederation({
    project: "security_test",
    sites: SITES,
    orgOf: (s) => `org_${"abc"[Number(s.slice(-1)) - 1] ?? "x"}`,
    admins: [
      { name: ADMINS.pa, org: "nvidia", role: "project_admin" },
      { name: ADMINS.lead, org: "org_a", role: "lead" },
      { name: ADMINS.orgb, org: "org_b", role: "org_admin" },
      { name: ADMINS.member, org: "org_c", role: "member" },
    ],
    // site-3 forbids bring-your-own-code for leads; site-2 allows only the built-in trainer's path.
    prepare: (kit) => {
      const authz = JSON.parse(readFileSync(join(kit("site-3"), "local", "authorization.json.default"), "utf8")) as {
        permissions: Record<string, Record<string, string>>;
      };
      (authz.permissions["lead"] ?? {})["byoc"] = "none";
      writeFile(join(kit("site-3"), "local", "authorization.json"), JSON.stringify(authz));
    },
  });
  ({ dir, prodDir, server } = fed);
  for (const [name, p] of fed.sites) sites.set(name, p);
});

after(() => stopFederation(server, sites.values()));

describe("federated authorization", () => {
  test("a member cannot submit; the refusal names the server and is audited there", async () => {
    const r = await admin(ADMINS.member, `submit_job ${quickJob("member-job")}`);
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /NOT_AUTHORIZED by localhost: submit_job for member@org-c\.org \(member/);
    assert.ok(auditOf("localhost").some((l) => l["action"] === "admin.submit_job" && l["outcome"] === "denied" && l["user"] === ADMINS.member));
  });

  test("a lead can abort only its own jobs", { timeout: 120_000 }, async () => {
    const own = await admin(ADMINS.lead, `submit_job ${quickJob("lead-own", { rounds: 200 })}`);
    assert.equal(own.code, 0, own.text);
    const other = await admin(ADMINS.pa, `submit_job ${quickJob("pa-job", { rounds: 200 })}`);
    assert.equal(other.code, 0, other.text);
    const denied = await admin(ADMINS.lead, `abort_job ${String(other.json["job_id"])}`);
    assert.equal(denied.code, 1);
    assert.match(denied.text, /NOT_AUTHORIZED by localhost: abort_job/);
    const mine = await admin(ADMINS.lead, `abort_job ${String(own.json["job_id"])}`);
    assert.equal(mine.code, 0, mine.text);
    await admin(ADMINS.pa, `abort_job ${String(other.json["job_id"])}`);
  });

  test("an org_admin operates only its own site; the other site refuses by itself", async () => {
    const ownSite = await admin(ADMINS.orgb, "sys_info site-2");
    assert.equal(ownSite.code, 0, ownSite.text);
    assert.equal((ownSite.json["site-2"] as Record<string, unknown>)["site"], "site-2");
    const otherSite = await admin(ADMINS.orgb, "sys_info site-1");
    assert.equal(otherSite.code, 1);
    assert.match(otherSite.text, /NOT_AUTHORIZED by site-1: sys_info for orgadmin@org-b\.org/);
    assert.ok(
      auditOf("site-1").some((l) => l["action"] === "admin.sys_info" && l["outcome"] === "denied" && typeof l["ref"] === "string"),
      "site-1 audits the refusal, referencing the server's event",
    );
  });

  test("a site whose policy forbids byoc refuses a BYOC job the server accepted; it runs on the others", { timeout: 150_000 }, async () => {
    const r = await admin(ADMINS.lead, `submit_job ${quickJob("lead-byoc", { byoc: true })}`);
    assert.equal(r.code, 0, r.text);
    const meta = await waitFinished(String(r.json["job_id"]));
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    assert.deepEqual(meta["job_clients"], ["site-1", "site-2"]);
    assert.match(String(meta["status_reason"]), /site-3: .*NOT_AUTHORIZED by site-3: byoc/);
    assert.ok(auditOf("site-3").some((l) => l["action"] === "job.deploy" && l["outcome"] === "denied" && /byoc/.test(String(l["reason"]))));
  });
});

describe("signed jobs and commands", () => {
  const credsOf = (who: string): { certPem: string; keyPem: string } => {
    const startup = join(kit(who), "startup");
    return { certPem: readFileSync(join(startup, "client.crt"), "utf8"), keyPem: readFileSync(join(startup, "client.key"), "utf8") };
  };

  /** A job signed as the console signs it (FLARE's per-file files, then the manifest), then changed. */
  async function signedArchive(change: (d: string) => void, o: { job?: string; at?: Date; byoc?: boolean; minClients?: number } = {}): Promise<Uint8Array> {
    const tmp = mkdtempSync(join(tmpdir(), "cohort-tamper-"));
    try {
      const name = o.job ?? `tamper-${Math.random().toString(16).slice(2, 8)}`;
      cpSync(quickJob(name, { byoc: o.byoc ?? false, ...(o.minClients ? { minClients: o.minClients } : {}) }), tmp, { recursive: true });
      signJob(tmp, credsOf(ADMINS.pa), { jobName: name, ...(o.at ? { at: o.at } : {}) });
      change(tmp);
      return await packFolder(tmp);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** FLARE's signature map of a folder, edited in place (what a holder of signed jobs can do). */
  function editSigMap(folder: string, edit: (map: Record<string, string>) => void): void {
    const file = join(folder, JOB_SIGNATURE_FILE);
    const map = JSON.parse(readFileSync(file, "utf8")) as Record<string, string>;
    edit(map);
    writeFile(file, JSON.stringify(map));
  }

  /** Moves a file and its FLARE signature entry (the per-file scheme still verifies). */
  function moveWithEntry(root: string, from: string, to: string): void {
    const [fromDir, fromName] = [join(root, from, ".."), from.split("/").pop() ?? from];
    const [toDir, toName] = [join(root, to, ".."), to.split("/").pop() ?? to];
    let sig = "";
    editSigMap(fromDir, (m) => {
      sig = m[fromName] ?? "";
      delete m[fromName];
    });
    mkdirSync(toDir, { recursive: true });
    renameSync(join(root, from), join(root, to));
    editSigMap(toDir, (m) => {
      m[toName] = sig;
    });
  }

  async function waitFinishedAt(jobId: string): Promise<Record<string, unknown>> {
    return waitFinished(jobId, 120_000);
  }

  test("a file dropped, renamed or moved with its FLARE entry, or transplanted from another signed job, is refused at submit and audited", {
    timeout: 120_000,
  }, async () => {
    const s = await AdminSession.open(kit(ADMINS.pa));
    try {
      // Job B: same signer, another client config (as if without the DP filter the submitter put in A).
      const otherTmp = mkdtempSync(join(tmpdir(), "cohort-other-"));
      cpSync(quickJob("other-job", { byoc: true }), otherTmp, { recursive: true });
      const cfg = join(otherTmp, "app", "config", "config_fed_client.json");
      writeFile(cfg, readFileSync(cfg, "utf8").replace('"max_train_samples":1000', '"max_train_samples":500'));
      signJob(otherTmp, credsOf(ADMINS.pa), { jobName: "other-job" });
      const cases: [string, (d: string) => void, RegExp][] = [
        [
          "dropped",
          (d) => {
            editSigMap(join(d, "app", "custom"), (m) => delete m["notes.js"]);
            unlinkSync(join(d, "app", "custom", "notes.js"));
          },
          /app\/custom\/(notes\.js was removed|\.__nvfl_sig\.json was changed) after signing/,
        ],
        [
          "renamed",
          (d) => moveWithEntry(d, "app/custom/notes.js", "app/custom/renamed.js"),
          /app\/custom\/(renamed\.js was added|\.__nvfl_sig\.json was changed) after signing/,
        ],
        [
          "moved",
          (d) => moveWithEntry(d, "app/custom/notes.js", "app/notes.js"),
          /app\/(notes\.js was added|\.__nvfl_sig\.json was changed|custom\/\.__nvfl_sig\.json was changed) after signing/,
        ],
        [
          "transplanted",
          (d) => {
            cpSync(cfg, join(d, "app", "config", "config_fed_client.json"));
            const theirs = JSON.parse(readFileSync(join(otherTmp, "app", "config", JOB_SIGNATURE_FILE), "utf8")) as Record<string, string>;
            editSigMap(join(d, "app", "config"), (m) => {
              m["config_fed_client.json"] = theirs["config_fed_client.json"] ?? "";
            });
          },
          /app\/config\/(config_fed_client\.json|\.__nvfl_sig\.json) was changed after signing/,
        ],
      ];
      for (const [what, change, re] of cases) {
        await assert.rejects(
          s.submitArchive(await signedArchive(change, { byoc: true, job: `${what}-job` })),
          (e: { code?: string; message: string }) => {
            assert.equal(e.code, "ERR_JOB_TAMPERED", `${what}: ${e.message}`);
            assert.match(e.message, re, what);
            return true;
          },
          what,
        );
        assert.ok(
          auditOf("localhost").some(
            (l) => l["action"] === "admin.submit_job" && l["outcome"] === "denied" && l["code"] === "ERR_JOB_TAMPERED" && re.test(String(l["reason"])),
          ),
          `${what}: the server audits the refusal with its reason`,
        );
      }
      rmSync(otherTmp, { recursive: true, force: true });
    } finally {
      await s.close();
    }
  });

  test("a signed submission replayed under a new job id is refused by the sites, naming the first job", { timeout: 300_000 }, async () => {
    const archive = await signedArchive(() => undefined, { job: "replayed-job", minClients: 1 });
    const s = await AdminSession.open(kit(ADMINS.pa));
    try {
      const first = String(((await s.submitArchive(archive)) as Record<string, unknown>)["job_id"]);
      assert.equal((await waitFinishedAt(first))["status"], "FINISHED:COMPLETED");
      const again = String(((await s.submitArchive(archive)) as Record<string, unknown>)["job_id"]);
      const meta = await waitFinishedAt(again);
      assert.notEqual(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
      assert.match(String(meta["status_reason"]), /already deployed here as job/, JSON.stringify(meta));
      for (const site of SITES) {
        const line = auditOf(site).find((l) => l["action"] === "job.deploy" && l["outcome"] === "denied" && l["job"] === again);
        assert.equal(line?.["code"], "ERR_JOB_REPLAYED", `${site}: ${JSON.stringify(line)}`);
        assert.match(String(line?.["reason"]), new RegExp(`already deployed here as job ${first}`));
      }
    } finally {
      await s.close();
    }
  });

  test("a manifest older than job_manifest_max_age_days is refused at first deployment", { timeout: 300_000 }, async () => {
    const archive = await signedArchive(() => undefined, { job: "expired-job", minClients: 1, at: new Date(Date.now() - 40 * 86_400_000) });
    const s = await AdminSession.open(kit(ADMINS.pa));
    try {
      const id = String(((await s.submitArchive(archive)) as Record<string, unknown>)["job_id"]);
      const meta = await waitFinishedAt(id);
      assert.notEqual(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
      assert.match(String(meta["status_reason"]), /job_manifest_max_age_days \(30\)/, JSON.stringify(meta));
      const line = auditOf("site-1").find((l) => l["action"] === "job.deploy" && l["outcome"] === "denied" && l["job"] === id);
      assert.equal(line?.["code"], "ERR_JOB_MANIFEST_EXPIRED", JSON.stringify(line));
    } finally {
      await s.close();
    }
  });

  test("clone_job re-signs a fresh manifest with the cloner's key: the clone runs, signed by the cloner", { timeout: 300_000 }, async () => {
    const src = await admin(ADMINS.lead, `submit_job ${quickJob("clone-source", { minClients: 1 })}`);
    assert.equal(src.code, 0, src.text);
    const srcId = String(src.json["job_id"]);
    assert.equal((await waitFinishedAt(srcId))["status"], "FINISHED:COMPLETED");
    const clone = await admin(ADMINS.pa, `clone_job ${srcId}`);
    assert.equal(clone.code, 0, clone.text);
    const cloneId = String(clone.json["job_id"]);
    assert.notEqual(cloneId, srcId);
    const meta = await waitFinishedAt(cloneId);
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    assert.equal(meta["submitter_name"], ADMINS.pa);
    // Each site took the clone as signed by the cloner (the submitter comes from the verified manifest).
    const deployed = auditOf("site-1").find((l) => l["action"] === "job.deployed" && l["job"] === cloneId);
    assert.equal(deployed?.["user"], ADMINS.pa, JSON.stringify(deployed));
    // The second step of clone_job must carry the stored job's files: other content, even signed by the caller, is refused.
    const s = await AdminSession.open(kit(ADMINS.pa));
    try {
      const other = await signedArchive((d) => writeFile(join(d, "app", "custom", "extra.js"), "export const x = 1;\n"), { job: "clone-source" });
      const call = (s as unknown as { call: (cmd: string, args: string[], archive: Uint8Array) => Promise<unknown> }).call.bind(s);
      await assert.rejects(
        call("clone_job", [srcId], other),
        (e: { code?: string; message: string }) => e.code === "ERR_JOB_TAMPERED" && /is not the stored job/.test(e.message),
      );
      assert.ok(auditOf("localhost").some((l) => l["action"] === "admin.clone_job" && l["outcome"] === "denied" && l["code"] === "ERR_JOB_TAMPERED"));
    } finally {
      await s.close();
    }
  });

  test("a job changed, added to or cut after signing is refused; an unsigned one too", async () => {
    const s = await AdminSession.open(kit(ADMINS.pa));
    try {
      const cases: [string, (d: string) => void, RegExp][] = [
        [
          "changed",
          (d) => writeFile(join(d, "meta.json"), readFileSync(join(d, "meta.json"), "utf8").replace('"min_clients":2', '"min_clients":1')),
          /meta\.json was changed after signing/,
        ],
        ["added", (d) => writeFile(join(d, "app", "custom", "evil.js"), "export const x = 1;\n"), /(custom|evil\.js) was added after signing/],
        ["removed", (d) => unlinkSync(join(d, "app", "config", "config_fed_client.json")), /config_fed_client\.json was removed after signing|missing/],
      ];
      for (const [what, change, re] of cases) {
        await assert.rejects(s.submitArchive(await signedArchive(change)), (e: Error) => re.test(e.message), what);
      }
      const unsigned = await packFolder(quickJob("unsigned"));
      await assert.rejects(s.submitArchive(unsigned), (e: { code?: string; message: string }) => /not signed/.test(e.message));
    } finally {
      await s.close();
    }
  });

  test("an unlisted component stops the job at that site only", { timeout: 150_000 }, async () => {
    // site-2 allows only the workflow-side built-ins: its trainer is not listed.
    const res = JSON.parse(readFileSync(join(kit("site-2"), "local", "resources.json.default"), "utf8")) as Record<string, unknown>;
    res["class_allow_list"] = ["cohort.NoOpTrainer"];
    writeFile(join(kit("site-2"), "local", "resources.json"), JSON.stringify(res));
    const p = sites.get("site-2");
    await p?.stop();
    sites.set("site-2", startParticipantProcess(kit("site-2")));
    await server.waitFor(/client site-2 .* logged in/, 30_000, server.mark());
    const r = await admin(ADMINS.pa, `submit_job ${quickJob("allow-list")}`);
    const meta = await waitFinished(String(r.json["job_id"]));
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    assert.deepEqual(meta["job_clients"], ["site-1", "site-3"]);
    assert.match(String(meta["status_reason"]), /site-2: .*cohort\.FashionMnistTrainer.* not in this site's class_allow_list/);
  });

  test("a site without bubblewrap refuses custom code (ERR_JOB_UNCONFINED) and still runs built-in jobs", { timeout: 150_000 }, async () => {
    // site-1 restarted with no bwrap on its PATH: it says so at start and refuses to run BYOC unconfined.
    await sites.get("site-1")?.stop();
    const mark = server.mark();
    const bare = startParticipantProcess(kit("site-1"), { env: { PATH: "/nonexistent" } });
    sites.set("site-1", bare);
    await bare.waitFor(/WARNING: job code is NOT confined by the operating system .*bubblewrap/, 30_000);
    await server.waitFor(/client site-1 .* logged in/, 30_000, mark);
    const byoc = await admin(ADMINS.pa, `submit_job ${quickJob("unconfined-byoc", { byoc: true, minClients: 1 })}`);
    const meta = await waitFinished(String(byoc.json["job_id"]));
    assert.equal(meta["status"], "FINISHED:COMPLETED", JSON.stringify(meta));
    assert.ok(!(meta["job_clients"] as string[]).includes("site-1"));
    assert.match(String(meta["status_reason"]), /site-1: .*does not run custom code or scripts unconfined: bubblewrap is missing/);
    assert.ok(auditOf("site-1").some((l) => l["action"] === "job.deploy" && l["outcome"] === "denied" && l["code"] === "ERR_JOB_UNCONFINED"));
    const builtIn = await admin(ADMINS.pa, `submit_job ${quickJob("unconfined-builtin", { minClients: 1 })}`);
    const meta2 = await waitFinished(String(builtIn.json["job_id"]));
    assert.equal(meta2["status"], "FINISHED:COMPLETED", JSON.stringify(meta2));
    assert.ok((meta2["job_clients"] as string[]).includes("site-1"), JSON.stringify(meta2));
    assert.ok(auditOf("site-1").some((l) => l["action"] === "job.deployed" && /NOT confined/.test(String(l["reason"]))));
    await bare.stop();
    const back = server.mark();
    sites.set("site-1", startParticipantProcess(kit("site-1")));
    await server.waitFor(/client site-1 .* logged in/, 30_000, back);
  });
});

describe("bans", () => {
  test("a removed site is disconnected, stays out after a server restart, and comes back with enable_client", { timeout: 120_000 }, async () => {
    const r = await admin(ADMINS.pa, "remove_client site-3");
    assert.equal(r.code, 0, r.text);
    await server.waitFor(/site-3 disconnected/, 20_000);
    await server.stop();
    server = startParticipantProcess(kit("localhost"), { server: true });
    await server.waitFor(/listening on/);
    await server.waitFor(/refused login\.refused from site-3 .*ERR_AUTH_BANNED/, 40_000);
    const status = await admin(ADMINS.pa, "check_status server");
    assert.ok(!(status.json["clients"] as string[]).includes("site-3"));
    assert.deepEqual(status.json["removed_clients"], ["site-3"]);
    const back = await admin(ADMINS.pa, "enable_client site-3");
    assert.equal(back.code, 0, back.text);
    await server.waitFor(/client site-3 .* logged in/, 45_000);
  });
});
