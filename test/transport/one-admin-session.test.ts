/**
 * An admin's sessions come from one address at a time (issue 15), with a real server process: a
 * login with an admin's certificate from another address while that admin's console is live (a
 * copied kit, a stolen key) is refused and audited as a conflict; consoles of the same admin from
 * the same address run side by side (FLARE's habit: a console and scripts on one workstation);
 * once the live console closes, or stops answering a liveness check, the other address gets in.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AdminSession } from "../../src/runtime/index.js";
import { driverFor } from "../../src/transport/index.js";
import { auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { RawSession, type Kit } from "../helpers/secure-session.js";
import { until } from "../helpers/transport-links.js";

const running: CohortProcess[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const c of closers) c();
  for (const p of running.reverse()) await p.stop();
});

/** A TCP pass-through to 127.0.0.1:`port` whose connections to the server come from `localAddress`. */
async function forwarderFrom(localAddress: string, port: number): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = netConnect({ host: "127.0.0.1", port, localAddress });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return address.port;
}

test("one address per admin identity: another address is refused while the console is live, and gets in once it is gone", { timeout: 180_000 }, async () => {
  const { prodDir, port } = await provisionProject("tcp", "mtls", { name: "one_admin" });
  const serverKit = join(prodDir, "localhost");
  const server = startParticipantProcess(serverKit, { server: true });
  running.push(server);
  await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`), 60_000);
  const adminKit = join(prodDir, "admin@nvidia.com");
  const startup = join(adminKit, "startup");
  const kit: Kit = {
    name: "admin@nvidia.com",
    certPem: readFileSync(join(startup, "client.crt"), "utf8"),
    keyPem: readFileSync(join(startup, "client.key"), "utf8"),
    rootPem: readFileSync(join(startup, "rootCA.pem"), "utf8"),
  };
  const elsewhere = await forwarderFrom("127.0.0.2", port);
  const loginFromElsewhere = async (): Promise<RawSession> => {
    const r = await RawSession.open(driverFor("tcp"), elsewhere, kit, { security: "mtls" });
    closers.push(() => r.conn.close());
    await r.login({ type: "admin", project: "one_admin" });
    return r;
  };

  // The admin's console, from 127.0.0.1.
  const consoleA = await AdminSession.open(adminKit);
  assert.ok(await consoleA.run("check_status server"));

  // 1. The same certificate from 127.0.0.2: refused as a conflict, audited, the console unharmed.
  await assert.rejects(
    loginFromElsewhere(),
    (e: { code?: string; message?: string }) => e.code === "ERR_TRANSPORT_SESSION_CONFLICT" && /live console session from/.test(e.message ?? ""),
  );
  const conflict = auditRecords(serverKit).find((r) => r["code"] === "ERR_TRANSPORT_SESSION_CONFLICT");
  assert.ok(conflict, "the conflict is in the server's audit log");
  assert.equal(conflict["action"], "login.refused");
  assert.equal(conflict["peer"], "admin@nvidia.com");
  assert.match(String(conflict["address"]), /127\.0\.0\.2$/);
  assert.ok(await consoleA.run("check_status server"), "the live console still works");

  // 2. A second console from the same address runs beside the first.
  const consoleB = await AdminSession.open(adminKit);
  assert.ok(await consoleB.run("check_status server"));
  assert.ok(await consoleA.run("check_status server"));

  // 3. Both consoles closed: the other address gets in.
  await consoleA.close();
  await consoleB.close();
  const remote = await loginFromElsewhere();
  assert.ok(remote.token.length > 0);

  // 4. That session does not answer liveness checks (a frozen or half-open link): a console from
  //    127.0.0.1 replaces it after the check instead of being locked out.
  const mark = server.mark();
  const consoleC = await AdminSession.open(adminKit);
  assert.ok(await consoleC.run("check_status server"));
  assert.ok(
    server.lines.slice(mark).some((l) => /no answer to a liveness check/.test(l)),
    server.lines.slice(mark).join("\n"),
  );
  await until(() => remote.closed, 10_000, "the unanswering session to be closed");
  await consoleC.close();
});
