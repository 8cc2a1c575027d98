import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import type { StoredJobMeta } from "../../runtime/jobs/index.js";
import type { AdminSession } from "../../runtime/admin/index.js";
import { ExitCode, printWarnings, reportError } from "../output.js";
import { repoRoot } from "../paths.js";

const SITES = ["site-1", "site-2", "site-3"];
const ADMIN = "admin@cohort.example.org";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen({ host: "127.0.0.1", port: 0 }, () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Runs this same CLI (compiled, or under tsx in development) as a child process. */
function cohort(args: readonly string[], output: "pipe" | "ignore" = "pipe"): ChildProcess {
  return spawn(process.execPath, [...process.execArgv, process.argv[1] ?? join(repoRoot(), "dist", "cli", "main.js"), ...args], {
    stdio: ["ignore", output, output],
  });
}

function waitForLine(p: ChildProcess, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} (output so far:\n${buf.slice(-2000)})`)), timeoutMs);
    p.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(t);
        resolve();
      }
    });
    p.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`process exited (${code}) before ${re}:\n${buf.slice(-2000)}`));
    });
  });
}

async function stopAll(procs: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          const kill = setTimeout(() => p.kill("SIGKILL"), 10_000);
          p.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          p.kill("SIGTERM");
        }),
    ),
  );
}

/** The trainer's log line at a site: "job <id> info: data: N training and M test samples from <dir>". */
const SITE_DATA_LINE = / data: \d+ training and \d+ test samples from (.+)$/;

function realOrSame(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

/**
 * Which Fashion-MNIST the sites trained on, said out loud: the bundled subset gives lower accuracy
 * than Debian's full dataset, so a reader must know which one the figures come from.
 */
function describeData(dirs: ReadonlySet<string>, bundledDir: string, debianDir: string): string {
  const names = [...dirs].map((d) => {
    if (realOrSame(d) === realOrSame(bundledDir)) {
      const why = existsSync(join(debianDir, "train-images-idx3-ubyte.gz"))
        ? `the sites could not read Debian's ${debianDir}`
        : "Debian's dataset-fashion-mnist is not installed";
      return `bundled Fashion-MNIST subset (${why}; with the full dataset accuracy is higher)`;
    }
    return realOrSame(d) === realOrSame(debianDir) ? `Fashion-MNIST from Debian's dataset-fashion-mnist (${d})` : `Fashion-MNIST from ${d}`;
  });
  return `data: ${names.join("; ")}\n`;
}

function bar(done: number, total: number, width = 20): string {
  const n = Math.round((done / Math.max(1, total)) * width);
  return `[${"#".repeat(n)}${"-".repeat(width - n)}]`;
}

/**
 * The main demo: a real federation on this machine. Provisions a project (server, 3 sites, an
 * admin) on free loopback ports, starts every participant as its own process over mTLS, submits
 * examples/jobs/hello-fedavg with `cohort admin`, shows the global accuracy round by round, and
 * stops everything it started.
 */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("run a real federation on this machine: provision, start a server and 3 sites (mTLS), run FedAvg on Fashion-MNIST, show accuracy per round")
    .option("--keep", "keep the temporary workspace (kits, logs, audit trails, models) for inspection")
    .action(async (flags: { keep?: boolean }) => {
      const { provision } = await import("../../provision/index.js");
      const { AdminSession } = await import("../../runtime/admin/index.js");
      const { eachLine } = await import("../../runtime/sandbox/index.js");
      const { BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR } = await import("../../runtime/datasets/index.js");
      const workspace = mkdtempSync(join(tmpdir(), "cohort-demo-"));
      const procs: ChildProcess[] = [];
      let admin: AdminSession | undefined;
      let ok = false;
      const tty = process.stdout.isTTY === true;
      try {
        const started = performance.now();
        const port = await freePort();
        const projectFile = join(workspace, "project.yml");
        writeFileSync(
          projectFile,
          [
            "api_version: 3",
            "name: cohort_demo",
            "description: Cohort demo federation (three hospitals, Fashion-MNIST, FedAvg)",
            "participants:",
            `  - {name: localhost, type: server, org: cohort, fed_learn_port: ${port}, host_names: [127.0.0.1]}`,
            ...SITES.map((s, i) => `  - {name: ${s}, type: client, org: hospital_${String.fromCharCode(97 + i)}, connect_to: 127.0.0.1}`),
            `  - {name: ${ADMIN}, type: admin, org: cohort, role: project_admin}`,
            "",
          ].join("\n"),
        );
        const result = await provision({ projectFile, workspace: join(workspace, "ws") });
        printWarnings(result.warnings);
        const kit = (n: string): string => join(result.prodDir, n);
        process.stdout.write(`provisioned ${result.kits.length} kits (root CA ${result.rootFingerprint ?? "-"}) in ${result.prodDir}\n`);

        const server = cohort(["start", kit("localhost"), "--host", "127.0.0.1"]);
        procs.push(server);
        await waitForLine(server, /listening on/, 30_000);
        // Each site's trainer logs the folder it read: collected to say which data the figures come from.
        const dataDirs = new Set<string>();
        // How the sites confine job code (each logs it at start): said once, first site's words.
        let confinementShown = false;
        for (const s of SITES) {
          const site = cohort(["start", kit(s)]);
          eachLine(site.stdout, (line) => {
            const m = SITE_DATA_LINE.exec(line);
            if (m?.[1]) dataDirs.add(m[1]);
            const c = / ((?:WARNING: )?job code (?:is NOT )?confined.*)$/.exec(line);
            if (c?.[1] && !confinementShown) {
              confinementShown = true;
              process.stdout.write(`sites: ${c[1]}\n`);
            }
          });
          procs.push(site);
        }
        let dataShown = false;
        const showData = (): void => {
          if (dataShown || dataDirs.size === 0) return;
          process.stdout.write(describeData(dataDirs, BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR));
          dataShown = true;
        };
        admin = await AdminSession.open(kit(ADMIN));
        for (let i = 0; ; i++) {
          const status = (await admin.run("check_status server")) as { clients: string[] };
          if (status.clients.length === SITES.length) break;
          if (i > 300) throw new Error(`only ${status.clients.join(", ")} connected after 60 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
        process.stdout.write(
          `server and ${SITES.length} sites running as separate processes, connected over mTLS (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
        );

        const jobFolder = join(repoRoot(), "examples", "jobs", "hello-fedavg");
        const submit = cohort(["admin", kit(ADMIN), "-c", `submit_job ${jobFolder}`, "--json"]);
        let out = "";
        submit.stdout?.on("data", (d: Buffer) => (out += d.toString()));
        submit.stderr?.on("data", (d: Buffer) => (out += d.toString()));
        const code = await new Promise<number | null>((r) => submit.on("exit", r));
        if (code !== 0) throw new Error(`cohort admin submit_job failed: ${out}`);
        const jobId = (JSON.parse(out) as { job_id: string }).job_id;
        process.stdout.write(`submitted hello-fedavg with 'cohort admin': job ${jobId}\n`);

        let shown = 0;
        let meta: StoredJobMeta;
        for (;;) {
          meta = (await admin.run(`get_job_meta ${jobId}`)) as StoredJobMeta;
          const total = meta.total_rounds ?? 0;
          if (meta.rounds.some((x) => x.round > shown)) showData();
          for (const r of meta.rounds.filter((x) => x.round > shown).sort((a, b) => a.round - b.round)) {
            const acc = r.metrics["accuracy"] ?? NaN;
            if (tty) process.stdout.write(`\r${bar(r.round, total)} round ${r.round}/${total} accuracy ${acc.toFixed(3)}   `);
            else process.stdout.write(`round ${r.round}/${total} accuracy ${acc.toFixed(3)}\n`);
            shown = r.round;
          }
          if (meta.status.startsWith("FINISHED:")) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        if (tty) process.stdout.write("\n");
        showData();
        const serverJob = join(kit("localhost"), "workspace", "jobs", jobId);
        const last = meta.rounds.at(-1)?.metrics["accuracy"];
        process.stdout.write(
          [
            `job ${meta.status}${meta.status_reason ? ` (${meta.status_reason})` : ""} in ${((performance.now() - started) / 1000).toFixed(1)} s; final global accuracy ${last?.toFixed(3) ?? "-"} on the held-out test set`,
            `  global model:  ${join(serverJob, "workspace", "models", "global_model.cohort")} (best: best_model.cohort)`,
            `  logs:          ${kit("localhost")}/log.txt and each site's log.txt`,
            `  audit trails:  ${kit("localhost")}/audit.log, ${SITES.map((s) => `${s}/audit.log`).join(", ")}`,
            flags.keep ? `  workspace kept: ${workspace}` : "  (temporary workspace removed; use --keep to inspect it)",
            "",
          ].join("\n"),
        );
        ok = meta.status === "FINISHED:COMPLETED";
      } catch (err) {
        process.exitCode = reportError(err, ExitCode.Failed);
      } finally {
        await admin?.close().catch(() => undefined);
        await stopAll(procs);
        if (!flags.keep) rmSync(workspace, { recursive: true, force: true });
        if (!ok && process.exitCode === undefined) process.exitCode = ExitCode.Failed;
      }
    });
}
