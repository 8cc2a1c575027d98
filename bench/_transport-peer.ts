// The receiving/sending process of `npm run bench -- transport` (forked; not an area of its own).
import { connect } from "node:tls";
import { randomBytes } from "node:crypto";
import { decode, type Tensor } from "../src/wire/index.js";
import { driverFor, TransportClient, type Scheme } from "../src/transport/index.js";
import { encodeEnvelope } from "../src/transport/envelope.js";

interface Args {
  mode: "raw" | "transport";
  port: number;
  plainPort?: number;
  scheme?: Scheme;
  bytes: number;
  cert: string;
  key: string;
  ca: string;
  messages?: number;
}

const args = JSON.parse(process.argv[2] ?? "{}") as Args;
const send = (m: unknown): void => {
  process.send?.(m);
};
let maxRss = 0;
const baseline = process.memoryUsage().rss;
const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 20);

async function raw(): Promise<void> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port: args.port, cert: args.cert, key: args.key, ca: args.ca, checkServerIdentity: () => undefined });
    s.on("data", (d: Buffer) => (got += d.length));
    s.on("end", resolve);
    s.on("error", reject);
  });
  const cpu = process.cpuUsage(cpu0);
  send({
    result: {
      kind: "raw",
      bytes: got,
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      maxRssBytes: maxRss,
      baselineRssBytes: baseline,
    },
  });
}

async function transport(): Promise<void> {
  const scheme = args.scheme ?? "tcp";
  const client = new TransportClient({
    name: "site-1",
    type: "client",
    project: "bench",
    certPem: args.cert,
    keyPem: args.key,
    rootPem: args.ca,
    serverName: "localhost",
    driver: driverFor(scheme),
    host: "127.0.0.1",
    port: args.port,
    security: "mtls",
    streams: { peerQuotaBytes: args.bytes * 2, memoryThresholdBytes: args.bytes * 2, maxChunkBytes: 8 * 1024 * 1024, idleTimeoutMs: 120_000 },
  });
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  const done = new Promise<{ bytes: number; seconds: number; cpuSeconds: number }>((resolve) => {
    client.handleStream("tensor", (stream) => {
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const tensor = decode(stream.read()) as Tensor;
      resolve({ bytes: tensor.data.byteLength, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      stream.dispose();
    });
  });
  await client.start();
  t0 = performance.now();
  cpu0 = process.cpuUsage();
  send({ ready: true });
  const r = await done;
  const rss = maxRss;
  const body = randomBytes(1024);
  for (let i = 0; i < (args.messages ?? 0); i++) await client.send("m", body);
  const conn = await driverFor(scheme).dial({
    host: "127.0.0.1",
    port: args.plainPort ?? 0,
    security: "mtls",
    tls: { rootCaPem: args.ca, certPem: args.cert, keyPem: args.key },
  });
  for (let i = 0; i < (args.messages ?? 0); i++) {
    await conn.send(encodeEnvelope({ k: "msg", id: randomBytes(16).toString("hex"), t: "m", n: "site-1", ts: Date.now(), sq: i + 1 }, [body]));
  }
  await new Promise((res) => setTimeout(res, 500));
  conn.close();
  await client.stop();
  send({ result: { kind: scheme, bytes: r.bytes, seconds: r.seconds, cpuSeconds: r.cpuSeconds, maxRssBytes: rss, baselineRssBytes: baseline } });
}

try {
  await (args.mode === "raw" ? raw() : transport());
  clearInterval(sampler);
  process.exit(0);
} catch (err) {
  send({ error: (err as Error).stack ?? String(err) });
  process.exit(1);
}
