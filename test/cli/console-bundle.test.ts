/**
 * The compiled console as users run it (`node dist/cli/main.js admin …`: the admin command is an
 * esbuild bundle, scripts/postbuild.mjs), against a real server over each link scheme: one
 * command, a site command, submit (tar, packed), abort and download (tar, unpacked), the
 * interactive console. The other tests run the sources through tsx; this one checks the bundle.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/index.js";
import { provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";

const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

before(() => {
  // Rebuilds dist/ when a source is newer than the compiled CLI (as `npm test` does first).
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "ensure-deps.mjs")], { cwd: REPO_ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    readFileSync(join(REPO_ROOT, "dist", "cli", "commands", "admin.js"), "utf8"),
    /^\/\/ cohort: admin console bundle/,
    "postbuild bundles the console",
  );
});

function compiledAdmin(kit: string, args: readonly string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, "admin", kit, ...args], { cwd: REPO_ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? "");
  });
}

for (const scheme of ["http", "tcp", "grpc"]) {
  describe(`compiled console, scheme ${scheme}`, () => {
    let server: CohortProcess | undefined;
    let site: CohortProcess | undefined;
    let admin = "";
    before(async () => {
      const { prodDir } = await provisionProject(scheme, "mtls");
      admin = join(prodDir, "admin@nvidia.com");
      const srv = startParticipantProcess(join(prodDir, "localhost"), { server: true });
      server = srv;
      await srv.waitFor(/listening on/, 60_000);
      site = startParticipantProcess(join(prodDir, "site-1"));
      await srv.waitFor(/client site-1 .* logged in/, 60_000);
    });
    // Whatever of the set-up started is stopped, even when the set-up failed (else the file never ends).
    after(async () => {
      await site?.stop();
      await server?.stop();
    });

    test("server and site commands", { timeout: 60_000 }, async () => {
      const status = await compiledAdmin(admin, ["-c", "check_status server", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      assert.deepEqual((JSON.parse(status.stdout) as { clients: string[] }).clients, ["site-1"]);
      const ls = await compiledAdmin(admin, ["-c", "ls site-1", "--json"]);
      assert.equal(ls.code, 0, ls.stderr);
      assert.ok((JSON.parse(ls.stdout) as Record<string, string[]>)["site-1"]?.includes("local/"));
      const refused = await compiledAdmin(admin, ["-c", "cat site-1 startup/client.key"]);
      assert.equal(refused.code, 1);
      assert.match(refused.stdout + refused.stderr, /site-1's startup\/ \(credentials\) is not accessible/);
    });

    test("submit, abort and download a job; the interactive console", {
      skip: scheme !== "http" && "tar and readline do not depend on the scheme",
      timeout: 60_000,
    }, async () => {
      // min_clients 2 with one site connected: the job waits, and is aborted before it runs.
      const submitted = await compiledAdmin(admin, ["-c", `submit_job ${join(REPO_ROOT, "examples", "jobs", "hello-fedavg")}`, "--json"]);
      assert.equal(submitted.code, 0, submitted.stderr);
      const jobId = String((JSON.parse(submitted.stdout) as { job_id: string }).job_id);
      const aborted = await compiledAdmin(admin, ["-c", `abort_job ${jobId}`, "--yes"]);
      assert.equal(aborted.code, 0, aborted.stderr);
      const downloaded = await compiledAdmin(admin, ["-c", `download_job ${jobId}`, "--json"]);
      assert.equal(downloaded.code, 0, downloaded.stderr);
      const to = String((JSON.parse(downloaded.stdout) as { downloaded_to: string }).downloaded_to);
      assert.ok(existsSync(join(to, "meta.json")));
      const session = await compiledAdmin(admin, [], "check_status server\nlist_jobz\nbye\n");
      assert.equal(session.code, 0, session.stderr);
      assert.match(session.stdout, /logged in as admin@nvidia\.com/);
      assert.match(session.stdout, /Registered clients: 1 \n[-]+\n\| CLIENT +\| TOKEN +\| LAST CONNECT TIME +\|\n[-]+\n\| site-1 /);
      assert.match(session.stdout, /unknown command list_jobz; did you mean list_jobs\?/);
    });
  });
}
