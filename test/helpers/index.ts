/**
 * Shared test helpers: temp dirs that clean up, free 127.0.0.1 ports, the CLI as a real process,
 * the system openssl, and a FLARE-format project.yml writer.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (test/helpers → ../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const tempDirs = new Set<string>();
process.on("exit", () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A fresh temp dir under os.tmpdir(), removed when the test process exits (each test file runs
 * in its own process), or earlier with {@link removeTempDir}.
 */
export function tempDir(prefix = "cohort-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Picks a free TCP port by binding 127.0.0.1:0 and closing the listener. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") {
        server.close();
        reject(new Error("no port"));
        return;
      }
      const port = addr.port;
      server.close(() => resolvePort(port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(await freePort());
  return [...out];
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCliOptions {
  readonly timeoutMs?: number;
  /** Working directory; default the repo root (then exactly `node --import tsx src/cli/main.ts`). */
  readonly cwd?: string;
}

/**
 * Runs `node --import tsx src/cli/main.ts <args>` in the repo root, as a real process (never the
 * compiled dist/). With another cwd, tsx and main.ts are given by absolute location.
 */
export function runCli(args: readonly string[], env: Readonly<Record<string, string | undefined>> = {}, options: RunCliOptions = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const cwd = options.cwd ?? REPO_ROOT;
  const nodeArgs =
    cwd === REPO_ROOT ? ["--import", "tsx", "src/cli/main.ts"] : ["--import", import.meta.resolve("tsx"), join(REPO_ROOT, "src", "cli", "main.ts")];
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) {
    if (v !== undefined) childEnv[k] = v;
  }
  // Tests decide on the passphrase; never inherit one from the developer's shell.
  if (!("COHORT_CA_PASSPHRASE" in env)) delete childEnv["COHORT_CA_PASSPHRASE"];
  return runCommand(process.execPath, [...nodeArgs, ...args], { cwd, env: childEnv, timeoutMs });
}

/**
 * Runs any program to its end with a bounded wait (SIGTERM at `timeoutMs`; code null then), its
 * output collected. `env` replaces the environment entirely.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: Readonly<Record<string, string>>; timeoutMs: number },
): Promise<CliResult> {
  return new Promise((resolveRun) => {
    execFile(
      file,
      args,
      { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : null) : 0;
        resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Runs the system openssl; returns stdout (throws with stderr on a non-zero exit). */
export function openssl(args: readonly string[], options: { cwd?: string; input?: string | Buffer } = {}): string {
  try {
    return execFileSync("openssl", args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...options });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr ?? ""}${e.stdout ?? ""}${e.message}`);
  }
}

/** Runs openssl and returns {ok, out} instead of throwing. */
export function opensslTry(args: readonly string[], options: { cwd?: string } = {}): { ok: boolean; out: string } {
  try {
    return { ok: true, out: openssl(args, options) };
  } catch (err) {
    return { ok: false, out: (err as Error).message };
  }
}

export function writeFile(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** A JSON document as tests edit it: any nesting, no casts at each step. */
// biome-ignore lint/suspicious/noExplicitAny: tests reach freely into job configs they wrote themselves
export type EditableJson = Record<string, any>;

/** Reads a JSON file, lets `edit` change it in place, writes it back. */
export function editJsonFile(path: string, edit: (json: EditableJson) => void): void {
  const json = JSON.parse(readFileSync(path, "utf8")) as EditableJson;
  edit(json);
  writeFile(path, JSON.stringify(json));
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** Names in a directory, sorted; [] when it does not exist. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Every regular file below `dir` with its bytes, keyed by relative path (for before/after compares). */
export function snapshotTree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string, rel: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(p, r);
      else if (entry.isFile()) out.set(r, readFileSync(p));
    }
  };
  walk(dir, "");
  return out;
}

/** Minimal valid FLARE project.yml (one server, one client, one admin), with overrides. */
export function minimalProject(
  opts: { name?: string; port?: number; extraTop?: string; server?: string; clients?: string; admins?: string; builders?: string } = {},
): string {
  const name = opts.name ?? "proj";
  const port = opts.port ?? 8002;
  return `api_version: 3
name: ${name}
${opts.extraTop ?? ""}
participants:
${opts.server ?? `  - name: server1\n    type: server\n    org: nvidia\n    fed_learn_port: ${port}`}
${opts.clients ?? `  - name: site-1\n    type: client\n    org: nvidia`}
${opts.admins ?? `  - name: admin@nvidia.com\n    type: admin\n    org: nvidia\n    role: project_admin`}
${opts.builders ?? DEFAULT_BUILDERS_YAML}`;
}

/**
 * A server (localhost), site-1 and one admin on 127.0.0.1: with `keyAlgorithm`, the builders with
 * that CertBuilder key_algorithm (root valid 30 days); without, the default builders.
 */
export function smallProjectYaml(name: string, port: number, o: { keyAlgorithm?: string; adminRole?: string } = {}): string {
  return `api_version: 3
name: ${name}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${port}, host_names: [127.0.0.1]}
  - {name: site-1, type: client, org: hospital_a, connect_to: 127.0.0.1}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: ${o.adminRole ?? "lead"}}
${
  o.keyAlgorithm
    ? `builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args: {config_folder: config}
  - path: nvflare.lighter.impl.cert.CertBuilder
    args: {root_valid_days: 30, key_algorithm: ${o.keyAlgorithm}}
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`
    : ""
}`;
}

export const DEFAULT_BUILDERS_YAML = `builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args:
      config_folder: config
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`;
