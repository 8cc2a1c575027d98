/**
 * POC mode (FLARE's `nvflare poc`): a real, secure project on this machine. `prepare` provisions
 * a server, sites site-1..site-N and one project_admin on a free 127.0.0.1 port; `start` runs each
 * participant as its own detached `cohort start` process (mTLS) and returns once every site is
 * connected; `stop` stops them by the PIDs it recorded and returns once they are gone; `clean`
 * stops and removes the workspace.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { CohortError } from "../../errors/index.js";
import { provision } from "../../provision/index.js";
import { AdminSession } from "../admin/session.js";
import { checkSiteNames, siteNames } from "../simulator/simulate.js";
import { isOurs, portRefuses, spawnParticipant, stopProcess } from "./processes.js";
import { isPocWorkspace, readPids, readPoc, writePids, writePoc, type PocDescription, type PocProcessRecord } from "./workspace.js";
import { PocErrorCode } from "./errors.js";

export const POC_PROJECT = "cohort_poc";
export const POC_SERVER = "server";
export const POC_ADMIN = "admin@cohort.poc";
const HOST = "127.0.0.1";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
    });
  });
}

/** Absolute kit folder of a participant of the POC in `dir`. */
function kitOf(dir: string, rel: string): string {
  return resolve(dir, rel);
}

function live(dir: string): PocProcessRecord[] {
  return readPids(dir).filter((p) => isOurs(p.pid, kitOf(dir, p.kit)));
}

export interface PreparedPoc {
  readonly workspace: string;
  readonly poc: PocDescription;
  /** Absolute kit folders by participant name. */
  readonly kits: Readonly<Record<string, string>>;
}

function prepared(workspace: string, poc: PocDescription): PreparedPoc {
  const kits: Record<string, string> = {};
  for (const p of [poc.server, ...poc.sites, poc.admin]) kits[p.name] = kitOf(workspace, p.kit);
  return { workspace, poc, kits };
}

/** Reads a prepared POC (kits by name). */
export function openPoc(workspace: string): PreparedPoc {
  const dir = resolve(workspace);
  return prepared(dir, readPoc(dir));
}

export interface PreparePocOptions {
  readonly workspace: string;
  /** site-1..site-N by default; or these names. */
  readonly sites: number | readonly string[];
  /** Replace an existing POC workspace (its kits and results are deleted). */
  readonly force?: boolean;
  /** Add FLARE's HEBuilder: a CKKS key pair, client contexts in the sites' kits (`--he`). */
  readonly he?: boolean;
}

/** The default builders, with HEBuilder before the SignatureBuilder so that it signs the contexts. */
const HE_BUILDERS = [
  "builders:",
  "  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder",
  "  - path: nvflare.lighter.impl.static_file.StaticFileBuilder",
  "  - path: nvflare.lighter.impl.cert.CertBuilder",
  "  - path: nvflare.lighter.impl.he.HEBuilder",
  "  - path: nvflare.lighter.impl.signature.SignatureBuilder",
];

export async function preparePoc(o: PreparePocOptions): Promise<PreparedPoc> {
  const dir = resolve(o.workspace);
  const sites = typeof o.sites === "number" ? siteNames(o.sites) : [...o.sites];
  checkSiteNames(sites);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new CohortError(PocErrorCode.Workspace, `-w ${dir}: is a file; give a folder for the POC`, { file: dir });
    if (isPocWorkspace(dir)) {
      const running = live(dir);
      if (running.length > 0)
        throw new CohortError(
          PocErrorCode.Workspace,
          `${dir}: the POC is running (${running.map((p) => `${p.name} pid ${p.pid}`).join(", ")}); run 'cohort poc stop -w ${dir}' first`,
          { file: dir },
        );
      if (!o.force)
        throw new CohortError(
          PocErrorCode.Workspace,
          `${dir} already holds a POC; add --force to replace it (its kits, logs and results are deleted) or give another folder with -w`,
          { file: dir },
        );
      rmSync(dir, { recursive: true, force: true });
    } else if (readdirSync(dir).length > 0) {
      throw new CohortError(PocErrorCode.Workspace, `-w ${dir}: not empty and not a POC workspace (no poc.json); give a new or empty folder`, { file: dir });
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const projectFile = join(dir, "project.yml");
  writeFileSync(
    projectFile,
    [
      "api_version: 3",
      `name: ${POC_PROJECT}`,
      'description: "Cohort POC (cohort poc prepare): a server, sites and one admin on 127.0.0.1"',
      "participants:",
      `  - {name: ${POC_SERVER}, type: server, org: cohort, fed_learn_port: ${port}, host_names: [${HOST}]}`,
      ...sites.map((s) => `  - {name: ${s}, type: client, org: cohort, connect_to: ${HOST}}`),
      `  - {name: ${POC_ADMIN}, type: admin, org: cohort, role: project_admin, connect_to: ${HOST}}`,
      ...(o.he ? HE_BUILDERS : []),
      "",
    ].join("\n"),
  );
  let result: Awaited<ReturnType<typeof provision>>;
  try {
    result = await provision({ projectFile, workspace: dir });
  } catch (err) {
    // Nothing half-made stays behind: the folder was new or empty.
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const rel = (name: string): string => relative(dir, join(result.prodDir, name));
  const poc: PocDescription = {
    format: 1,
    project: POC_PROJECT,
    host: HOST,
    port,
    server: { name: POC_SERVER, kit: rel(POC_SERVER) },
    sites: sites.map((s) => ({ name: s, kit: rel(s) })),
    admin: { name: POC_ADMIN, kit: rel(POC_ADMIN) },
  };
  writePoc(dir, poc);
  return prepared(dir, poc);
}

export interface PocProgress {
  readonly phase: "server" | "sites" | "connected";
  readonly connected: readonly string[];
  readonly total: number;
}

/**
 * The participants `-p <name>` and `-ex <names>` select (FLARE's poc start/stop): every one by
 * default, "all" too; an unknown name is refused, and so is the admin (its console is `cohort admin`).
 */
export function selectParticipants(poc: PocDescription, service: string | undefined, exclude: readonly string[] = []): Set<string> {
  const names = [poc.server.name, ...poc.sites.map((s) => s.name)];
  for (const n of [...(service && service !== "all" ? [service] : []), ...exclude]) {
    if (n === poc.admin.name)
      throw new CohortError(
        PocErrorCode.Usage,
        `${n} is the POC's admin: open its console with 'cohort admin <its kit>', poc start/stop run the server and sites`,
        {
          value: n,
        },
      );
    if (!names.includes(n))
      throw new CohortError(PocErrorCode.Usage, `${JSON.stringify(n)} is not a participant of this POC (${names.join(", ")})`, { value: n });
  }
  return new Set(names.filter((n) => (service === undefined || service === "all" || n === service) && !exclude.includes(n)));
}

/**
 * FLARE's `-gpu` share-out: with at least as many GPUs as sites, each site gets an equal run of
 * consecutive ids (the first sites one more when they do not divide); with fewer, one each in turn.
 */
export function gpuAssignments(sites: readonly string[], gpus: readonly number[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  if (gpus.length === 0 || sites.length === 0) return out;
  if (gpus.length >= sites.length) {
    const per = Math.floor(gpus.length / sites.length);
    const extra = gpus.length % sites.length;
    let at = 0;
    sites.forEach((s, i) => {
      const n = per + (i < extra ? 1 : 0);
      out.set(s, gpus.slice(at, at + n));
      at += n;
    });
  } else sites.forEach((s, i) => out.set(s, [gpus[i % gpus.length] as number]));
  return out;
}

export interface StartPocOptions {
  readonly workspace: string;
  /** Bound on the whole start (default 60 s). */
  readonly timeoutMs?: number;
  readonly onProgress?: (p: PocProgress) => void;
  /** FLARE's `-p`: start only this participant ("all" or undefined: every one). */
  readonly service?: string;
  /** FLARE's `-ex`: do not start these participants. */
  readonly exclude?: readonly string[];
  /** FLARE's `-gpu`: GPU ids shared out among the started sites as their processes' CUDA_VISIBLE_DEVICES. */
  readonly gpus?: readonly number[];
  /** Node arguments that run the CLI for the participants (default: this CLI; benchmarks pass a compiled one). */
  readonly cli?: readonly string[];
}

export interface StartedPoc extends PreparedPoc {
  /** Processes started by this call (none when everything already ran). */
  readonly started: readonly PocProcessRecord[];
  readonly alreadyRunning: readonly PocProcessRecord[];
  readonly seconds: number;
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-12).join("\n");
  } catch {
    return "(no output)";
  }
}

/** Starts what is not running yet; returns when every site is connected to the server. */
export async function startPoc(o: StartPocOptions): Promise<StartedPoc> {
  const t0 = performance.now();
  const p = openPoc(o.workspace);
  const { poc, workspace: dir } = p;
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  const records = live(dir);
  const alreadyRunning = [...records];
  const started: PocProcessRecord[] = [];
  const chosen = selectParticipants(poc, o.service, o.exclude);
  const sitesToStart = poc.sites.filter((s) => chosen.has(s.name));
  const gpuOf = gpuAssignments(
    sitesToStart.map((s) => s.name),
    o.gpus ?? [],
  );
  const launch = (who: { name: string; kit: string }, args: readonly string[]): PocProcessRecord => {
    const gpus = gpuOf.get(who.name);
    const env: Record<string, string> = gpus ? { CUDA_VISIBLE_DEVICES: gpus.join(",") } : {};
    const r = { name: who.name, pid: spawnParticipant(kitOf(dir, who.kit), args, o.cli, env), kit: who.kit, started: new Date().toISOString() };
    records.push(r);
    started.push(r);
    // Recorded at once: a start interrupted half-way can still be stopped.
    writePids(dir, records);
    return r;
  };
  const died = (r: PocProcessRecord): CohortError =>
    new CohortError(
      PocErrorCode.Start,
      `${r.name} (pid ${r.pid}) exited during start; its output (${join(kitOf(dir, r.kit), "start.out")}):\n${tail(join(kitOf(dir, r.kit), "start.out"))}`,
      { participant: r.name },
    );

  writePids(dir, records);
  if (chosen.has(poc.server.name) && !records.some((r) => r.name === poc.server.name)) {
    if (!(await portRefuses(poc.host, poc.port))) {
      throw new CohortError(
        PocErrorCode.Start,
        `${poc.host}:${poc.port} (the POC server's port) is taken by another process; stop it, or run 'cohort poc prepare --force -w ${dir}' for a new port`,
        { port: poc.port },
      );
    }
    const logFile = join(kitOf(dir, poc.server.kit), "log.txt");
    const from = existsSync(logFile) ? statSync(logFile).size : 0;
    const server = launch(poc.server, ["--host", poc.host]);
    o.onProgress?.({ phase: "server", connected: [], total: poc.sites.length });
    // The server writes "listening on" to its log.txt once its listener is bound.
    for (;;) {
      if (existsSync(logFile) && readFileSync(logFile, "utf8").slice(from).includes("listening on")) break;
      if (!isOurs(server.pid, kitOf(dir, server.kit))) throw died(server);
      if (Date.now() > deadline) throw new CohortError(PocErrorCode.Start, `the POC server did not listen within the time allowed; see ${logFile}`, {});
      await sleep(25);
    }
  }
  for (const s of sitesToStart) if (!records.some((r) => r.name === s.name)) launch(s, []);
  o.onProgress?.({ phase: "sites", connected: [], total: sitesToStart.length });

  let session: AdminSession | undefined;
  let shown = 0;
  try {
    for (;;) {
      for (const r of records) if (!isOurs(r.pid, kitOf(dir, r.kit))) throw died(r);
      let connected: string[] = [];
      try {
        session ??= await AdminSession.open(p.kits[poc.admin.name] ?? "");
        const status = (await session.run("check_status server")) as { clients?: string[] };
        connected = (status.clients ?? []).filter((c) => sitesToStart.some((s) => s.name === c)).sort();
      } catch (err) {
        // The server may still be coming up: retry until the deadline.
        await session?.close().catch(() => undefined);
        session = undefined;
        if (Date.now() > deadline)
          throw new CohortError(PocErrorCode.Start, `could not ask the POC server for its sites: ${(err as Error).message}`, {}, { cause: err });
      }
      if (connected.length !== shown) {
        shown = connected.length;
        o.onProgress?.({ phase: connected.length === sitesToStart.length ? "connected" : "sites", connected, total: sitesToStart.length });
      }
      if (connected.length === sitesToStart.length) break;
      if (Date.now() > deadline) {
        const missing = sitesToStart.map((s) => s.name).filter((s) => !connected.includes(s));
        throw new CohortError(
          PocErrorCode.Start,
          `${missing.join(", ")} did not connect in time; see their log.txt under ${dir}; 'cohort poc stop -w ${dir}' stops what runs`,
          { missing },
        );
      }
      await sleep(50);
    }
  } finally {
    await session?.close().catch(() => undefined);
  }
  return { ...p, started, alreadyRunning, seconds: (performance.now() - t0) / 1000 };
}

export interface StopPocOptions {
  readonly workspace: string;
  /** FLARE's `-p`: stop only this participant ("all" or undefined: every one). */
  readonly service?: string;
  /** FLARE's `-ex`: leave these participants running. */
  readonly exclude?: readonly string[];
  /** SIGTERM, then SIGKILL after this long (default 15 s; `cohort start` itself gives up after 10 s). */
  readonly graceMs?: number;
}

export interface StoppedProcess {
  readonly name: string;
  readonly pid: number;
  readonly how: "not running" | "stopped" | "killed";
}

/** Stops every recorded process; resolves when all are gone and the server port refuses connections. */
export async function stopPoc(o: StopPocOptions): Promise<StoppedProcess[]> {
  const p = openPoc(o.workspace);
  const all = readPids(p.workspace);
  const chosen = selectParticipants(p.poc, o.service, o.exclude);
  const records = all.filter((r) => chosen.has(r.name));
  const out = await Promise.all(
    records.map(async (r) => ({ name: r.name, pid: r.pid, how: await stopProcess(r.pid, kitOf(p.workspace, r.kit), o.graceMs ?? 15_000) })),
  );
  const left = records.filter((r) => isOurs(r.pid, kitOf(p.workspace, r.kit)));
  if (left.length > 0) throw new CohortError(PocErrorCode.Stop, `still running after SIGKILL: ${left.map((r) => `${r.name} pid ${r.pid}`).join(", ")}`, {});
  writePids(
    p.workspace,
    all.filter((r) => !chosen.has(r.name)),
  );
  if (chosen.has(p.poc.server.name) && !(await portRefuses(p.poc.host, p.poc.port))) {
    throw new CohortError(
      PocErrorCode.Stop,
      `the POC's processes are stopped but ${p.poc.host}:${p.poc.port} still accepts connections: another process listens there`,
      { port: p.poc.port },
    );
  }
  return out;
}

/** Stops the POC if it runs and removes its workspace (only a folder `poc prepare` made). */
export async function cleanPoc(o: StopPocOptions): Promise<{ removed: boolean; stopped: StoppedProcess[] }> {
  const dir = resolve(o.workspace);
  if (!existsSync(dir)) return { removed: false, stopped: [] };
  if (!isPocWorkspace(dir))
    throw new CohortError(PocErrorCode.Workspace, `-w ${dir}: not a POC workspace (no poc.json); remove it yourself if you mean it`, { file: dir });
  const stopped = await stopPoc(o);
  rmSync(dir, { recursive: true, force: true });
  return { removed: true, stopped };
}

/** The POC's processes and whether each runs (for `poc start` twice and for status lines). */
export function pocProcesses(workspace: string): { name: string; pid: number; running: boolean }[] {
  const p = openPoc(workspace);
  return readPids(p.workspace).map((r) => ({ name: r.name, pid: r.pid, running: isOurs(r.pid, kitOf(p.workspace, r.kit)) }));
}
