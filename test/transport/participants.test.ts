/**
 * Real processes over real sockets: `cohort start` runs a server and sites from provisioned kits,
 * for every driver (scheme) × connection-security mode; sites log in and stay connected with
 * heartbeats; SIGTERM stops everything cleanly; the audit logs record the logins.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { verifyAuditLog } from "../../src/audit/index.js";
import { writeFile } from "../helpers/index.js";
import { auditRecords, provisionProject, startParticipantProcess } from "../helpers/processes.js";

for (const scheme of ["tcp", "http", "grpc"]) {
  describe(`scheme ${scheme}`, () => {
    for (const security of ["mtls", "tls", "clear"]) {
      test(`${security}: server and two sites connect, log in, and stop cleanly on SIGTERM`, { timeout: 60_000 }, async () => {
        const { prodDir, port } = await provisionProject(scheme, security);
        const server = startParticipantProcess(join(prodDir, "localhost"), { server: true });
        try {
          await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
          const sites = ["site-1", "site-2"].map((s) => startParticipantProcess(join(prodDir, s)));
          try {
            for (const s of sites) await s.waitFor(/connected to localhost at 127\.0\.0\.1/);
            await server.waitFor(/client site-1 \(org_a\) logged in/);
            await server.waitFor(/client site-2 \(org_b\) logged in/);
            for (const s of sites) assert.equal(await s.stop(), 0, s.output);
            await server.waitFor(/site-1 disconnected/);
          } finally {
            for (const s of sites) s.kill();
          }
          assert.equal(await server.stop(), 0, server.output);
        } finally {
          server.kill();
        }
        const serverAudit = auditRecords(join(prodDir, "localhost"));
        assert.ok(serverAudit.some((r) => r["action"] === "login" && r["peer"] === "site-1" && r["outcome"] === "ok"));
        assert.ok(serverAudit.some((r) => r["action"] === "server.stop"));
        assert.ok(verifyAuditLog(join(prodDir, "localhost", "audit.log")).ok);
        assert.ok(auditRecords(join(prodDir, "site-1")).some((r) => r["action"] === "login" && r["outcome"] === "ok"));
      });
    }
  });
}

describe("refusals with real processes", () => {
  test("a site whose kit was tampered with does not start", { timeout: 30_000 }, async () => {
    const { prodDir } = await provisionProject("tcp", "mtls");
    const kit = join(prodDir, "site-1");
    writeFile(join(kit, "startup", "fed_client.json"), readFileSync(join(kit, "startup", "fed_client.json"), "utf8").replace("127.0.0.1", "10.9.9.9"));
    const p = startParticipantProcess(kit);
    assert.notEqual(await p.exited, 0);
    assert.match(p.output, /ERR_KIT_TAMPERED.*fed_client\.json/);
  });

  test("a site that cannot reach the server retries with backoff and connects once it is up", { timeout: 60_000 }, async () => {
    const { prodDir, port } = await provisionProject("tcp", "mtls");
    const site = startParticipantProcess(join(prodDir, "site-1"));
    let server: ReturnType<typeof startParticipantProcess> | undefined;
    try {
      await site.waitFor(/connecting to 127\.0\.0\.1:\d+ failed: .*retrying in/);
      server = startParticipantProcess(join(prodDir, "localhost"), { server: true });
      await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
      await site.waitFor(/connected to localhost/, 40_000);
      // The server goes away and comes back: the site reconnects by itself.
      const mark = site.mark();
      assert.equal(await server.stop(), 0);
      await site.waitFor(/disconnected/, 20_000, mark);
      server = startParticipantProcess(join(prodDir, "localhost"), { server: true });
      await server.waitFor(/client site-1 \(org_a\) logged in/, 40_000);
      assert.equal(await site.stop(), 0);
    } finally {
      site.kill();
      if (server) {
        await server.stop();
        server.kill();
      }
    }
  });
});
