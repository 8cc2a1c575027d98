/**
 * Pre-login limits with real server processes (issue 15): before login a link takes only frames
 * of a handshake size (64 KiB) and closes on the first frame header that announces more, before
 * its body is read. Eight unauthenticated connections, each announcing a 60 MiB frame and then
 * streaming its body, must be cut at the header on tls and clear listeners of every driver: the
 * server's RSS grows by less than 64 MiB (the old limit of 64 MiB per frame let it grow by ~480
 * MiB) and a real site still logs in afterwards.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import WebSocket from "ws";
import { Client, Metadata, credentials } from "@grpc/grpc-js";
import { provisionProject, startParticipantProcess, type CohortProcess } from "../helpers/processes.js";
import { rawTcpLink } from "../helpers/transport-links.js";

const ATTACKERS = 8;
const ANNOUNCED = 60 * 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 0x41);
const MiB = 1024 * 1024;

const running: CohortProcess[] = [];
after(async () => {
  for (const p of running.reverse()) await p.stop();
});

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  const kb = Number(/(\d+)/.exec(line ?? "")?.[1] ?? NaN);
  assert.ok(Number.isFinite(kb), `no VmRSS in /proc/${pid}/status`);
  return kb * 1024;
}

/** Writes `total` bytes (1 MiB at a time, respecting backpressure) until done or the socket closes. */
async function pump(write: (chunk: Buffer) => boolean, drained: () => Promise<void>, isClosed: () => boolean, total: number): Promise<number> {
  let sent = 0;
  while (sent < total && !isClosed()) {
    const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, total - sent));
    sent += chunk.length;
    if (!write(chunk)) await Promise.race([drained(), new Promise((r) => setTimeout(r, 200))]);
  }
  return sent;
}

/** One attack connection; resolves with the bytes of body it got to send once the server closed it. */
type Attack = (port: number, security: string) => Promise<{ sent: number }>;

function tcpAttack(port: number, security: string): Promise<{ sent: number }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const socket: Socket = security === "clear" ? netConnect({ host: "127.0.0.1", port }) : tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false });
    socket.on("error", () => undefined);
    const started = new Promise<number>((res) => {
      // The tcp link preface, then (once accepted) a frame header announcing 60 MiB and its body.
      rawTcpLink(socket, security === "clear" ? "connect" : "secureConnect", (announce) => {
        announce(ANNOUNCED);
        void pump(
          (c) => socket.write(c),
          () => new Promise((r) => socket.once("drain", r)),
          () => closed,
          ANNOUNCED,
        ).then(res);
      });
    });
    socket.once("close", () => {
      closed = true;
      void started.then((sent) => resolve({ sent }), reject);
    });
  });
}

function httpAttack(port: number, security: string): Promise<{ sent: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${security === "clear" ? "ws" : "wss"}://127.0.0.1:${port}/cohort/v1/link`, {
      rejectUnauthorized: false,
      perMessageDeflate: false,
    });
    let sent = 0;
    ws.on("error", () => undefined);
    ws.once("open", () => {
      // One 60 MiB message, as fragments: the first fragment's header already announces too much
      // for the pre-login limit; the rest follows as long as the server keeps reading.
      let n = 0;
      const next = (): void => {
        if (ws.readyState !== WebSocket.OPEN || n * CHUNK.length >= ANNOUNCED) return;
        n++;
        const last = n * CHUNK.length >= ANNOUNCED;
        ws.send(CHUNK, { binary: true, fin: last, compress: false }, () => {
          sent += CHUNK.length;
          next();
        });
      };
      next();
    });
    ws.once("close", () => resolve({ sent }));
  });
}

function grpcAttack(port: number, security: string, rootCa: string): Promise<{ sent: number }> {
  return new Promise((resolve) => {
    const creds =
      security === "clear" ? credentials.createInsecure() : credentials.createSsl(Buffer.from(rootCa), null, null, { checkServerIdentity: () => undefined });
    const client = new Client(`127.0.0.1:${port}`, creds, {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_send_message_length": -1,
    });
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(
      "/cohort.link.v1.Link/Frames",
      (b) => b,
      (b) => b,
      new Metadata(),
    );
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      client.close();
      resolve({ sent: ANNOUNCED });
    };
    call.on("error", finish);
    call.on("status", finish);
    call.on("data", () => undefined);
    call.write(Buffer.alloc(ANNOUNCED, 0x41));
  });
}

for (const security of ["tls", "clear"]) {
  describe(`pre-login frame limit on a ${security} listener`, () => {
    for (const scheme of ["tcp", "http", "grpc"]) {
      test(`${scheme}: 8 connections announcing 60 MiB before login are cut at the header; a site still logs in`, { timeout: 180_000 }, async () => {
        const { prodDir, port } = await provisionProject(scheme, security, { name: `prelogin_${scheme}_${security}` });
        const server = startParticipantProcess(join(prodDir, "localhost"), { server: true });
        running.push(server);
        await server.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`), 60_000);
        const rootCa = readFileSync(join(prodDir, "site-1", "startup", "rootCA.pem"), "utf8");
        const before = rssBytes(server.pid);
        let peak = before;
        const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(server.pid))), 25);
        const attack: Attack = scheme === "tcp" ? tcpAttack : scheme === "http" ? httpAttack : (p, s) => grpcAttack(p, s, rootCa);
        const t0 = Date.now();
        const results = await Promise.all(Array.from({ length: ATTACKERS }, () => attack(port, security)));
        const cutMs = Date.now() - t0;
        // A moment for anything the server still holds to show in its RSS.
        await new Promise((r) => setTimeout(r, 500));
        clearInterval(sampler);
        peak = Math.max(peak, rssBytes(server.pid));
        const growth = peak - before;
        console.log(
          `${scheme}/${security}: ${ATTACKERS} connections cut in ${cutMs} ms; server RSS ${(before / MiB).toFixed(1)} MiB -> peak ${(peak / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)} MiB); bytes sent per connection ${results.map((r) => (r.sent / MiB).toFixed(0)).join(",")} MiB`,
        );
        assert.ok(growth < 64 * MiB, `server RSS grew by ${(growth / MiB).toFixed(1)} MiB (limit 64 MiB)`);

        // A real site still logs in.
        const site = startParticipantProcess(join(prodDir, "site-1"));
        running.push(site);
        await server.waitFor(/client site-1 \(org_a\) logged in/, 60_000);
        assert.ok(
          /pre-login limit|FRAME_TOO_LARGE|ERR_LINK_FRAME_TOO_LARGE|cancelled/i.test(server.output) || scheme === "grpc",
          `no refusal in the server output:\n${server.output}`,
        );
        await site.stop();
        await server.stop();
      });
    }
  });
}
