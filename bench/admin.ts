// `npm run bench -- admin`: time for `cohort admin <kit> -c "check_status server"` from process
// start to answer (the compiled CLI, a real server process over mTLS on 127.0.0.1), next to a bare
// `node -e ""` start in the same run. FLARE's console: 1.5 s to connect and log in on this machine.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { provision } from "../src/provision/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "cli", "main.js");
const FLARE_SECONDS = 1.5;
const GOAL_SECONDS = 0.5;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function timed(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export default async function bench(args: string[]): Promise<void> {
  const runs = Number(args[args.indexOf("--runs") + 1] ?? 7) || 7;
  const dir = mkdtempSync(join(tmpdir(), "cohort-bench-admin-"));
  const port = await freePort();
  writeFileSync(
    join(dir, "project.yml"),
    `api_version: 3\nname: bench_admin\nparticipants:\n  - {name: localhost, type: server, org: o, fed_learn_port: ${port}, host_names: [127.0.0.1]}\n  - {name: admin@o.org, type: admin, org: o, role: project_admin, connect_to: 127.0.0.1}\n`,
  );
  const r = await provision({ projectFile: join(dir, "project.yml"), workspace: join(dir, "ws") });
  const server = spawn(process.execPath, [cli, "start", join(r.prodDir, "localhost"), "--host", "127.0.0.1"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      server.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("listening on")) resolve();
      });
      server.on("exit", (c) => reject(new Error(`server exited ${c}`)));
    });
    const adminKit = join(r.prodDir, "admin@o.org");
    timed([cli, "admin", adminKit, "-c", "check_status server"]); // warm the file cache
    const admin = Array.from({ length: runs }, () => timed([cli, "admin", adminKit, "-c", "check_status server"]));
    const bare = Array.from({ length: runs }, () => timed(["-e", ""]));
    const a = median(admin);
    const b = median(bare);
    console.log(`admin command from process start to answer (compiled CLI, mtls, 127.0.0.1), median of ${runs}`);
    console.log(`${"measure".padEnd(48)}${"seconds".padEnd(10)}reference`);
    console.log(`${"node -e '' (baseline: process start)".padEnd(48)}${b.toFixed(3).padEnd(10)}-`);
    console.log(
      `${'cohort admin -c "check_status server"'.padEnd(48)}${a.toFixed(3).padEnd(10)}goal ≤ ${GOAL_SECONDS} s: ${a <= GOAL_SECONDS ? "met" : "NOT met"}; FLARE ${FLARE_SECONDS} s (${(FLARE_SECONDS / a).toFixed(1)}× faster)`,
    );
    console.log(`runs: ${admin.map((x) => x.toFixed(3)).join(", ")} s`);
  } finally {
    server.kill("SIGTERM");
    await new Promise((res) => server.once("exit", res));
    rmSync(dir, { recursive: true, force: true });
  }
}
