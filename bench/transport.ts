// `npm run bench -- transport [--mib N] [--schemes tcp,http,grpc]`: in one run, on 127.0.0.1,
// between two processes, over mtls:
//  - MB/s streaming a float32 tensor (1 GiB by default) server → site, per driver, with login,
//    per-message MACs and the keyed stream digest on, next to a raw node:tls socket moving the same
//    bytes; and the receiving process's peak memory relative to the tensor;
//  - messages/s for 1 KiB one-way messages site → server with and without authentication.
import { fork } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createTlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { provision } from "../src/provision/index.js";
import { AuditLog, RefusalAuditor } from "../src/audit/index.js";
import { driverFor, TransportServer, type Scheme } from "../src/transport/index.js";
import { encodeParts, Tensor } from "../src/wire/index.js";
import { decodeEnvelope } from "../src/transport/envelope.js";

const here = dirname(fileURLToPath(import.meta.url));
const MESSAGES = 50_000;

/** Counts arrivals; the rate is taken between the first and the last one. */
function rateCounter(): { tick(): void; rate(): number; done(n: number): Promise<void> } {
  let n = 0;
  let first = 0;
  let last = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  return {
    tick() {
      if (n++ === 0) first = performance.now();
      last = performance.now();
      if (waiter && n >= waiter.n) waiter.resolve();
    },
    rate: () => (n > 1 ? (n - 1) / ((last - first) / 1000) : 0),
    done: (count) => (n >= count ? Promise.resolve() : new Promise((resolve) => (waiter = { n: count, resolve }))),
  };
}
const PEER = join(here, "_transport-peer.ts");

interface PeerResult {
  readonly kind: string;
  readonly bytes: number;
  readonly seconds: number;
  /** CPU time of the receiving process while it received (user + system). */
  readonly cpuSeconds: number;
  /** CPU time of the sending process while it sent (filled in by this side). */
  senderCpuSeconds?: number;
  readonly maxRssBytes: number;
  readonly baselineRssBytes: number;
  readonly messages?: number;
}

function runPeer(args: Record<string, unknown>): { result: Promise<PeerResult>; ready: Promise<void> } {
  const child = fork(PEER, [JSON.stringify(args)], {
    execArgv: ["--import", "tsx", "--max-old-space-size=4096"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const result = new Promise<PeerResult>((resolve, reject) => {
    child.on("message", (m: { ready?: boolean; result?: PeerResult; error?: string }) => {
      if (m.ready) readyResolve();
      if (m.result) resolve(m.result);
      if (m.error) reject(new Error(m.error));
    });
    child.on("exit", (code) => (code === 0 ? undefined : reject(new Error(`bench peer exited with ${code}`))));
  });
  return { result, ready };
}

async function rawTls(kit: (n: string, f: string) => string, bytes: number): Promise<PeerResult> {
  const server = createTlsServer({
    key: kit("localhost", "server.key"),
    cert: kit("localhost", "server.crt"),
    ca: kit("localhost", "rootCA.pem"),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  });
  const chunk = Buffer.alloc(1024 * 1024, 7);
  server.on("secureConnection", (socket) => {
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) {
          socket.once("drain", pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const cpu0 = process.cpuUsage();
  const peer = runPeer({ mode: "raw", port, bytes, cert: kit("site-1", "client.crt"), key: kit("site-1", "client.key"), ca: kit("site-1", "rootCA.pem") });
  const r = await peer.result;
  const cpu = process.cpuUsage(cpu0);
  server.close();
  return { ...r, senderCpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

export default async function bench(args: string[]): Promise<void> {
  const opt = (name: string, def: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? (args[i + 1] ?? def) : def;
  };
  const mib = Number(opt("mib", "1024"));
  const schemes = opt("schemes", "tcp,http,grpc").split(",") as Scheme[];
  const bytes = mib * 1024 * 1024;
  const dir = mkdtempSync(join(tmpdir(), "cohort-bench-transport-"));
  try {
    const file = join(dir, "project.yml");
    writeFileSync(
      file,
      `api_version: 3\nname: bench\nparticipants:\n  - {name: localhost, type: server, org: o, host_names: [127.0.0.1]}\n  - {name: site-1, type: client, org: o, connect_to: 127.0.0.1}\n`,
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    const kit = (n: string, f: string): string => readFileSync(join(r.prodDir, n, "startup", f), "utf8");
    console.log(`transport bench: ${mib} MiB float32 tensor server → site over mtls on 127.0.0.1, two processes; login, MACs and keyed stream digest on`);

    const raw = await rawTls(kit, bytes);
    const rawMBs = raw.bytes / raw.seconds / 1e6;
    // CPU seconds per GB on each side show which process limits the rate.
    const cpuPerGB = (sender: number | undefined, receiver: number): string =>
      `${((sender ?? 0) / (bytes / 1e9)).toFixed(2)} / ${(receiver / (bytes / 1e9)).toFixed(2)}`;
    const rows: string[][] = [["raw node:tls socket (baseline)", rawMBs.toFixed(0), "100 %", "-", cpuPerGB(raw.senderCpuSeconds, raw.cpuSeconds)]];
    const tensor = new Tensor(new Float32Array(bytes / 4));
    const parts = encodeParts(tensor);
    const msgRows: string[][] = [];

    for (const scheme of schemes) {
      const audit = AuditLog.open(join(dir, `audit-${scheme}.log`), "localhost");
      const server = new TransportServer({
        name: "localhost",
        project: "bench",
        certPem: kit("localhost", "server.crt"),
        keyPem: kit("localhost", "server.key"),
        rootPem: kit("localhost", "rootCA.pem"),
        listeners: [{ driver: driverFor(scheme), host: "127.0.0.1", port: 0, security: "mtls", accepts: "all" }],
        audit,
        refusals: new RefusalAuditor(audit),
      });
      const [addr] = await server.start();
      const auth = rateCounter();
      server.handleMessage("m", () => auth.tick());
      // The same frames without authentication, on a bare listener of the same driver.
      const plain = rateCounter();
      const plainListener = await driverFor(scheme).listen({
        host: "127.0.0.1",
        port: 0,
        security: "mtls",
        tls: { rootCaPem: kit("localhost", "rootCA.pem"), certPem: kit("localhost", "server.crt"), keyPem: kit("localhost", "server.key") },
        // Same decoding and the same asynchronous hand-off to a handler as SecureChannel, minus the
        // checks (sender, token, timestamp, MAC, replay window): the difference is their cost.
        onConnection: (conn) =>
          conn.onFrame((f) => {
            const env = decodeEnvelope(f);
            void Promise.resolve(env).then(() => plain.tick());
          }),
      });
      const peerArgs = {
        mode: "transport",
        scheme,
        port: addr?.port,
        plainPort: plainListener.port,
        bytes,
        cert: kit("site-1", "client.crt"),
        key: kit("site-1", "client.key"),
        ca: kit("site-1", "rootCA.pem"),
        messages: MESSAGES,
      };
      const peer = runPeer(peerArgs);
      await peer.ready;
      // Stream: server → site.
      const cpu0 = process.cpuUsage();
      await server.sendStream("site-1", "tensor", parts);
      const sent = process.cpuUsage(cpu0);
      const res = await peer.result;
      const mbs = res.bytes / res.seconds / 1e6;
      const mem = (res.maxRssBytes - res.baselineRssBytes) / bytes;
      rows.push([
        `${scheme} driver, authenticated`,
        mbs.toFixed(0),
        `${((mbs / rawMBs) * 100).toFixed(0)} %`,
        `${mem.toFixed(2)}× tensor`,
        cpuPerGB((sent.user + sent.system) / 1e6, res.cpuSeconds),
      ]);
      // Messages: the peer sent MESSAGES authenticated 1 KiB messages, then the same unauthenticated.
      await plain.done(MESSAGES);
      const authRate = auth.rate();
      const plainRate = plain.rate();
      msgRows.push([scheme, authRate.toFixed(0), plainRate.toFixed(0), plainRate > 0 ? `${(((plainRate - authRate) / plainRate) * 100).toFixed(1)} %` : "-"]);
      await plainListener.close();
      await server.stop();
      audit.close();
    }
    const fmt =
      (w: number[]) =>
      (r: readonly string[]): string =>
        r.map((c, i) => c.padEnd(w[i] ?? 10)).join("  ");
    const f1 = fmt([34, 8, 10, 16, 20]);
    console.log(f1(["link", "MB/s", "vs raw", "receiver peak", "CPU s/GB send / recv"]));
    for (const row of rows) console.log(f1(row));
    console.log("\n1 KiB one-way messages site → server (authenticated: token, timestamp, sequence, HMAC checked; plain: same frames, no checks)");
    const f2 = fmt([8, 14, 14, 12]);
    console.log(f2(["driver", "auth msg/s", "plain msg/s", "auth cost"]));
    for (const row of msgRows) console.log(f2(row));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
