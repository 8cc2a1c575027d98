// `npm run bench -- links [--mib N] [--frame-mib N] [--window N] [--drivers raw,tcp,http,grpc]`: MB/s pushing
// N MiB (default 1024) as 1 MiB frames over mtls, from this process to a receiver process on
// 127.0.0.1, for each link driver next to a raw node:tls socket moving the same bytes. Drivers
// only (no login, no message authentication): the messaging layer's own bench is `transport`.
import { fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import { provision } from "../src/provision/index.js";
import { driverFor } from "../src/transport/drivers/index.js";
import type { Scheme, TlsMaterial } from "../src/transport/driver.js";

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

interface Material {
  readonly server: TlsMaterial;
  readonly client: TlsMaterial;
}

interface ReceiverResult {
  readonly bytes: number;
  readonly seconds: number;
  readonly maxRssMiB: number;
}

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
}

async function makeMaterial(dir: string): Promise<Material> {
  const file = join(dir, "project.yml");
  writeFileSync(
    file,
    `api_version: 3
name: links_bench
participants:
  - {name: localhost, type: server, org: bench, fed_learn_port: 8002, host_names: [127.0.0.1]}
  - {name: site-1, type: client, org: bench}
  - {name: admin@bench.org, type: admin, org: bench, role: project_admin}
builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
  - path: nvflare.lighter.impl.cert.CertBuilder
`,
  );
  const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
  const read = (kit: string, f: string): string => readFileSync(join(r.prodDir, kit, "startup", f), "utf8");
  return {
    server: { rootCaPem: read("localhost", "rootCA.pem"), certPem: read("localhost", "server.crt"), keyPem: read("localhost", "server.key") },
    client: { rootCaPem: read("site-1", "rootCA.pem"), certPem: read("site-1", "client.crt"), keyPem: read("site-1", "client.key") },
  };
}

/** Receiver process: listens, counts `total` bytes, reports the time from first to last byte. */
async function receive(kind: string, material: Material, total: number): Promise<void> {
  let received = 0;
  let first = 0;
  let maxRss = 0;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage.rss())), 50);
  const finish = (): void => {
    clearInterval(sampler);
    const result: ReceiverResult = {
      bytes: received,
      seconds: (performance.now() - first) / 1000,
      maxRssMiB: Math.max(maxRss, process.memoryUsage.rss()) / MiB,
    };
    process.send?.({ result }, () => process.exit(0));
  };
  const count = (n: number): void => {
    if (received === 0) first = performance.now();
    received += n;
    if (received >= total) finish();
  };
  if (kind === "raw") {
    const server = createTlsServer(
      {
        key: material.server.keyPem,
        cert: material.server.certPem,
        ca: material.server.rootCaPem,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
      },
      (socket) => {
        socket.on("data", (chunk: Buffer) => count(chunk.length));
      },
    );
    server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.address() as { port: number }).port }));
    return;
  }
  const listener = await driverFor(kind as Scheme).listen({
    host: "127.0.0.1",
    port: 0,
    security: "mtls",
    tls: material.server,
    limits: { maxFrameBytes: 64 * MiB },
    onConnection: (connection) => connection.onFrame((frame) => count(frame.byteLength)),
  });
  process.send?.({ port: listener.port });
}

async function sendRaw(port: number, material: Material, frame: Buffer, frames: number): Promise<void> {
  const socket = tlsConnect({
    host: "127.0.0.1",
    port,
    ca: material.client.rootCaPem,
    cert: material.client.certPem,
    key: material.client.keyPem,
    checkServerIdentity: () => undefined,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  for (let i = 0; i < frames; i++) {
    if (!socket.write(frame)) await new Promise((r) => socket.once("drain", r));
  }
}

/** Sends `frames` frames keeping up to `window` sends in flight (each with its own buffer). */
async function sendDriver(kind: Scheme, port: number, material: Material, frame: Buffer, frames: number, window: number): Promise<void> {
  const connection = await driverFor(kind).dial({
    host: "127.0.0.1",
    port,
    security: "mtls",
    tls: material.client,
    expectedServerIdentity: "localhost",
    limits: { maxFrameBytes: 64 * MiB },
  });
  let next = 0;
  const lane = async (buffer: Buffer): Promise<void> => {
    while (next < frames) {
      next++;
      await connection.send([buffer]);
    }
  };
  await Promise.all(Array.from({ length: window }, (_, i) => lane(i === 0 ? frame : Buffer.from(frame))));
}

async function measure(kind: string, materialFile: string, material: Material, frameMiB: number, mib: number, window: number): Promise<ReceiverResult> {
  const frames = Math.floor(mib / frameMiB);
  const total = frames * frameMiB * MiB;
  const child = fork(join(here, "run.ts"), ["links", "--receive", kind, "--material", materialFile, "--bytes", String(total)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error("no port"))));
    child.once("exit", (code) => reject(new Error(`receiver exited with ${code}`)));
  });
  const result = new Promise<ReceiverResult>((resolve) => child.on("message", (m: { result?: ReceiverResult }) => m.result && resolve(m.result)));
  const frame = Buffer.alloc(frameMiB * MiB, 7);
  if (kind === "raw") await sendRaw(port, material, frame, frames);
  else await sendDriver(kind as Scheme, port, material, frame, frames, window);
  const r = await result;
  child.kill();
  return r;
}

export default async function links(args: string[]): Promise<void> {
  if (args.includes("--receive")) {
    const material = JSON.parse(readFileSync(option(args, "--material", ""), "utf8")) as Material;
    await receive(option(args, "--receive", "raw"), material, Number(option(args, "--bytes", "0")));
    return;
  }
  const mib = Number(option(args, "--mib", "1024"));
  const frameMiB = Number(option(args, "--frame-mib", "1"));
  const kinds = option(args, "--drivers", "raw,tcp,http,grpc").split(",");
  const window = Number(option(args, "--window", "1"));
  const dir = mkdtempSync(join(tmpdir(), "cohort-links-bench-"));
  try {
    const material = await makeMaterial(dir);
    const materialFile = join(dir, "material.json");
    writeFileSync(materialFile, JSON.stringify(material), { mode: 0o600 });
    console.log(`links bench: ${mib} MiB as ${frameMiB} MiB frames over mtls, 127.0.0.1, sender → receiver process, ${window} send(s) in flight`);
    console.log("| link | MB/s | % of raw TLS | receiver peak RSS (MiB) |");
    console.log("|---|---|---|---|");
    let raw = 0;
    for (const kind of kinds) {
      const r = await measure(kind, materialFile, material, frameMiB, mib, window);
      const mbps = r.bytes / 1e6 / r.seconds;
      if (kind === "raw") raw = mbps;
      const label = kind === "raw" ? "raw node:tls socket" : `${kind} driver`;
      console.log(`| ${label} | ${mbps.toFixed(0)} | ${raw > 0 ? ((100 * mbps) / raw).toFixed(0) : "-"} % | ${r.maxRssMiB.toFixed(0)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
