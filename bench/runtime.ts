// `npm run bench -- runtime [--skip-poc] [--skip-simulator] [--skip-aggregation] [--rounds 6]`
// The platform with training replaced by cohort.NoOpTrainer, against the issue's references:
// (a) aggregation GB/s next to memcpy, and peak RSS folding 10 sites × 100 MB (bench/learn.ts, in
//     its own process so its peak RSS is its own);
// (b) the simulator, 8 and 100 sites, a 1M-parameter float32 model (MLP 784-1258-10), 5 rounds;
// (c) POC: start until 8 sites are connected; a FedAvg round over real mTLS processes, from the
//     task sent to the global model updated (intervals between the server's "round r aggregated"
//     log lines), next to raw node:tls moving the same bytes (8 × model out, 8 × model back, one
//     connection per site, echo in a separate process); the whole process tree's peak RSS.
// The participants run a compiled CLI (esbuild bundle in node_modules/.cache), not tsx, as a
// deployment would.
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from "node:tls";
import { performance } from "node:perf_hooks";
import { runSimulation } from "../src/runtime/simulator/index.js";
import { cleanPoc, preparePoc, startPoc, type PreparedPoc } from "../src/runtime/poc/index.js";
import { AdminSession } from "../src/runtime/index.js";
import { paramShapes } from "../src/runtime/learn/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HIDDEN = 1258; // 784·1258 + 1258 + 1258·10 + 10 = 1,000,120 parameters
const PARAMS = Object.values(paramShapes({ kind: "mlp", hidden: HIDDEN }, 784, 10)).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
const MODEL_BYTES = PARAMS * 4;
const MiB = 1024 * 1024;

const rows: string[][] = [];
function row(measure: string, value: string, reference: string, ratio: string): void {
  rows.push([measure, value, reference, ratio]);
  console.log(`  ${measure}: ${value}  (${reference}${ratio ? `; ${ratio}` : ""})`);
}

/** A NoOp FedAvg job with the 1M-parameter model. */
function noOpJob(dir: string, sites: number, rounds: number): string {
  const model = { kind: "mlp", hidden: HIDDEN };
  const w = (f: string, v: unknown): void => {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), JSON.stringify(v));
  };
  w("meta.json", { name: `noop-${sites}`, deploy_map: { app: ["@ALL"] }, min_clients: sites });
  w("app/config/config_fed_server.json", {
    components: [
      { id: "persistor", path: "cohort.ModelPersistor", args: { model, features: 784, classes: 10 } },
      { id: "aggregator", path: "cohort.WeightedAggregator", args: {} },
    ],
    workflows: [{ id: "sag", path: "cohort.ScatterAndGather", args: { min_clients: sites, num_rounds: rounds, wait_time_after_min_received: 10 } }],
  });
  w("app/config/config_fed_client.json", { executors: [{ tasks: ["train", "validate"], executor: { id: "noop", path: "cohort.NoOpTrainer", args: {} } }] });
  return dir;
}

// ---- (a) aggregation ---------------------------------------------------------------------------

function aggregation(): void {
  console.log("\n(a) aggregation: bench/learn.ts --sites 10 --mb 100 --skip-training (own process)");
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench", "run.ts"), "learn", "--sites", "10", "--mb", "100", "--skip-training"], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 16 * MiB,
  });
  if (r.status !== 0) throw new Error(`bench learn failed: ${r.stderr}`);
  const lines = r.stdout.split("\n");
  const cells = (prefix: string): string[] =>
    (lines.find((l) => l.startsWith(prefix)) ?? "")
      .slice(prefix.length)
      .trim()
      .split(/\s{2,}/);
  const [copyGBs = "?"] = cells("TypedArray.prototype.set (memcpy, best of 5)");
  const [gbs = "?", pct = "?", rss = "?", perUpdate = "?"] = cells("submit: validate (finite) + fold");
  row(
    "aggregation, 10 × 100 MB float32 (validate + fold)",
    `${gbs} GB/s`,
    `memcpy here ${copyGBs} GB/s; goal ≥ 35 %, stretch 50 %; plain JS ~18 %`,
    `${pct.replace(" ", "")} of memcpy`,
  );
  row("server peak RSS folding 10 × 100 MB", rss, "goal ≤ 4× one update", `${perUpdate} one update`);
}

// ---- (b) simulator -----------------------------------------------------------------------------

async function simulator(work: string): Promise<void> {
  console.log(`\n(b) simulator: NoOpTrainer, ${PARAMS.toLocaleString("en")} parameters (${(MODEL_BYTES / 1e6).toFixed(1)} MB), 5 rounds, in this process`);
  for (const sites of [8, 100]) {
    const job = noOpJob(join(work, `sim-job-${sites}`), sites, 5);
    const t = performance.now();
    const r = await runSimulation({ jobDir: job, sites: Array.from({ length: sites }, (_, i) => `site-${i + 1}`), workspace: join(work, `sim-ws-${sites}`) });
    const s = (performance.now() - t) / 1000;
    if (r.status !== "FINISHED:COMPLETED") throw new Error(`simulation with ${sites} sites: ${r.status} ${r.reason ?? ""}`);
    row(
      `simulator, ${sites} sites, 1M params, 5 rounds`,
      `${s.toFixed(2)} s`,
      sites === 8 ? "FLARE's simulator here: 26.4 s" : "no reference",
      sites === 8 ? `${(26.4 / s).toFixed(1)}× faster` : "",
    );
  }
  console.log(`  (this process's peak RSS after both: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB)`);
}

// ---- (c) POC -----------------------------------------------------------------------------------

/** The CLI bundled once, so participants start as compiled JavaScript (job children need dist/cli/job-child.js beside it). */
function compiledCli(): string[] {
  const require = createRequire(import.meta.url);
  const esbuild = require("esbuild") as { buildSync(o: Record<string, unknown>): unknown };
  // <cache>/dist/cli/main.js: the job child's read grants are computed from this layout (job-process.ts).
  const out = join(ROOT, "node_modules", ".cache", "cohort-bench", "dist", "cli");
  const common = {
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  };
  esbuild.buildSync({ ...common, entryPoints: [join(ROOT, "src", "cli", "main.ts")], outfile: join(out, "main.js"), packages: "external" });
  // Self-contained: the sandboxed child may read only its own code folder.
  esbuild.buildSync({ ...common, entryPoints: [join(ROOT, "src", "runtime", "sandbox", "job-child.ts")], outfile: join(out, "job-child.js") });
  return [join(out, "main.js")];
}

/**
 * Σ RSS of the POC's processes, their process groups and every descendant, sampled. Descendants
 * count by parent, not group: a confined job process runs in a session (and PID namespace) of its own.
 */
class TreeRss {
  peak = 0;
  private readonly hwm = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly groups: readonly number[]) {
    this.timer = setInterval(() => this.sample(), 25);
  }

  private sample(): void {
    const procs = new Map<number, { ppid: number; pgrp: number }>();
    for (const e of readdirSync("/proc")) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = readFileSync(`/proc/${e}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        procs.set(Number(e), { ppid: Number(f[1]), pgrp: Number(f[2]) });
      } catch {
        // exited while listed
      }
    }
    const inTree = new Set([...procs].filter(([, p]) => this.groups.includes(p.pgrp)).map(([pid]) => pid));
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, p] of procs) {
        if (inTree.has(pid) || !inTree.has(p.ppid)) continue;
        inTree.add(pid);
        grew = true;
      }
    }
    let sum = 0;
    for (const pid of inTree) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const kib = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
        sum += kib("VmRSS") * 1024;
        this.hwm.set(pid, Math.max(this.hwm.get(pid) ?? 0, kib("VmHWM") * 1024));
      } catch {
        // exited while sampled
      }
    }
    this.peak = Math.max(this.peak, sum);
  }

  stop(): { sampled: number; sumOfPeaks: number } {
    this.sample();
    clearInterval(this.timer);
    return { sampled: this.peak, sumOfPeaks: [...this.hwm.values()].reduce((a, b) => a + b, 0) };
  }
}

/** Raw node:tls, same bytes as a round: the model to each of `sites` connections and back. */
async function rawTlsRound(p: PreparedPoc, sites: number, rounds: number): Promise<number[]> {
  const read = (kit: string, f: string): string => readFileSync(join(kit, "startup", f), "utf8");
  const server = p.kits["server"] ?? "";
  const site = p.kits["site-1"] ?? "";
  const tls = createTlsServer({
    cert: read(server, "server.crt"),
    key: read(server, "server.key"),
    ca: read(server, "rootCA.pem"),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const sockets: TLSSocket[] = [];
  const connected = new Promise<void>((res) => tls.on("secureConnection", (s) => sockets.push(s) === sites && res()));
  await new Promise<void>((res) => tls.listen(0, "127.0.0.1", res));
  const port = (tls.address() as { port: number }).port;
  const peer = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(ROOT, "bench", "run.ts"),
      "runtime",
      "--echo-peer",
      JSON.stringify({ port, sites, cert: read(site, "client.crt"), key: read(site, "client.key"), ca: read(site, "rootCA.pem") }),
    ],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] },
  );
  try {
    await connected;
    const payload = Buffer.alloc(MODEL_BYTES, 7);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MODEL_BYTES);
    const times: number[] = [];
    for (let r = 0; r <= rounds; r++) {
      const t = performance.now();
      await Promise.all(
        sockets.map(
          (s) =>
            new Promise<void>((res) => {
              let got = 0;
              const onData = (d: Buffer): void => {
                got += d.length;
                if (got >= MODEL_BYTES) {
                  s.off("data", onData);
                  res();
                }
              };
              s.on("data", onData);
              s.write(header);
              s.write(payload);
            }),
        ),
      );
      if (r > 0) times.push((performance.now() - t) / 1000); // the first round warms the connections
    }
    return times;
  } finally {
    for (const s of sockets) s.destroy();
    tls.close();
    peer.kill();
  }
}

/** The other side of rawTlsRound: `sites` mTLS connections, each echoing every frame back. */
async function echoPeer(json: string): Promise<void> {
  const a = JSON.parse(json) as { port: number; sites: number; cert: string; key: string; ca: string };
  for (let i = 0; i < a.sites; i++) {
    const s = tlsConnect({ host: "127.0.0.1", port: a.port, cert: a.cert, key: a.key, ca: a.ca, checkServerIdentity: () => undefined });
    // Chunks are kept until a frame is whole, then joined once (no quadratic re-copying).
    let chunks: Buffer[] = [];
    let have = 0;
    let need = -1;
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      have += d.length;
      for (;;) {
        if (need < 0) {
          if (have < 4) return;
          const head = Buffer.concat(chunks, have);
          chunks = [head];
          need = head.readUInt32BE(0);
        }
        if (have < 4 + need) return;
        const all = Buffer.concat(chunks, have);
        s.write(all.subarray(4, 4 + need));
        const rest = all.subarray(4 + need);
        chunks = rest.length > 0 ? [rest] : [];
        have = rest.length;
        need = -1;
      }
    });
    s.on("error", () => process.exit(0));
    s.on("close", () => process.exit(0));
  }
  await new Promise(() => undefined);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function poc(work: string, rounds: number): Promise<void> {
  const sites = 8;
  console.log(`\n(c) POC: ${sites} sites, mTLS, each participant its own process (compiled CLI)`);
  const cli = compiledCli();
  const ws = join(work, "poc");
  const p = await preparePoc({ workspace: ws, sites });
  try {
    const started = await startPoc({ workspace: ws, cli, timeoutMs: 120_000 });
    row(
      `POC start until ${sites} sites connected`,
      `${started.seconds.toFixed(2)} s`,
      "goal ≤ 3 s; FLARE here: 17.3 s",
      `${(17.3 / started.seconds).toFixed(1)}× faster than FLARE`,
    );

    const raw = await rawTlsRound(p, sites, 5);
    const groups = JSON.parse(readFileSync(join(ws, "pids.json"), "utf8")) as { processes: { pid: number }[] };
    const rss = new TreeRss(groups.processes.map((x) => x.pid));
    const admin = await AdminSession.open(p.kits[p.poc.admin.name] ?? "");
    let status = "";
    let jobId = "";
    try {
      const job = noOpJob(join(work, "poc-job"), sites, rounds);
      jobId = ((await admin.run(`submit_job ${job}`)) as { job_id: string }).job_id;
      const deadline = Date.now() + 300_000;
      while (!status.startsWith("FINISHED:") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        status = ((await admin.run(`get_job_meta ${jobId}`)) as { status: string }).status;
      }
    } finally {
      await admin.close();
    }
    const tree = rss.stop();
    if (status !== "FINISHED:COMPLETED") throw new Error(`POC FedAvg job ${jobId}: ${status || "no answer"}`);
    // "round r/N aggregated" lines of this job, with the server's timestamps.
    const log = readFileSync(join(p.kits["server"] ?? "", "log.txt"), "utf8");
    const at = [...log.matchAll(new RegExp(`^(\\S+) \\[\\S+\\] job ${jobId.slice(0, 8)} info: round (\\d+)/\\d+ aggregated`, "gm"))].map((m) =>
      Date.parse(m[1] ?? ""),
    );
    const intervals = at.slice(1).map((t, i) => (t - (at[i] ?? t)) / 1000);
    // Job start: submitted → running at every site (each site's job process started in its sandbox and ready).
    const stamp = (re: RegExp): number => Date.parse(re.exec(log)?.[1] ?? "");
    const submitted = stamp(new RegExp(`^(\\S+) \\[\\S+\\] job ${jobId} \\(\\S+\\) submitted`, "m"));
    const running = stamp(new RegExp(`^(\\S+) \\[\\S+\\] job ${jobId} \\(\\S+\\) running on`, "m"));
    row(
      `job start, ${sites} sites: submitted → running everywhere`,
      `${((running - submitted) / 1000).toFixed(2)} s`,
      "job processes confined with bubblewrap where installed",
      "",
    );
    const round = median(intervals);
    const rawRound = median(raw);
    row(
      `FedAvg round, ${sites} sites, 1M float32 params, mTLS processes (median of ${intervals.length})`,
      `${round.toFixed(3)} s`,
      `raw TLS same bytes ${rawRound.toFixed(3)} s; goal ≤ 0.4 s; FLARE here 2.5 s (1.5 s active)`,
      `${(round / rawRound).toFixed(1)}× raw TLS; ${(2.5 / round).toFixed(1)}× faster than FLARE`,
    );
    row(
      "peak RSS, whole process tree during the job",
      `${(tree.sampled / MiB).toFixed(0)} MiB sampled (Σ per-process peaks ${(tree.sumOfPeaks / MiB).toFixed(0)} MiB)`,
      "goal ≤ 1.2 GiB; FLARE here 2.4 GiB",
      `${((tree.sampled / (2.4 * 1024 * MiB)) * 100).toFixed(0)} % of FLARE`,
    );
  } finally {
    await cleanPoc({ workspace: ws, graceMs: 10_000 });
  }
}

export default async function bench(args: string[]): Promise<void> {
  const peer = args.indexOf("--echo-peer");
  if (peer >= 0) return echoPeer(args[peer + 1] ?? "{}");
  const i = args.indexOf("--rounds");
  const rounds = i >= 0 ? Number(args[i + 1]) : 6;
  const work = mkdtempSync(join(tmpdir(), "cohort-bench-runtime-"));
  console.log(`runtime bench: NoOpTrainer (only the platform is timed); model MLP 784-${HIDDEN}-10 = ${PARAMS.toLocaleString("en")} float32 parameters`);
  try {
    if (!args.includes("--skip-aggregation")) aggregation();
    if (!args.includes("--skip-simulator")) await simulator(work);
    if (!args.includes("--skip-poc")) await poc(work, rounds);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log("\n| measure | Cohort | reference | ratio |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  if (existsSync(join(ROOT, "node_modules", ".cache", "cohort-bench")))
    rmSync(join(ROOT, "node_modules", ".cache", "cohort-bench"), { recursive: true, force: true });
}
