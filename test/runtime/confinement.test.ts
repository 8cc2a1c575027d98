/**
 * Issue 14, hostile-code tests, with real processes over mTLS: a server and two sites (`cohort
 * start`, kits with HEBuilder's CKKS contexts), jobs submitted with `cohort admin` by another org's
 * `lead` (who has `byoc` at every site under the provisioned default policy).
 *
 * site-1 is the attacked site: small job_limits, a job_read_paths folder, and a privacy.json whose
 * default scope forces GaussianPrivacy with a budget. Two hostile jobs run there, one per language:
 * - JS: a BYOC executor and job filter (test/fixtures/hostile-jobs/js/probe.mjs);
 * - Python: a Client API script run by ExternalProcessExecutor (test/fixtures/hostile-jobs/python/hostile.py).
 * Each probe writes a report (codes, sizes, SHA-256 digests) into its run folder, and pauses once so
 * that the test can look at the job process from the host (/proc/<pid>). Then an honest job runs at
 * site-1 and site-2. Every test below reads what one probe did and checks the site's side of it
 * (its log.txt, its audit.log, the server's model); the probes are samples of the boundary.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { decode, FLModel } from "../../src/wire/index.js";
import { BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR } from "../../src/runtime/datasets/index.js";
import { REPO_ROOT, editJsonFile, type EditableJson, writeFile } from "../helpers/index.js";
import { startFederation, stopFederation } from "../helpers/federation.js";
import { adminCli, auditRecords, JobWatcher, type CohortProcess } from "../helpers/processes.js";
import {
  confinementPrerequisites,
  extraFds,
  extraMounts,
  inspectProcess,
  namespacesOf,
  parseMountinfo,
  participantPid,
  pipeAndSocketIds,
  processesWith,
  sandboxAllowList,
  type FdEntry,
  type HostView,
} from "../helpers/confinement.js";

const SKIP = confinementPrerequisites();
if (SKIP) console.log(`# confinement.test.ts skipped: ${SKIP}`);

const SITE = "site-1";
const OTHER = "site-2";
const SERVER = "localhost";
const ADMIN = "admin@nvidia.com";
/** Another org's lead: `byoc` at every site under FLARE's default policy. */
const LEAD = "lead@org-x.org";
const LIMITS = { memory_mb: 1536, cpu_seconds: 120, file_size_mb: 64, open_files: 256, processes: 256 };
const JOB_UID = 65532;
/** Output lines are cut at 8 KiB; the prefix, timestamp and cut marker get some room on top. */
const MAX_LOG_LINE = 8192 + 512;
/** Every parameter of the JS probe's raw results (probe.mjs). */
const MARKER = 1234.5;
const NONCE = randomBytes(6).toString("hex");
const FIXTURES = join(REPO_ROOT, "test", "fixtures", "hostile-jobs");

type Outcome = { ok: boolean; code?: string; message?: string; bytes?: number; sha256?: string; entries?: string[] };
interface ProbeReport {
  language: string;
  steps: string[];
  runDir?: string;
  inspected?: boolean;
  inside?: {
    mounts: Outcome & { lines?: string[] };
    fds: Outcome & { list?: FdEntry[] };
    interfaces: Outcome & { names?: string[] };
    interfacesApi: Outcome & { names?: string[] };
  };
  env?: { names: string[]; digests: Record<string, string>; secretish: string[] };
  reads?: Record<string, Outcome>;
  controls?: Record<string, Outcome>;
  writes?: Record<string, Outcome>;
  net?: { server: Outcome; listener: Outcome };
  he?: { filterRan: boolean; sawContext: boolean; sawSecretKey: boolean; secretKeySha256: string | null; contextKeys: string[]; onContext: string[] };
  ipc?: { madeUp?: Outcome; bypass?: Outcome; second?: Outcome; realTaskId?: string | null };
  ipc2?: { bypass: Outcome };
  keyUse?: Outcome;
  userns?: Outcome;
  spawner?: { state: string; started?: number; error?: string | null; reaped?: number };
  memory?: { state: string; reachedMiB?: number; error?: string | null };
  flood?: { state: string; bytes?: number };
  forged?: Outcome;
}

/** One hostile job and what the test saw of it. */
interface HostileRun {
  readonly label: "JS" | "Python";
  readonly tag: "js" | "py";
  id: string;
  meta: Record<string, unknown>;
  report: ProbeReport | undefined;
  /** The job process (JS: the job child; Python: the script) seen from the host while its probe waited. */
  host: HostView | undefined;
  hostError: string;
  /** The targets given to the probe, by name (host paths). */
  targets: ProbeTargets;
}

/** What a probe is told to read, list and write (absolute host paths, by name): an attacker who knows the layout. */
interface ProbeTargets {
  readonly reads: Record<string, string>;
  readonly lists: Record<string, string>;
  readonly writes: Record<string, string>;
}

let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites = new Map<string, CohortProcess>();
const kit = (n: string): string => join(prodDir, n);
const jobDir = (id: string): string => join(kit(SITE), "workspace", "jobs", id);
const runDirOf = (id: string): string => join(jobDir(id), "workspace");
const short = (id: string): string => id.slice(0, 8);
const extraReadDir = (): string => join(dir, "extra-read");
const decoyJob = "00000000-0000-4000-8000-00000000dec0";
/** The default builders plus HEBuilder (FLARE's defaults): every site holds the project's CKKS secret key, as in the issue's attack. */
const BUILDERS = ["workspace.WorkspaceBuilder", "static_file.StaticFileBuilder", "cert.CertBuilder", "he.HEBuilder", "signature.SignatureBuilder"];
/** site-1's job_data_paths: the default's two dataset folders, given explicitly. */
const DATA_PATHS = [DEBIAN_FASHION_MNIST_DIR, BUNDLED_FASHION_MNIST_DIR];

let listener: Server;
let listenerPort = 0;
const listenerConnections: string[] = [];
const runs: Record<"js" | "py", HostileRun> = {
  js: { label: "JS", tag: "js", id: "", meta: {}, report: undefined, host: undefined, hostError: "", targets: { reads: {}, lists: {}, writes: {} } },
  py: { label: "Python", tag: "py", id: "", meta: {}, report: undefined, host: undefined, hostError: "", targets: { reads: {}, lists: {}, writes: {} } },
};
let honest: Record<string, unknown> = {};
let statusAfter: Record<string, unknown> = {};
/** site-1's log.txt, line by line (read once: a flood on the old code makes it large). */
let siteLines: string[] = [];
let siteAudit: Record<string, unknown>[] = [];
/** Pipe and socket ids this test process holds: a job process holding one inherited it from outside the site. */
let foreignIds = new Set<string>();
let siteIds = new Set<string>();
/** Digest of site-1's process environment (/proc/<pid>/environ), to tell whether a probe read it. */
let siteEnvironSha = "";

const tail = (p: CohortProcess | undefined): string =>
  p?.lines
    .slice(-40)
    .map((l) => l.slice(0, 300))
    .join("\n") ?? "";
const watcher = new JobWatcher(
  () => kit(ADMIN),
  () => `site-1:\n${tail(sites.get(SITE))}\nserver:\n${tail(server)}`,
);
const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

// ------------------------------------------------------------------------------------- job folders

type Json = Record<string, unknown>;

/** The server side of a hostile job: softmax FedAvg over site-1 only. */
function hostileServerConfig(rounds: number): Json {
  return {
    format_version: 2,
    components: [
      { id: "persistor", path: "cohort.ModelPersistor", args: { model: { kind: "softmax" }, features: 784, classes: 10, seed: 1 } },
      {
        id: "aggregator",
        path: "nvflare.app_common.aggregators.intime_accumulate_model_aggregator.InTimeAccumulateWeightedAggregator",
        args: { expected_data_kind: "WEIGHTS" },
      },
    ],
    workflows: [
      {
        id: "scatter_and_gather",
        // Cohort's workflow: it also evaluates the final model, so a one-round job reports a round.
        path: "cohort.ScatterAndGather",
        args: {
          min_clients: 1,
          num_rounds: rounds,
          wait_time_after_min_received: 0,
          aggregator_id: "aggregator",
          persistor_id: "persistor",
          train_task_name: "train",
          train_timeout: 150,
        },
      },
    ],
  };
}

function probeTargets(tag: "js" | "py"): ProbeTargets {
  const k = kit(SITE);
  return {
    reads: {
      "site key (startup/client.key)": join(k, "startup", "client.key"),
      "root CA (startup/rootCA.pem)": join(k, "startup", "rootCA.pem"),
      "HE context (startup/client_context.ckks)": join(k, "startup", "client_context.ckks"),
      "local/privacy.json": join(k, "local", "privacy.json"),
      "local/resources.json": join(k, "local", "resources.json"),
      "the site's audit.log": join(k, "audit.log"),
      "the site's log.txt": join(k, "log.txt"),
      "another job's file": join(k, "workspace", "jobs", decoyJob, "workspace", "secret.txt"),
      "another participant's key (site-2/startup/client.key)": join(kit(OTHER), "startup", "client.key"),
      "the server's key (localhost/startup/server.key)": join(kit(SERVER), "startup", "server.key"),
    },
    lists: {
      "startup/ listing": join(k, "startup"),
      "other jobs (workspace/jobs listing)": join(k, "workspace", "jobs"),
      "another participant's folder (site-2 listing)": kit(OTHER),
    },
    writes: {
      "local/ (local/hostile-*.json)": join(k, "local", `hostile-${tag}.json`),
      "the site's workspace (workspace/hostile-*.txt)": join(k, "workspace", `hostile-${tag}.txt`),
      "another participant's folder (site-2/hostile-*.txt)": join(kit(OTHER), `hostile-${tag}.txt`),
      // Not below /tmp: the federation lives there, and so does the sandbox's private /tmp.
      "outside the federation's folders (/var/tmp)": join("/var/tmp", `cohort-hostile-${NONCE}-${tag}.txt`),
      "the Cohort code (dist/)": join(REPO_ROOT, "dist", `hostile-${NONCE}-${tag}.txt`),
    },
  };
}

/** The probe's arguments (JS executor args, Python script config). */
function probeArgs(run: HostileRun): Json {
  run.targets = probeTargets(run.tag);
  return {
    nonce: NONCE,
    kit: kit(SITE),
    server_port: serverPort(),
    listener_port: listenerPort,
    ...run.targets,
    control_reads: { "a job_read_paths file": join(extraReadDir(), "readme.txt") },
    control_lists: { "the dataset folder (job_data_paths)": BUNDLED_FASHION_MNIST_DIR },
  };
}

function jobFolder(name: string, meta: Json, server: Json, client: Json, custom: Record<string, string>): string {
  const dst = join(dir, "jobs", name);
  writeFile(join(dst, "meta.json"), JSON.stringify(meta));
  writeFile(join(dst, "app", "config", "config_fed_server.json"), JSON.stringify(server));
  writeFile(join(dst, "app", "config", "config_fed_client.json"), JSON.stringify(client));
  for (const [file, from] of Object.entries(custom)) cpSync(from, join(dst, "app", "custom", file));
  return dst;
}

const hostileMeta = (name: string): Json => ({ name, resource_spec: {}, deploy_map: { app: ["server", SITE] }, min_clients: 1, mandatory_clients: [] });

function jsJob(): string {
  return jobFolder(
    "hostile-js",
    hostileMeta("hostile-js"),
    hostileServerConfig(2),
    {
      format_version: 2,
      executors: [{ tasks: ["train", "validate"], executor: { id: "hostile", path: "probe.HostileExecutor", args: probeArgs(runs.js) } }],
      // A job filter is job code too: it sees whatever context the site hands its filters.
      task_data_filters: [{ tasks: ["*"], filters: [{ path: "probe.KeyGrab", args: {} }] }],
      task_result_filters: [],
    },
    { "probe.mjs": join(FIXTURES, "js", "probe.mjs") },
  );
}

function pyJob(): string {
  return jobFolder(
    "hostile-py",
    hostileMeta("hostile-py"),
    hostileServerConfig(1),
    {
      format_version: 2,
      executors: [
        {
          tasks: ["train", "validate"],
          executor: {
            id: "hostile",
            path: "cohort.ExternalProcessExecutor",
            args: { command: ["python3", "hostile.py", NONCE], interpreter: "/usr/bin/python3", task_timeout: 150, config: probeArgs(runs.py) },
          },
        },
      ],
      task_data_filters: [],
      task_result_filters: [],
    },
    { "hostile.py": join(FIXTURES, "python", "hostile.py") },
  );
}

/** hello-fedavg at both sites, 2 short rounds, in site-1's "public" scope (no DP filter). */
function honestJob(): string {
  const dst = join(dir, "jobs", "honest");
  cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), dst, { recursive: true });
  const rw = (p: string, f: (j: EditableJson) => void): void => editJsonFile(join(dst, p), f);
  rw("meta.json", (m) => Object.assign(m, { name: "honest", scope: "public" }));
  rw("app/config/config_fed_server.json", (s) => Object.assign(s["workflows"][0]["args"], { num_rounds: 2, wait_time_after_min_received: 1 }));
  rw("app/config/config_fed_client.json", (c) => Object.assign(c["executors"][0]["executor"]["args"], { max_train_samples: 1000 }));
  return dst;
}

function serverPort(): number {
  const text = readFileSync(join(kit(SITE), "startup", "fed_client.json"), "utf8");
  const m = /"target"\s*:\s*"[^"]*:(\d+)"/.exec(text);
  if (!m?.[1]) throw new Error(`no server target in ${kit(SITE)}/startup/fed_client.json`);
  return Number(m[1]);
}

// ------------------------------------------------------------------------------------- the run

async function submit(adminName: string, folder: string): Promise<string> {
  const r = await adminCli(kit(adminName), `submit_job ${folder}`, 60_000);
  assert.equal(r.code, 0, r.text);
  return String(r.json["job_id"]);
}

/**
 * Waits (bounded) for a probe's "inspect-me" file, looks at its process from the host, then lets
 * it go on ("inspected"). `find` names the process: the JS job child by its title, the script by
 * its command line.
 */
async function inspectWhenReady(run: HostileRun, marker: string, ended: () => boolean, timeoutMs = 90_000): Promise<void> {
  const runDir = runDirOf(run.id);
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(join(runDir, "inspect-me"))) {
    if (Date.now() > deadline || ended()) {
      run.hostError = `the probe never asked to be inspected (no ${runDir}/inspect-me ${ended() ? "before the job ended" : `within ${timeoutMs / 1000} s`})`;
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    const pid = processesWith(marker)[0];
    if (pid === undefined) run.hostError = `no process with ${JSON.stringify(marker)} in its command line`;
    else run.host = inspectProcess(pid);
  } catch (err) {
    run.hostError = `inspecting the job process failed: ${(err as Error).message}`;
  } finally {
    writeFileSync(join(runDir, "inspected"), "ok\n", { mode: 0o644 });
  }
}

function readReport(id: string, file: string): ProbeReport | undefined {
  // Where the probe could write: its run folder (searched below the job folder, to be safe).
  const walk = (d: string, depth: number): string | undefined => {
    if (depth > 4 || !existsSync(d)) return undefined;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isFile() && e.name === file) return join(d, e.name);
      if (e.isDirectory()) {
        const found = walk(join(d, e.name), depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  const found = walk(jobDir(id), 0);
  return found ? (JSON.parse(readFileSync(found, "utf8")) as ProbeReport) : undefined;
}

const finished = (id: string, timeoutMs: number): Promise<Record<string, unknown>> =>
  watcher.wait(id, (s) => s.startsWith("FINISHED:"), timeoutMs).catch((err: Error) => ({ status: "NOT FINISHED", status_reason: err.message.slice(0, 3000) }));

describe("hostile job code at a site is refused or contained (issue 14)", { skip: SKIP }, () => {
  before(
    async () => {
      listener = createServer((s) => {
        listenerConnections.push(`${s.remoteAddress}:${s.remotePort}`);
        s.destroy();
      });
      await new Promise<void>((r) => listener.listen({ host: "127.0.0.1", port: 0 }, r));
      const addr = listener.address();
      listenerPort = typeof addr === "object" && addr ? addr.port : 0;

      const fed = await startFederation({
        project: "confinement_test",
        sites: [SITE, OTHER],
        admins: [
          { name: ADMIN, org: "nvidia", role: "project_admin" },
          { name: LEAD, org: "org_x", role: "lead" },
        ],
        builders: `builders:\n${BUILDERS.map((b) => `  - path: nvflare.lighter.impl.${b}`).join("\n")}\n`,
        prepare: (k, d) => {
          const site = k(SITE);
          const res = JSON.parse(readFileSync(join(site, "local", "resources.json.default"), "utf8")) as Json;
          Object.assign(res, {
            max_concurrent_jobs: 3,
            job_data_paths: DATA_PATHS,
            job_read_paths: [join(d, "extra-read")],
            job_limits: LIMITS,
            job_uid: JOB_UID,
            job_gid: JOB_UID,
            allow_unconfined_jobs: false,
          });
          writeFile(join(site, "local", "resources.json"), JSON.stringify(res));
          writeFile(
            join(site, "local", "privacy.json"),
            JSON.stringify({
              scopes: [
                { name: "public", task_result_filters: [{ name: "ExcludeVars", args: { exclude_vars: [] } }] },
                {
                  name: "private",
                  task_result_filters: [{ name: "GaussianPrivacy", args: { clip_norm: 1, epsilon: 0.9, delta: 1e-6 } }],
                  budget: { epsilon: 100, delta: 1e-3 },
                },
              ],
              default_scope: "private",
            }),
          );
          // A finished job of someone else, and a folder the site lets jobs read (job_read_paths).
          writeFile(join(site, "workspace", "jobs", decoyJob, "workspace", "secret.txt"), "another job's result\n");
          writeFile(join(d, "extra-read", "readme.txt"), "readable by jobs at site-1\n");
        },
      });
      ({ dir, prodDir, server } = fed);
      for (const [name, p] of fed.sites) sites.set(name, p);
      foreignIds = pipeAndSocketIds("/proc/self");

      const t0 = Date.now();
      const took = (what: string): void => console.log(`# ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      runs.py.id = await submit(LEAD, pyJob());
      runs.js.id = await submit(LEAD, jsJob());
      const ended = { js: false, py: false };
      const done = (["js", "py"] as const).map((k) =>
        finished(runs[k].id, 240_000).then((meta) => {
          ended[k] = true;
          runs[k].meta = meta;
        }),
      );
      await Promise.all([
        inspectWhenReady(runs.js, `cohort-hostile-js-${NONCE}`, () => ended.js),
        inspectWhenReady(runs.py, `hostile.py ${NONCE}`, () => ended.py),
      ]);
      const sitePid = participantPid(kit(SITE));
      if (sitePid !== undefined) {
        siteIds = pipeAndSocketIds(`/proc/${sitePid}`);
        siteEnvironSha = sha256(readFileSync(`/proc/${sitePid}/environ`));
      }
      took("host inspections");
      await Promise.all(done);
      took(`hostile jobs ended (${runs.js.meta["status"]}, ${runs.py.meta["status"]})`);
      runs.js.report = readReport(runs.js.id, "hostile-report.json");
      runs.py.report = readReport(runs.py.id, "hostile-report-py.json");

      honest = await finished(await submit(ADMIN, honestJob()), 150_000);
      took("honest job ended");
      statusAfter = (await adminCli(kit(ADMIN), "check_status server", 60_000)).json;
      siteLines = readFileSync(join(kit(SITE), "log.txt"), "utf8").split("\n");
      siteAudit = auditRecords(kit(SITE));
    },
    { timeout: 600_000 },
  );

  after(async () => {
    if (server) await stopFederation(server, sites.values(), watcher);
    // COHORT_TEST_KEEP=<folder>: keep the federation (logs, audit, job folders and reports) for a look.
    const keep = process.env["COHORT_TEST_KEEP"];
    if (keep && dir) cpSync(dir, join(keep, "confinement"), { recursive: true });
    listener?.close();
    for (const run of Object.values(runs)) for (const p of Object.values(run.targets.writes)) rmSync(p, { force: true });
  });

  const auditOf = (id: string): Record<string, unknown>[] => siteAudit.filter((a) => a["job"] === id);
  const logLines = (): string[] => siteLines;
  const reportOf = (run: HostileRun): ProbeReport => {
    assert.ok(
      run.report,
      `${run.label} job ${run.id}: no probe report in its job folder (status ${String(run.meta["status"])}: ${String(run.meta["status_reason"] ?? "").slice(0, 500)})`,
    );
    return run.report;
  };
  const describeOutcome = (o: Outcome | undefined): string =>
    o
      ? o.ok
        ? `succeeded${o.bytes !== undefined ? ` (${o.bytes} bytes)` : ""}${o.entries ? ` (${o.entries.length} entries: ${o.entries.slice(0, 8).join(", ")})` : ""}`
        : `failed (${o.code})`
      : "was not tried";

  for (const run of [runs.js, runs.py]) {
    const L = run.label;

    test(`${L}: reading the site's key, root CA, HE context, local/ config, audit.log and log.txt, other jobs and other participants fails`, (t) => {
      const r = reportOf(run);
      assert.ok(r.reads, `the ${L} probe did not get to its file reads (steps: ${r.steps.join(", ")})`);
      // What the host holds at each target: a read leaks when it got those bytes, a listing when it shows those names.
      const digestOf = (path: string): string | undefined => (existsSync(path) ? sha256(readFileSync(path)) : undefined);
      const hostDigests: Record<string, string | undefined> = Object.fromEntries(
        Object.entries(run.targets.reads).map(([name, path]) => [name, digestOf(path)]),
      );
      hostDigests["site key by a path relative to the run folder"] = hostDigests["site key (startup/client.key)"];
      assert.ok(siteEnvironSha, "the test found no site-1 process to compare its environment with");
      hostDigests["the site process's environment (/proc/<parent>/environ)"] = siteEnvironSha;
      const leaks: string[] = [];
      for (const [name, o] of Object.entries(r.reads)) {
        if (!o.ok) continue;
        const listed = run.targets.lists[name];
        if (listed !== undefined) {
          const hostNames = new Set(existsSync(listed) ? readdirSync(listed) : []);
          const shown = (o.entries ?? []).filter((e) => hostNames.has(e) && e !== run.id);
          if (shown.length) leaks.push(`${name}: listed ${shown.join(", ")}`);
          else t.diagnostic(`${name}: listed only ${JSON.stringify(o.entries)} (the sandbox's own)`);
        } else if (o.sha256 !== undefined && o.sha256 === hostDigests[name]) leaks.push(`${name}: read the host's ${o.bytes} bytes`);
        else t.diagnostic(`${name}: read ${o.bytes} bytes that are not the host's (the sandbox's own)`);
      }
      assert.deepEqual(leaks, [], `${L} job code read what it must not`);
    });

    test(`${L}: writing to local/, the site's workspace, its own app folder, another participant, outside the federation and the code fails`, (t) => {
      const r = reportOf(run);
      assert.ok(r.writes, `the ${L} probe did not get to its writes (steps: ${r.steps.join(", ")})`);
      const hostPaths: Record<string, string> = { ...run.targets.writes, "its own app folder": join(jobDir(run.id), "app", "app", "hostile.txt") };
      const onHost = Object.entries(hostPaths)
        .filter(([, p]) => existsSync(p))
        .map(([name, p]) => `${name}: ${p}`);
      for (const [name, o] of Object.entries(r.writes))
        if (o.ok && !existsSync(hostPaths[name] ?? "")) t.diagnostic(`${name}: written inside the sandbox only (not on the host)`);
      assert.deepEqual(onHost, [], `${L} job code wrote outside its run folder`);
    });

    test(`${L}: its own app folder, a job_read_paths file and the dataset stay readable and its run folder writable (the sandbox is not vacuous)`, () => {
      const r = reportOf(run);
      assert.ok(r.controls, `the ${L} probe did not get to its controls`);
      assert.deepEqual(
        Object.entries(r.controls)
          .filter(([, o]) => !o.ok)
          .map(([name, o]) => `${name}: ${describeOutcome(o)}`),
        [],
      );
    });

    test(`${L}: connecting to the server's port and to a listener of the test fails; the listener sees no connection`, () => {
      const r = reportOf(run);
      assert.ok(r.net, `the ${L} probe did not get to its network step`);
      assert.equal(r.net.server.ok, false, `${L} job code connected to the server's port 127.0.0.1:${serverPort()}`);
      assert.equal(r.net.listener.ok, false, `${L} job code connected to the test's listener 127.0.0.1:${listenerPort}`);
      assert.deepEqual(listenerConnections, [], "the test's listener saw connections");
    });

    test(`${L}: the HE secret key is out of reach (client_context.ckks unreadable, nothing key-like in its environment${run.tag === "js" ? ", no CKKS context given to its job filter" : ""})`, () => {
      const r = reportOf(run);
      const he = r.reads?.["HE context (startup/client_context.ckks)"];
      assert.ok(he, "the probe did not try client_context.ckks");
      assert.equal(he.ok, false, `${L} job code read startup/client_context.ckks (${he.bytes} bytes)`);
      assert.deepEqual(r.env?.secretish, [], `environment variables holding key material: ${r.env?.secretish.join(", ")}`);
      if (run.tag === "js") {
        assert.ok(r.he?.filterRan, "the probe's job filter never ran (the HE check is vacuous)");
        const secret = JSON.parse(readFileSync(join(kit(SITE), "startup", "client_context.ckks"), "utf8")) as { secret_key?: string };
        assert.equal(
          r.he.sawSecretKey,
          false,
          `the job filter got the site's CKKS secret key${r.he.secretKeySha256 === sha256(secret.secret_key ?? "") ? " (the real one: digest matches)" : ""}`,
        );
        assert.equal(r.he.sawContext, false, `the job filter got a CKKS context (keys ${r.he.contextKeys.join(", ")}); jobs without HE components get none`);
      }
    });

    test(`${L}: its environment holds none of the site's variables (the site inherits this test's)`, () => {
      const r = reportOf(run);
      assert.ok(r.env, "the probe did not list its environment");
      // Set for job code by Cohort itself (the same value as the site's is no leak): search path, locale, Python's and the channel's settings.
      const passed = new Set(["PATH", "LANG", "LC_ALL", "TZ", "NODE_ENV", "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"]);
      const leaked = Object.entries(r.env.digests)
        .filter(([n, d]) => !passed.has(n) && process.env[n] !== undefined && sha256(process.env[n] ?? "") === d)
        .map(([n]) => n);
      assert.deepEqual(leaked, [], "variables of the site's environment reached job code");
    });

    test(`${L}: allocating far past job_limits.memory_mb fails (or ends the job process, audited); the site goes on`, () => {
      const r = reportOf(run);
      assert.ok(r.memory, `the ${L} probe never reached its memory step (steps: ${r.steps.join(", ")})`);
      if (r.memory.state === "done") {
        assert.ok(r.memory.error, `${L} job code allocated ${r.memory.reachedMiB} MiB without an error (memory_mb is ${LIMITS.memory_mb})`);
        assert.ok((r.memory.reachedMiB ?? 0) < LIMITS.memory_mb, `allocation failed only at ${r.memory.reachedMiB} MiB, past memory_mb ${LIMITS.memory_mb}`);
      } else {
        const exit = auditOf(run.id).find((a) => /exit|killed|died|signal/i.test(`${String(a["action"])} ${String(a["reason"] ?? "")}`));
        assert.ok(exit, `the ${L} job process died during its memory probe and site-1's audit has no line for its exit`);
      }
    });

    test(`${L}: 100 MB without a newline reaches the site log cut at 8 KiB, with one ERR_JOB_OUTPUT_LIMIT audit line`, (t) => {
      const r = reportOf(run);
      assert.ok(r.flood && r.flood.state !== "started", `the ${L} probe did not finish its flood (${JSON.stringify(r.flood)})`);
      t.diagnostic(`${L} flood: ${JSON.stringify(r.flood)}`);
      const lines = logLines().filter((l) => l.includes(`job ${short(run.id)}`));
      const long = lines.filter((l) => l.length > MAX_LOG_LINE);
      assert.deepEqual(
        long.map((l) => l.length),
        [],
        `site log lines of the ${L} job longer than 8 KiB (+ prefix): their lengths`,
      );
      const flooded = lines.reduce((n, l) => n + (l.includes("AAAAAAAA") ? l.length : 0), 0);
      assert.ok(flooded <= 4 * 1024 * 1024, `${flooded} bytes of the ${L} job's flood reached site-1's log (bounded buffers keep it far below 100 MB)`);
      const audits = auditOf(run.id).filter((a) => a["action"] === "job.output" && a["outcome"] === "denied" && a["code"] === "ERR_JOB_OUTPUT_LIMIT");
      assert.equal(audits.length, 1, `site-1 audit lines job.output/denied/ERR_JOB_OUTPUT_LIMIT for the ${L} job`);
    });

    test(`${L}: forged log lines (\\r, \\n, ESC, the site's own format) stay prefixed 'job <id> …' with control characters escaped`, () => {
      const r = reportOf(run);
      assert.ok(r.forged?.ok, `the ${L} probe did not forge its lines`);
      const prefix = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \\[${SITE}\\] job ${short(run.id)}[ :]`);
      const forged = logLines().filter((l) => l.includes(NONCE) && /FORGE/.test(l) && (run.tag === "js" ? !/FORGE-PY/.test(l) : /FORGE-PY/.test(l)));
      assert.ok(forged.length > 0, `none of the ${L} job's forged lines reached site-1's log`);
      const unprefixed = forged.filter((l) => !prefix.test(l));
      assert.deepEqual(
        unprefixed.map((l) => JSON.stringify(l.slice(0, 200))),
        [],
        `lines of ${L} job output in site-1's log without the 'job ${short(run.id)}' prefix`,
      );
      const raw = [...new Set([...forged, ...logLines().filter((l) => l.includes(`job ${short(run.id)}`))])].filter((l) => /[\r\x1b\x07]/.test(l));
      assert.deepEqual(
        raw.map((l) => JSON.stringify(l.slice(0, 200))),
        [],
        `site-1's log has lines of the ${L} job with raw control characters (\\r, ESC, BEL)`,
      );
      const plain = forged.find((l) => l.includes(run.tag === "js" ? "FORGE-OUT" : "FORGE-PY "));
      assert.ok(
        plain?.includes("\\r") && plain.includes("\\x1b"),
        `the forged line is in the log with \\r and ESC escaped (got ${JSON.stringify(plain?.slice(0, 200))})`,
      );
    });

    test(`${L}: metrics are bounded by the site (≤ 64 entries, keys ≤ 64 characters, numbers) and the drops audited (job.metrics)`, () => {
      const rounds = (run.meta["rounds"] as { round: number; metrics: Record<string, unknown> }[] | undefined) ?? [];
      assert.ok(rounds.length > 0, `the ${L} job reported no rounds (${String(run.meta["status"])}: ${String(run.meta["status_reason"] ?? "").slice(0, 300)})`);
      for (const round of rounds) {
        const keys = Object.keys(round.metrics);
        assert.ok(keys.length <= 64, `round ${round.round}: ${keys.length} metrics reached the server`);
        assert.deepEqual(
          keys.filter((k) => k.length > 64).map((k) => k.length),
          [],
          `round ${round.round}: metric keys longer than 64 characters (their lengths)`,
        );
        assert.ok(
          Object.values(round.metrics).every((v) => typeof v === "number"),
          `round ${round.round}: metrics that are not numbers`,
        );
      }
      assert.ok(
        auditOf(run.id).some((a) => a["action"] === "job.metrics"),
        `site-1 has no job.metrics audit line counting what it dropped from the ${L} job`,
      );
    });

    test(`${L}: the site's DP filter and budget apply to every train result (privacy.charged per train task)`, () => {
      const trains = auditOf(run.id).filter((a) => a["action"] === "task.received" && /^train\b/.test(String(a["reason"])));
      const charged = auditOf(run.id).filter((a) => a["action"] === "privacy.charged");
      assert.ok(trains.length > 0, `site-1 received no train task of the ${L} job`);
      assert.ok(
        charged.length >= trains.length,
        `${trains.length} train tasks, ${charged.length} privacy.charged lines: results left site-1 without its GaussianPrivacy filter and budget`,
      );
    });
  }

  test("JS: a result for a task it was not given and a second result are refused with ERR_JOB_UNEXPECTED_MESSAGE, audited; the job goes on", () => {
    const r = reportOf(runs.js);
    assert.ok(r.ipc?.madeUp?.ok, `the probe could not post its made-up result (${describeOutcome(r.ipc?.madeUp)}): the check is vacuous`);
    assert.ok(r.ipc.second?.ok, `the probe could not post its second result (${describeOutcome(r.ipc.second)})`);
    const denied = auditOf(runs.js.id).filter((a) => a["action"] === "job.message" && a["outcome"] === "denied" && a["code"] === "ERR_JOB_UNEXPECTED_MESSAGE");
    assert.ok(
      denied.length >= 2,
      `site-1 audit lines job.message/denied/ERR_JOB_UNEXPECTED_MESSAGE: ${denied.length} (want one for the made-up task, one for the second result)`,
    );
    assert.ok(r.ipc2, "the job did not go on to round 2 after its refused messages");
  });

  test("JS: a result posted by raw process.send still goes through site-1's privacy filter (its marker never reaches the server's model)", () => {
    const r = reportOf(runs.js);
    assert.ok(r.ipc?.bypass?.ok, `the probe could not post its raw result (${describeOutcome(r.ipc?.bypass)}): the check is vacuous`);
    const file = join(kit(SERVER), "workspace", "jobs", runs.js.id, "workspace", "models", "global_model.cohort");
    assert.ok(existsSync(file), `the server saved no model for the JS job (${file}; status ${String(runs.js.meta["status"])})`);
    const model = decode(readFileSync(file));
    assert.ok(model instanceof FLModel);
    let total = 0;
    let marked = 0;
    for (const v of Object.values(model.params)) {
      if (!(v instanceof Float32Array)) continue;
      total += v.length;
      for (const x of v) if (x === MARKER) marked++;
    }
    assert.ok(total > 0, "the server's model has no float parameters");
    assert.equal(
      marked,
      0,
      `${marked} of ${total} values of the server's model are the probe's marker ${MARKER}: the raw result skipped site-1's GaussianPrivacy filter`,
    );
  });

  test("Python: the site's key is unreadable, so it cannot log in to the server as site-1 (TLS client authentication)", () => {
    const r = reportOf(runs.py);
    assert.equal(r.reads?.["site key (startup/client.key)"]?.ok, false, "the script read startup/client.key");
    assert.ok(r.keyUse, "the probe did not try to use the key");
    assert.equal(r.keyUse.ok, false, `the script opened a TLS connection to the server with site-1's certificate and key (${JSON.stringify(r.keyUse)})`);
  });

  test("Python: creating a user namespace fails (seccomp)", () => {
    const r = reportOf(runs.py);
    assert.ok(r.userns, "the probe did not try unshare(CLONE_NEWUSER)");
    assert.equal(r.userns.ok, false, "the script created a new user namespace");
  });

  test("Python: starting processes without bound stops at job_limits.processes (EAGAIN); all of them were reaped", () => {
    const s = reportOf(runs.py).spawner;
    assert.ok(s && s.state === "done", `the spawner did not finish (${JSON.stringify(s)})`);
    assert.equal(s.error, "EAGAIN", `the spawner started ${s.started} processes and stopped with ${s.error ?? "no error"}`);
    assert.ok((s.started ?? 0) <= LIMITS.processes, `the spawner started ${s.started} processes, more than job_limits.processes ${LIMITS.processes}`);
    assert.equal(s.reaped, s.started, "the spawner reaped what it started");
  });

  test("Python: a result for a task it was not given and a second result are ignored; the job goes on", () => {
    const r = reportOf(runs.py);
    assert.ok(r.ipc?.madeUp?.ok, `the script could not write its made-up result (${describeOutcome(r.ipc?.madeUp)})`);
    const ignored = logLines().filter((l) => l.includes(`job ${short(runs.py.id)}`) && /ignored a result for task/.test(l));
    const denied = auditOf(runs.py.id).filter((a) => a["action"] === "job.message" && a["outcome"] === "denied");
    assert.ok(ignored.length + denied.length >= 2, `refusals of the made-up and the second result: ${ignored.length} log lines, ${denied.length} audit lines`);
    assert.equal(runs.py.meta["status"], "FINISHED:COMPLETED", String(runs.py.meta["status_reason"]));
  });

  test("allow-list: the mounts, descriptors and interfaces of the JS job process and the Python script, from inside and from the host, are only the declared ones", (t) => {
    const problems: string[] = [];
    for (const run of [runs.js, runs.py]) {
      const r = run.report;
      const allow = sandboxAllowList({
        repoRoot: REPO_ROOT,
        jobDir: jobDir(run.id),
        runDir: runDirOf(run.id),
        dataPaths: DATA_PATHS,
        readPaths: [extraReadDir()],
      });
      const views: { where: string; mounts?: string[]; fds?: FdEntry[]; interfaces?: string[] }[] = [];
      if (run.host) views.push({ where: `host view of pid ${run.host.pid}`, mounts: run.host.mounts, fds: run.host.fds, interfaces: run.host.interfaces });
      else problems.push(`${run.label}: no host view (${run.hostError})`);
      const inside = r?.inside;
      if (inside) {
        const v: (typeof views)[number] = { where: "inside" };
        if (inside.mounts.ok && inside.mounts.lines) v.mounts = inside.mounts.lines;
        else t.diagnostic(`${run.label} inside: mounts not listed (${describeOutcome(inside.mounts)})`);
        if (inside.fds.ok && inside.fds.list) v.fds = inside.fds.list;
        else t.diagnostic(`${run.label} inside: descriptors not listed (${describeOutcome(inside.fds)})`);
        const names = [
          ...(inside.interfaces.ok ? (inside.interfaces.names ?? []) : []),
          ...(inside.interfacesApi.ok ? (inside.interfacesApi.names ?? []) : []),
        ];
        v.interfaces = [...new Set(names)];
        views.push(v);
      } else problems.push(`${run.label}: the probe listed nothing inside (no report)`);
      for (const v of views) {
        const where = `${run.label} ${v.where}`;
        if (v.mounts) for (const m of extraMounts(parseMountinfo(v.mounts), allow)) problems.push(`${where}: mount ${m}`);
        if (v.fds) for (const f of extraFds(v.fds, allow, { foreign: foreignIds, site: siteIds })) problems.push(`${where}: ${f}`);
        if (v.interfaces) for (const i of v.interfaces.filter((n) => n !== "lo")) problems.push(`${where}: interface ${i}`);
      }
    }
    assert.deepEqual(problems, [], "outside the declared allow-list");
  });

  test("job processes have their own mount/pid/ipc/net/uts namespaces, uid 65532 (site as root), no capabilities, seccomp, and job_limits as rlimits", (t) => {
    const problems: string[] = [];
    const mine = namespacesOf("/proc/self");
    const expectLimit: Record<string, string> = {
      "Max data size": String(LIMITS.memory_mb * 1024 * 1024),
      "Max cpu time": String(LIMITS.cpu_seconds),
      "Max file size": String(LIMITS.file_size_mb * 1024 * 1024),
      "Max open files": String(LIMITS.open_files),
      "Max processes": String(LIMITS.processes),
    };
    for (const run of [runs.js, runs.py]) {
      const h = run.host;
      if (!h) {
        problems.push(`${run.label}: no host view (${run.hostError})`);
        continue;
      }
      const who = `${run.label} (pid ${h.pid})`;
      t.diagnostic(`${who}: ${h.cmdline.slice(0, 200)}`);
      for (const k of ["mnt", "pid", "net", "ipc", "uts"])
        if (h.namespaces[k] === mine[k]) problems.push(`${who}: shares the site's ${k} namespace ${mine[k]}`);
      const [uid] = (h.status["Uid"] ?? "").split(/\s+/);
      const [gid] = (h.status["Gid"] ?? "").split(/\s+/);
      if (process.getuid?.() === 0) {
        if (uid !== String(JOB_UID) || gid !== String(JOB_UID)) problems.push(`${who}: runs as uid ${uid} gid ${gid}, not ${JOB_UID} (the site runs as root)`);
      } else if (h.namespaces["user"] === mine["user"]) problems.push(`${who}: not in a user namespace of its own (the site does not run as root)`);
      for (const cap of ["CapInh", "CapPrm", "CapEff", "CapAmb"]) if (!/^0+$/.test(h.status[cap] ?? "")) problems.push(`${who}: ${cap} ${h.status[cap]}`);
      if (!/^0+$/.test(h.status["CapBnd"] ?? "") && h.status["NoNewPrivs"] !== "1")
        problems.push(`${who}: bounding set ${h.status["CapBnd"]} without no_new_privs`);
      if (h.status["Seccomp"] !== "2") problems.push(`${who}: Seccomp ${h.status["Seccomp"]} (want 2, a filter)`);
      for (const [name, want] of Object.entries(expectLimit)) {
        const got = h.limits[name];
        if (got?.soft !== want || got.hard !== want) problems.push(`${who}: ${name} ${got?.soft}/${got?.hard}, want ${want}`);
      }
    }
    assert.deepEqual(problems, [], "job processes as the host sees them");
  });

  test("honest jobs complete at the attacked site and the other site; site-1 keeps serving", async () => {
    assert.equal(
      honest["status"],
      "FINISHED:COMPLETED",
      `honest job: ${String(honest["status_reason"] ?? "")}\nsite-1's log (end):\n${logLines()
        .slice(-40)
        .map((l) => l.slice(0, 300))
        .join("\n")}`,
    );
    const rounds = (honest["rounds"] as { round: number; sites: string[] }[] | undefined) ?? [];
    assert.deepEqual(rounds.at(-1)?.sites, [SITE, OTHER], "both sites contributed to the last round");
    assert.deepEqual(statusAfter["clients"], [SITE, OTHER], "both sites are still connected");
    const p = sites.get(SITE);
    const state = await Promise.race([p?.exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("running"), 10))]);
    assert.equal(state, "running", "site-1's process is still running");
    for (const r of [runs.js, runs.py])
      assert.match(String(r.meta["status"]), /^FINISHED:/, `the hostile ${r.label} job ended (${String(r.meta["status_reason"] ?? "").slice(0, 300)})`);
  });
});
