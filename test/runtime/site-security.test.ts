/**
 * What each site checks by itself, whatever the server says: job signatures (a compromised server
 * cannot slip in a changed job) and signed admin commands (it cannot forge, alter or replay them).
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { signJob } from "../../src/pki/index.js";
import { signCommand } from "../../src/auth/index.js";
import { AuditLog } from "../../src/audit/index.js";
import { loadJobFolder } from "../../src/runtime/index.js";
import { clearJobForSite, type SiteSecurityOptions } from "../../src/runtime/site/security.js";
import { SiteAdmin } from "../../src/runtime/site/admin.js";
import { authorize, parsePolicy } from "../../src/authz/index.js";
import { DEFAULT_AUTHORIZATION } from "../../src/provision/index.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { provisionTestProject, type TestProject } from "../helpers/secure-session.js";

let p: TestProject;
before(async () => {
  p = await provisionTestProject();
});

const creds = (name: string): { certPem: string; keyPem: string } => ({ certPem: p.kit(name).certPem, keyPem: p.kit(name).keyPem });

function security(requireSignedJobs = true): SiteSecurityOptions {
  const policy = parsePolicy(DEFAULT_AUTHORIZATION, "authorization.json.default");
  return {
    site: "site-1",
    rootPem: p.server.rootPem,
    requireSignedJobs,
    authorize: (r) => authorize(policy, { ...r, siteOrg: "org_a" }),
    components: { mode: "enforce" },
  };
}

/** Signs as the console does: FLARE's per-file signatures, then the manifest over everything. */
function signJobFolder(d: string, signer: { certPem: string; keyPem: string }): void {
  signJob(d, signer, { jobName: loadJobFolder(d).meta.name });
}

function jobCopy(): string {
  const d = join(tempDir("cohort-sitesec-"), "job");
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), d, { recursive: true });
  return d;
}

describe("job signatures at a site", () => {
  test("a job signed by a project admin is cleared, the signer is the submitter", () => {
    const d = jobCopy();
    signJobFolder(d, creds("admin@nvidia.com"));
    const c = clearJobForSite(security(), d, loadJobFolder(d), "app");
    assert.equal(c.submitter?.name, "admin@nvidia.com");
    assert.equal(c.submitter?.role, "project_admin");
    assert.equal(c.byoc, false);
  });

  test("changed after signing: refused, naming the site and the file", () => {
    const d = jobCopy();
    signJobFolder(d, creds("admin@nvidia.com"));
    writeFileSync(
      join(d, "app", "config", "config_fed_client.json"),
      readFileSync(join(d, "app", "config", "config_fed_client.json"), "utf8").replace('"epochs": 1', '"epochs": 9'),
    );
    assert.throws(
      () => clearJobForSite(security(), d, loadJobFolder(d), "app"),
      (e: { code?: string; message: string }) =>
        e.code === "ERR_JOB_TAMPERED" && /^site-1: job file app\/config\/config_fed_client\.json was changed/.test(e.message),
    );
  });

  test("unsigned: refused when signatures are required, a warning otherwise", () => {
    const d = jobCopy();
    assert.throws(() => clearJobForSite(security(true), d, loadJobFolder(d), "app"), { code: "ERR_JOB_UNSIGNED" });
    const noPolicy = { ...security(false) };
    delete (noPolicy as { authorize?: unknown }).authorize;
    const c = clearJobForSite(noPolicy, d, loadJobFolder(d), "app");
    assert.match(c.warnings.join(" "), /unsigned/);
  });

  test("signed with a site's (non-admin) key: refused", () => {
    const d = jobCopy();
    signJobFolder(d, creds("site-2"));
    assert.throws(() => clearJobForSite(security(), d, loadJobFolder(d), "app"), { code: "ERR_JOB_BAD_SIGNER" });
  });

  test("a lead's signed BYOC job needs the byoc right here", () => {
    const d = jobCopy();
    mkdirSync(join(d, "app", "custom"), { recursive: true });
    writeFileSync(join(d, "app", "custom", "x.js"), "export const x = 1;\n");
    signJobFolder(d, creds("lead@org-a.org"));
    const c = clearJobForSite(security(), d, loadJobFolder(d), "app");
    assert.equal(c.byoc, true, "custom code makes the job BYOC (the default policy grants leads byoc)");
    const noByoc = parsePolicy(
      { ...DEFAULT_AUTHORIZATION, permissions: { ...DEFAULT_AUTHORIZATION.permissions, lead: { ...DEFAULT_AUTHORIZATION.permissions.lead, byoc: "none" } } },
      "authorization.json",
    );
    const strict: SiteSecurityOptions = { ...security(), authorize: (r) => authorize(noByoc, { ...r, siteOrg: "org_a" }) };
    assert.throws(
      () => clearJobForSite(strict, d, loadJobFolder(d), "app"),
      (e: { code?: string; message: string }) => e.code === "ERR_NOT_AUTHORIZED" && /NOT_AUTHORIZED by site-1: byoc/.test(e.message),
    );
  });
});

describe("signed admin commands at a site", () => {
  function siteAdmin(): { admin: SiteAdmin; auditPath: string } {
    const auditPath = join(tempDir("cohort-siteadmin-"), "audit.log");
    const kitDir = join(p.prodDir, "site-1");
    const policy = parsePolicy(DEFAULT_AUTHORIZATION, "authorization.json.default");
    return {
      auditPath,
      admin: new SiteAdmin({
        site: "site-1",
        kitDir,
        rootPem: p.server.rootPem,
        audit: AuditLog.open(auditPath, "site-1"),
        authorize: (r) => authorize(policy, { ...r, siteOrg: "org_a" }),
        skewMs: 60_000,
        status: () => ({}),
        resources: () => ({}),
      }),
    };
  }
  const cmd = (who: string, c: string, args: string[]) => signCommand({ user: who, target: args[0] ?? "server", cmd: c, args, ...creds(who) });

  test("a valid command runs once; its replay is refused and audited", async () => {
    const { admin, auditPath } = siteAdmin();
    const c = cmd("admin@nvidia.com", "pwd", ["site-1"]);
    assert.match(String(await admin.handle({ command: c, ref: "server-event-1" })), /site-1$/);
    await assert.rejects(admin.handle({ command: c }), (e: { code?: string; message: string }) => e.code === "ERR_AUTH_REPLAY" && /site-1/.test(e.message));
    const lines = readFileSync(auditPath, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines[0]?.["ref"], "server-event-1");
    assert.equal(lines[1]?.["code"], "ERR_AUTH_REPLAY");
  });

  test("a command altered on its way, or re-signed with another admin's key, is refused", async () => {
    const { admin } = siteAdmin();
    const c = cmd("lead@org-a.org", "ls", ["site-1", "."]);
    await assert.rejects(admin.handle({ command: { ...c, args: ["site-1", "workspace"] } }), { code: "ERR_AUTH_BAD_SIGNATURE" });
    const other = cmd("admin@nvidia.com", "ls", ["site-1", "."]);
    await assert.rejects(admin.handle({ command: { ...other, user: "lead@org-a.org" } }), { code: "ERR_AUTH_NAME_MISMATCH" });
    const stale = signCommand({
      user: "admin@nvidia.com",
      target: "site-1",
      cmd: "pwd",
      args: ["site-1"],
      ...creds("admin@nvidia.com"),
      now: Date.now() - 10 * 60_000,
    });
    await assert.rejects(admin.handle({ command: stale }), { code: "ERR_AUTH_STALE" });
  });

  test("a command the admin addressed to another site is refused: the server cannot redirect it", async () => {
    const { admin, auditPath } = siteAdmin();
    await assert.rejects(
      admin.handle({ command: cmd("admin@nvidia.com", "pwd", ["site-2"]) }),
      (e: { code?: string; message: string }) =>
        e.code === "ERR_AUTH_WRONG_TARGET" && /^site-1 refuses admin@nvidia\.com's pwd: the admin addressed it to site-2/.test(e.message),
    );
    assert.equal((JSON.parse(readFileSync(auditPath, "utf8").trim()) as Record<string, unknown>)["code"], "ERR_AUTH_WRONG_TARGET");
    for (const every of [["@ALL"], ["client"], ["all"], ["client", "site-1", "site-2"]]) {
      assert.equal(
        ((await admin.handle({ command: cmd("admin@nvidia.com", "sys_info", every) })) as { site: string }).site,
        "site-1",
        `target ${every.join(" ")} addresses site-1`,
      );
    }
    // FLARE's grammar, read by the site itself: names after `client` are the only sites addressed.
    await assert.rejects(admin.handle({ command: cmd("admin@nvidia.com", "restart", ["client", "site-2"]) }), { code: "ERR_AUTH_WRONG_TARGET" });
    await assert.rejects(admin.handle({ command: cmd("admin@nvidia.com", "sys_info", []) }), { code: "ERR_ADMIN_USAGE" });
  });

  test("shell commands stay inside the site folder and never reach startup/", async () => {
    const { admin } = siteAdmin();
    await assert.rejects(admin.handle({ command: cmd("admin@nvidia.com", "cat", ["site-1", "startup/client.key"]) }), { code: "ERR_ADMIN_PATH" });
    await assert.rejects(admin.handle({ command: cmd("admin@nvidia.com", "cat", ["site-1", "../localhost/startup/server.key"]) }), { code: "ERR_ADMIN_PATH" });
    const listing = (await admin.handle({ command: cmd("admin@nvidia.com", "ls", ["site-1"]) })) as string[];
    assert.ok(!listing.includes("startup/"));
    assert.ok(listing.includes("local/"));
  });

  test("a hard link to the kit's key planted in the site folder is refused; errors never show the site's absolute path", async () => {
    const { admin } = siteAdmin();
    const kitDir = join(p.prodDir, "site-1");
    const planted = join(kitDir, "workspace", "planted-link.txt");
    mkdirSync(join(kitDir, "workspace"), { recursive: true });
    rmSync(planted, { force: true });
    linkSync(join(kitDir, "startup", "client.key"), planted);
    try {
      await assert.rejects(
        admin.handle({ command: cmd("admin@nvidia.com", "cat", ["site-1", "workspace/planted-link.txt"]) }),
        (e: { code?: string; message: string }) => e.code === "ERR_ADMIN_PATH" && /more than one link/.test(e.message) && !e.message.includes(kitDir),
      );
      await assert.rejects(admin.handle({ command: cmd("admin@nvidia.com", "tail", ["site-1", "workspace/planted-link.txt"]) }), { code: "ERR_ADMIN_PATH" });
      await assert.rejects(
        admin.handle({ command: cmd("admin@nvidia.com", "cat", ["site-1", "workspace/no-such-file"]) }),
        (e: { code?: string; message: string }) =>
          e.code === "ERR_ADMIN_PATH" && e.message.startsWith("workspace/no-such-file: no such file") && !e.message.includes(kitDir),
      );
    } finally {
      rmSync(planted, { force: true });
    }
  });

  test("the site's own policy decides: a lead operates its own org's site only", async () => {
    const policy = parsePolicy(DEFAULT_AUTHORIZATION, "authorization.json.default");
    const make = (siteOrg: string): SiteAdmin =>
      new SiteAdmin({
        site: "site-1",
        kitDir: join(p.prodDir, "site-1"),
        rootPem: p.server.rootPem,
        audit: AuditLog.open(join(tempDir(), "audit.log"), "site-1"),
        authorize: (r) => authorize(policy, { ...r, siteOrg }),
        skewMs: 60_000,
        status: () => ({}),
        resources: () => ({}),
      });
    assert.equal(((await make("org_a").handle({ command: cmd("lead@org-a.org", "sys_info", ["site-1"]) })) as { site: string }).site, "site-1");
    await assert.rejects(
      make("org_b").handle({ command: cmd("lead@org-a.org", "sys_info", ["site-1"]) }),
      (e: { code?: string; message: string }) => e.code === "ERR_NOT_AUTHORIZED" && /NOT_AUTHORIZED by site-1: sys_info for lead@org-a\.org/.test(e.message),
    );
  });
});
