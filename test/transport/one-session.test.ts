/**
 * One session per site (issue 15), with real processes: a second `cohort start` of a site's kit
 * while the site is up (a copied kit, a stolen key) is refused and audited as a conflict, and the
 * first session stays; a site killed with SIGKILL and restarted (as its supervisor would) gets back
 * in within seconds; a frozen site (SIGSTOP: its link is open but nothing answers) is replaced by a
 * new start of its kit once it fails the liveness check. Before, a second login silently replaced
 * the live session.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { delay } from "../helpers/transport-links.js";

const running: CohortProcess[] = [];
after(async () => {
  for (const p of running.reverse()) {
    p.signal("SIGCONT");
    await p.stop();
  }
});

test("one session per site: a stolen-key login is refused while the site is up; a killed or frozen site gets back in", { timeout: 240_000 }, async () => {
  const { prodDir, port } = await provisionProject("tcp", "mtls", { name: "one_session" });
  const serverKit = join(prodDir, "localhost");
  const server = startParticipantProcess(serverKit, { server: true });
  running.push(server);
  await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`), 60_000);
  const kit = join(prodDir, "site-1");
  const site = startParticipantProcess(kit);
  running.push(site);
  await server.waitFor(/client site-1 \(org_a\) logged in/, 60_000);

  // 1. The same kit started a second time while the site runs: refused as a conflict.
  let mark = server.mark();
  const thief = startParticipantProcess(kit);
  running.push(thief);
  const refusal = await thief.waitFor(/ERR_TRANSPORT_SESSION_CONFLICT/, 60_000);
  assert.match(refusal, /already has a live session/);
  await delay(1000);
  assert.equal(
    server.lines.slice(mark).some((l) => /site-1 disconnected|client site-1 \(org_a\) logged in/.test(l)),
    false,
    `the live session was disturbed:\n${server.lines.slice(mark).join("\n")}`,
  );
  const conflict = auditRecords(serverKit).find((r) => r["code"] === "ERR_TRANSPORT_SESSION_CONFLICT");
  assert.ok(conflict, "the conflict is in the server's audit log");
  assert.equal(conflict["action"], "login.refused");
  assert.equal(conflict["peer"], "site-1");
  await thief.stop();

  // 2. SIGKILL and restart: back in within seconds.
  site.kill();
  await site.exited;
  mark = server.mark();
  const t0 = Date.now();
  const restarted = startParticipantProcess(kit);
  running.push(restarted);
  await server.waitFor(/client site-1 \(org_a\) logged in/, 30_000, mark);
  const restartMs = Date.now() - t0;

  // 3. A frozen site (link open, nothing answers): a new start of its kit replaces it after the liveness check.
  restarted.signal("SIGSTOP");
  mark = server.mark();
  const t1 = Date.now();
  const replacement = startParticipantProcess(kit);
  running.push(replacement);
  await server.waitFor(/client site-1 \(org_a\) logged in/, 30_000, mark);
  const replaceMs = Date.now() - t1;
  assert.ok(
    server.lines.slice(mark).some((l) => /no answer to a liveness check/.test(l)),
    server.lines.slice(mark).join("\n"),
  );
  console.log(`restart after SIGKILL logged in after ${restartMs} ms (process start included); a frozen session was replaced after ${replaceMs} ms`);
  restarted.signal("SIGCONT");
  restarted.kill();
  await replacement.stop();
  await server.stop();
});
