/**
 * Pre-login pressure from many source addresses (issue 15): connections from 127.0.0.2–127.0.0.9,
 * each address at the per-address limit (32), all stopped half-way through a pre-login frame,
 * while a real site logs in: it gets in well within the 10 s login timer, because a full login pool
 * drops the oldest login of the address holding the most (before, the site waited for the timer).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { auditRecords, provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { rawTcpLink } from "../helpers/transport-links.js";

const ADDRESSES = 8;
const PER_ADDRESS = 32;
const running: CohortProcess[] = [];
const sockets: TLSSocket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  for (const p of running.reverse()) await p.stop();
});

function hold(port: number, localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const raw = netConnect({ host: "127.0.0.1", port, localAddress });
    raw.on("error", () => resolve(false));
    const socket = tlsConnect({ socket: raw, rejectUnauthorized: false });
    sockets.push(socket);
    socket.on("error", () => resolve(false));
    rawTcpLink(socket, "secureConnect", (announce) => {
      // Half of a 60 KiB frame (under the pre-login limit): buffered until the login timer.
      announce(60 * 1024);
      socket.write(Buffer.alloc(30 * 1024));
      resolve(true);
    });
  });
}

test(`a site logs in while ${ADDRESSES} addresses hold ${PER_ADDRESS} unauthenticated connections each`, { timeout: 180_000 }, async () => {
  const { prodDir, port } = await provisionProject("tcp", "tls", { name: "many_addresses" });
  const server = startParticipantProcess(join(prodDir, "localhost"), { server: true });
  running.push(server);
  await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`), 60_000);
  const held = await Promise.all(Array.from({ length: ADDRESSES * PER_ADDRESS }, (_, i) => hold(port, `127.0.0.${2 + Math.floor(i / PER_ADDRESS)}`)));
  const t0 = Date.now();
  const site = startParticipantProcess(join(prodDir, "site-1"));
  running.push(site);
  await server.waitFor(/client site-1 \(org_a\) logged in/, 60_000);
  const ms = Date.now() - t0;
  console.log(`${held.filter(Boolean).length} unauthenticated connections held; the site logged in after ${ms} ms (process start included)`);
  // The site got a slot from the full pool, not from the 10 s login timer freeing one: no held
  // login timed out before the site's login (the audit log's order, not a wall-clock bound).
  const records = auditRecords(join(prodDir, "localhost"));
  const login = records.findIndex((r) => r["action"] === "login" && r["outcome"] === "ok" && r["peer"] === "site-1");
  assert.ok(login >= 0, "the site's login is audited");
  const before = records.slice(0, login);
  assert.ok(
    before.some((r) => r["code"] === "ERR_TRANSPORT_TOO_MANY_LOGINS"),
    "precondition: the login pool was full (logins were dropped for others)",
  );
  assert.deepEqual(
    before.filter((r) => r["code"] === "ERR_TRANSPORT_LOGIN_TIMEOUT"),
    [],
    "no slot was freed by the login timer before the site got in",
  );
});
