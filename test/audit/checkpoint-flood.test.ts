/**
 * Checkpoint floods against a real server process (issue 15): a view-only `member` admin session
 * and a site session each send hundreds of `audit.checkpoint` requests as fast as the link takes
 * them. Neither grows the server's audit log beyond the bound: the member's (never allowed) get
 * at most the refusal writer's burst plus its refill plus summary lines; the site's add at most one
 * witness line per half interval, the rest refused under the same bound. Before, a member session
 * appended 1000 lines in 6 s.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, WITNESS_ACTION, createCheckpoint } from "../../src/audit/index.js";
import { driverFor } from "../../src/transport/index.js";
import { encode } from "../../src/wire/index.js";
import { tempDir } from "../helpers/index.js";
import { auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { RawSession, type Kit } from "../helpers/secure-session.js";
import { until } from "../helpers/transport-links.js";

const FLOOD = 200;
// The server's refusal writer (src/runtime/participant/start.ts): burst 20, refilled at 5 per second.
const BURST = 20;
const PER_SECOND = 5;
const running: CohortProcess[] = [];
after(async () => {
  for (const p of running.reverse()) await p.stop();
});

test(`a member admin and a site each sending ${FLOOD} checkpoints cannot grow the server's audit log beyond the bound`, { timeout: 180_000 }, async () => {
  const { prodDir, port } = await provisionProject("tcp", "mtls", {
    name: "checkpoint_flood",
    extraParticipants: "  - {name: viewer@example.org, type: admin, org: org_a, role: member}\n",
  });
  const serverKit = join(prodDir, "localhost");
  const server = startParticipantProcess(serverKit, { server: true });
  running.push(server);
  await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`), 60_000);
  const kit = (name: string): Kit => {
    const s = join(prodDir, name, "startup");
    return {
      name,
      certPem: readFileSync(join(s, "client.crt"), "utf8"),
      keyPem: readFileSync(join(s, "client.key"), "utf8"),
      rootPem: readFileSync(join(s, "rootCA.pem"), "utf8"),
    };
  };
  const open = async (name: string, type: "client" | "admin"): Promise<RawSession> => {
    const r = await RawSession.open(driverFor("tcp"), port, kit(name), { security: "mtls" });
    await r.login({ type, project: "checkpoint_flood" });
    return r;
  };
  // A real, valid checkpoint of site-1's (own log, own key), new lines before each.
  const siteLog = AuditLog.open(join(tempDir("cohort-flood-"), "audit.log"), "site-1");
  const checkpoint = (): Uint8Array => {
    siteLog.append({ action: "event", outcome: "ok" });
    return encode(createCheckpoint(siteLog, kit("site-1")));
  };
  /**
   * Sends `FLOOD` checkpoints on `name`'s sessions without waiting for answers, logging in again
   * whenever the server closes one (it closes a link after 20 refused messages).
   */
  const flood = async (name: string, type: "client" | "admin"): Promise<{ acknowledged: number; logins: number }> => {
    let logins = 0;
    let acknowledged = 0;
    for (let sent = 0; sent < FLOOD; ) {
      const session = await open(name, type);
      logins++;
      let here = 0;
      while (sent < FLOOD && !session.closed) {
        try {
          await session.send(session.frame("req", "audit.checkpoint", checkpoint()));
        } catch {
          break; // closed under us
        }
        sent++;
        here++;
      }
      await until(() => session.closed || session.received.length >= here, 30_000, `${name}'s answers or the server closing its link`);
      acknowledged += session.received.filter((e) => e.header.k === "rep" && !e.header.code).length;
      session.conn.close();
    }
    return { acknowledged, logins };
  };

  const before = auditRecords(serverKit).length;
  const t0 = Date.now();
  const memberFlood = await flood("viewer@example.org", "admin");
  const siteFlood = await flood("site-1", "client");
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(memberFlood.acknowledged, 0, "no checkpoint of the member session is taken");

  const added = auditRecords(serverKit).slice(before);
  // A refused checkpoint is audited once by the link that carried it (message.refused with the
  // checkpoint code), and dropped ones are summed up in audit.suppressed lines of the same code.
  const isCheckpointRefusal = (r: Record<string, unknown>): boolean => String(r["code"] ?? "").startsWith("ERR_AUDIT_CHECKPOINT_");
  const count = (peer: string, pred: (r: Record<string, unknown>) => boolean): number => added.filter((r) => r["peer"] === peer && pred(r)).length;
  // Checkpoint refusals of one address: the burst, the refill, one summary per refill at most.
  const refusalBound = BURST + 2 * Math.ceil(seconds * PER_SECOND) + 2;
  const memberLines = count("viewer@example.org", (r) => isCheckpointRefusal(r));
  assert.ok(memberLines <= refusalBound, `the member's flood added ${memberLines} lines in ${seconds.toFixed(1)} s (bound ${refusalBound})`);
  assert.ok(
    added.some((r) => r["peer"] === "viewer@example.org" && r["code"] === "ERR_AUDIT_CHECKPOINT_NOT_ALLOWED"),
    "the member's refusal is audited",
  );
  // The site: at most one witness per half interval (10 s / 2), the rest refused under the refusal bound.
  const witnesses = count("site-1", (r) => r["action"] === WITNESS_ACTION && r["outcome"] === "ok");
  assert.ok(witnesses >= 1 && witnesses <= Math.ceil(seconds / 5) + 1, `${witnesses} witness lines in ${seconds.toFixed(1)} s`);
  assert.equal(siteFlood.acknowledged, witnesses, "only the witnessed checkpoints were acknowledged");
  const siteRefusals = count("site-1", (r) => isCheckpointRefusal(r));
  assert.ok(siteRefusals <= refusalBound, `the site's flood added ${siteRefusals} refusal lines in ${seconds.toFixed(1)} s`);
  // Everything else either added: login lines (≤ one per login, logins are rate-limited) and link closures.
  for (const [peer, f] of [
    ["viewer@example.org", memberFlood],
    ["site-1", siteFlood],
  ] as const) {
    const other = count(peer, (r) => !isCheckpointRefusal(r) && r["action"] !== WITNESS_ACTION);
    assert.ok(
      other <= 3 * f.logins,
      `${peer}: ${other} other lines for ${f.logins} logins: ${JSON.stringify(added.filter((r) => r["peer"] === peer && !isCheckpointRefusal(r)).map((r) => r["action"]))}`,
    );
  }
  console.log(
    `${FLOOD} checkpoints each in ${seconds.toFixed(1)} s: member +${memberLines} refusal lines (${memberFlood.logins} logins), site +${witnesses} witness +${siteRefusals} refusal lines (${siteFlood.logins} logins); bound ${refusalBound} refusal lines each`,
  );
});
