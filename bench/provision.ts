// `npm run bench -- provision`: time to provision 1 server + 100 clients + 5 admins, with the
// default ECDSA P-256 keys and with RSA-2048 keys (generated in parallel on libuv's thread pool,
// so on all cores), next to FLARE's `nvflare provision` figure measured on this machine.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { provision } from "../src/provision/index.js";

const FLARE_RSA_SECONDS = 6.5; // nvflare provision, 1 server + 100 clients + 5 admins, RSA-2048, this machine
const GOAL_SECONDS = 1.5;

function projectYaml(keyAlgorithm: string): string {
  const lines = [
    "api_version: 3",
    "name: bench_project",
    "participants:",
    "  - {name: server.example.org, type: server, org: bench, fed_learn_port: 8002, host_names: [127.0.0.1]}",
  ];
  for (let i = 1; i <= 100; i++) lines.push(`  - {name: site-${i}, type: client, org: org_${i % 10}}`);
  const roles = ["project_admin", "org_admin", "lead", "member", "lead"];
  roles.forEach((role, i) => lines.push(`  - {name: admin${i}@bench.org, type: admin, org: org_${i}, role: ${role}}`));
  lines.push(
    "builders:",
    "  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder",
    "  - path: nvflare.lighter.impl.static_file.StaticFileBuilder",
    "  - path: nvflare.lighter.impl.cert.CertBuilder",
    `    args: {key_algorithm: ${keyAlgorithm}}`,
    "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
  );
  return `${lines.join("\n")}\n`;
}

async function timeProvision(keyAlgorithm: string, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const dir = mkdtempSync(join(tmpdir(), "cohort-bench-prov-"));
    try {
      const file = join(dir, "project.yml");
      writeFileSync(file, projectYaml(keyAlgorithm));
      const t0 = performance.now();
      await provision({ projectFile: file, workspace: join(dir, "ws") });
      times.push((performance.now() - t0) / 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return times;
}

/** Seconds to write `n` 1 KiB files: this file system's share of a provisioning run. */
function writeFilesBaseline(n: number): number {
  const dir = mkdtempSync(join(tmpdir(), "cohort-bench-fs-"));
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}`), Buffer.alloc(1024, 1));
    return (performance.now() - t0) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export default async function bench(args: string[]): Promise<void> {
  const runs = Number(args[args.indexOf("--runs") + 1] ?? 3) || 3;
  console.log(
    `provision: 1 server + 100 clients + 5 admins (106 kits: keys, certs, configs, signatures, tgz); ${availableParallelism()} cores, UV_THREADPOOL_SIZE=${process.env["UV_THREADPOOL_SIZE"] ?? "4 (default)"}, median of ${runs} runs`,
  );
  await timeProvision("ec-p256", 1); // warm-up (module loading, JIT)
  const fsBaseline = writeFilesBaseline(106 * 14);
  const ec = await timeProvision("ec-p256", runs);
  const rsa = await timeProvision("rsa-2048", runs);
  const rows: [string, string, string, string][] = [
    [
      "ECDSA P-256 (default)",
      `${median(ec).toFixed(2)} s`,
      `goal ≤ ${GOAL_SECONDS} s: ${median(ec) <= GOAL_SECONDS ? "met" : "NOT met"}`,
      `${(FLARE_RSA_SECONDS / median(ec)).toFixed(1)}× faster than FLARE`,
    ],
    [
      "RSA-2048 (parallel keygen)",
      `${median(rsa).toFixed(2)} s`,
      `FLARE (RSA-2048): ${FLARE_RSA_SECONDS} s`,
      `${(FLARE_RSA_SECONDS / median(rsa)).toFixed(2)}× FLARE's speed`,
    ],
  ];
  const w = [28, 10, 30, 30];
  const fmt = (r: readonly string[]): string => r.map((c, i) => c.padEnd(w[i] ?? 0)).join("  ");
  console.log(fmt(["keys", "median", "reference", "ratio"]));
  console.log(fmt(w.map((n) => "-".repeat(n))));
  for (const r of rows) console.log(fmt(r));
  console.log(
    `baseline: writing ${106 * 14} small files plainly takes ${fsBaseline.toFixed(2)} s on this file system now (a kit run writes about as many, plus 106 .tgz)`,
  );
  console.log(`runs: ec-p256 ${ec.map((t) => t.toFixed(2)).join(", ")} s; rsa-2048 ${rsa.map((t) => t.toFixed(2)).join(", ")} s`);
}
