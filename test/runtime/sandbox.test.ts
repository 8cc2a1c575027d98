/**
 * The sandbox launcher (src/runtime/sandbox/) on its own: a real bubblewrap sandbox runs a probe
 * and reports what it sees; every mount, descriptor, interface and variable is compared with the
 * declared allow-list. The job-level probes are in confinement tests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireSystem } from "../helpers/requirements.js";
import {
  checkConfinementFor,
  closeInheritedDescriptors,
  DEFAULT_JOB_LIMITS,
  escapeControl,
  findSandboxTools,
  jobConfinement,
  OutputRelay,
  sandboxCommand,
  sandboxMounts,
  userNamespaceSeccompProgram,
  type SandboxMounts,
} from "../../src/runtime/sandbox/index.js";

const PROBE = String.raw`
const fs = require("fs"), net = require("net"), os = require("os"), cp = require("child_process");
const status = fs.readFileSync("/proc/self/status", "utf8");
const field = (k) => (status.match(new RegExp("^" + k + ":\\s*(.*)$", "m")) || [])[1];
const tryDo = (f) => { try { f(); return "ok"; } catch (e) { return e.code || e.message; } };
const limits = fs.readFileSync("/proc/self/limits", "utf8");
const limit = (name) => (limits.split("\n").find((l) => l.startsWith(name)) || "").slice(26).trim().split(/\s+/)[0];
const out = {
  uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
  capEff: field("CapEff"), capBnd: field("CapBnd"), noNewPrivs: field("NoNewPrivs"), seccomp: field("Seccomp"),
  interfaces: Object.keys(os.networkInterfaces()),
  netDev: fs.readFileSync("/proc/net/dev", "utf8").split("\n").slice(2).map((l) => l.split(":")[0].trim()).filter(Boolean),
  mounts: fs.readFileSync("/proc/self/mountinfo", "utf8").trim().split("\n").map((l) => l.split(" ")[4]),
  // Descriptors without close-on-exec would pass to anything the job starts: only stdio may.
  inheritable: fs.readdirSync("/proc/self/fd").filter((n) => { try { return (parseInt(/flags:\s*([0-7]+)/.exec(fs.readFileSync("/proc/self/fdinfo/" + n, "utf8"))[1], 8) & 0o2000000) === 0; } catch { return false; } }),
  env: Object.keys(process.env).sort(),
  readSecret: tryDo(() => fs.readFileSync(process.argv[1])),
  writeRun: tryDo(() => fs.writeFileSync(process.cwd() + "/ok.txt", "x")),
  writeReadOnly: tryDo(() => fs.writeFileSync(process.argv[2] + "/x.txt", "x")),
  userns: cp.spawnSync("/usr/bin/unshare", ["-U", "true"]).status,
  pidOne: fs.readFileSync("/proc/1/cmdline", "utf8").split("\0")[0],
  dataLimit: limit("Max data size"), procLimit: limit("Max processes"), fileLimit: limit("Max open files"), coreLimit: limit("Max core file size"),
};
const s = net.connect(Number(process.argv[3]), "127.0.0.1");
s.on("connect", () => { out.connect = "connected"; done(); });
s.on("error", (e) => { out.connect = e.code; done(); });
function done() { process.stdout.write(JSON.stringify(out)); process.exit(0); }
`;

const need = requireSystem("bwrap");

/** Runs the probe in a sandbox; `asUid`: as a site running as that (non-root) uid would. */
async function runProbe(asUid?: number): Promise<{ out: Record<string, unknown>; declared: SandboxMounts; accepted: number }> {
  // As a site does at start (participant.ts): what this test process inherited must not reach the probe.
  closeInheritedDescriptors();
  const found = findSandboxTools();
  assert.ok(found.tools, `sandbox tools missing: ${found.missing.join(", ")}`);
  const base = realpathSync(mkdtempSync(join(tmpdir(), "cohort-sandbox-")));
  const run = join(base, "run");
  const ro = join(base, "ro");
  const secret = join(base, "startup", "site.key");
  mkdirSync(run);
  mkdirSync(ro);
  mkdirSync(join(base, "startup"));
  writeFileSync(secret, "not for the job", { mode: 0o600 });
  const { chownTree } = await import("../../src/runtime/sandbox/index.js");
  if (asUid !== undefined) chownTree(base, asUid, asUid);
  else if (process.getuid?.() === 0) chownTree(run, 65532, 65532);
  let accepted = 0;
  const listener = createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const port = (listener.address() as { port: number }).port;
  const seccomp = userNamespaceSeccompProgram();
  const node = realpathSync(process.execPath);
  const cmd = sandboxCommand(
    {
      readOnly: [ro, node],
      writable: [run],
      cwd: run,
      env: { PATH: "/usr/bin:/bin", COHORT_JOB_ID: "probe" },
      command: [node, "-e", PROBE, secret, ro, String(port)],
      limits: { ...DEFAULT_JOB_LIMITS, memory_mb: 2048, processes: 64 },
      user: { uid: 65532, gid: 65532 },
      seccompFd: seccomp ? 3 : undefined,
    },
    found.tools,
    asUid,
  );
  const [file, args] =
    asUid === undefined ? [cmd.file, cmd.args] : ["setpriv", [`--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", cmd.file, ...cmd.args]];
  const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe", "pipe"], env: {} });
  const sink = child.stdio[3] as NodeJS.WritableStream;
  if (seccomp) sink.end(seccomp);
  else sink.end();
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  listener.close();
  try {
    assert.equal(code, 0, `probe failed: ${stderr}`);
    return { out: JSON.parse(stdout) as Record<string, unknown>, declared: sandboxMounts({ readOnly: [ro, node], writable: [run] }), accepted };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

test("a sandboxed process sees only its allow-list: mounts, descriptors, interfaces, variables", need, async () => {
  const { out, declared, accepted } = await runProbe();
  if (process.getuid?.() === 0) {
    assert.equal(out["uid"], 65532);
    assert.equal(out["gid"], 65532);
    assert.deepEqual(out["groups"], [65532]);
    assert.equal(out["capBnd"], "0000000000000000");
  }
  assert.equal(out["capEff"], "0000000000000000");
  assert.equal(out["noNewPrivs"], "1");
  assert.equal(out["seccomp"], "2");
  assert.notEqual(out["userns"], 0, "a new user namespace must be refused");
  assert.deepEqual(out["interfaces"], ["lo"]);
  assert.deepEqual(out["netDev"], ["lo"]);
  assert.notEqual(out["connect"], "connected");
  assert.equal(accepted, 0, "the host listener saw a connection from the sandbox");
  assert.equal(out["readSecret"], "ENOENT");
  assert.equal(out["writeRun"], "ok");
  assert.equal(out["writeReadOnly"], "EROFS");
  assert.notEqual(out["pidOne"], "", "the sandbox has its own PID namespace");
  assert.equal(out["dataLimit"], String(2048 * 1024 * 1024));
  assert.equal(out["procLimit"], "64");
  assert.equal(out["fileLimit"], String(DEFAULT_JOB_LIMITS.open_files));
  assert.equal(out["coreLimit"], "0");
  // Descriptors: every one is close-on-exec (Node marks even stdio); nothing of the site leaks in.
  assert.deepEqual(out["inheritable"], []);
  // bubblewrap sets PWD for --chdir; nothing else of the site's environment.
  assert.deepEqual(out["env"], ["COHORT_JOB_ID", "PATH", "PWD"]);
  const allowed = new Set(["/", "/proc", "/dev", "/tmp", "/dev/shm", "/dev/pts", "/dev/mqueue", ...declared.readOnly, ...declared.writable]);
  // bubblewrap's /dev nodes and the read-only covers it puts on parts of /proc (sys, irq, bus…).
  const extra = (out["mounts"] as string[]).filter(
    (m) =>
      !allowed.has(m) &&
      !/^\/dev\/(null|zero|full|random|urandom|tty|console|ptmx)$/.test(m) &&
      !/^\/proc\/(sys|sysrq-trigger|irq|bus|fs|kcore|keys|latency_stats|timer_list|sched_debug|scsi|acpi)$/.test(m),
  );
  assert.deepEqual(extra, [], `mounts beyond the allow-list: ${extra.join(", ")}`);
});

test("a site that is not root runs job code as its own uid in a user namespace, with the same allow-list", {
  ...need,
  ...(process.getuid?.() === 0 ? {} : { skip: "needs root to act as another uid" }),
}, async () => {
  const { out, accepted } = await runProbe(65534);
  assert.equal(out["uid"], 65534);
  assert.equal(out["capEff"], "0000000000000000");
  assert.equal(out["seccomp"], "2");
  assert.notEqual(out["userns"], 0, "no nested user namespace (--disable-userns and seccomp)");
  assert.deepEqual(out["interfaces"], ["lo"]);
  assert.equal(accepted, 0);
  assert.equal(out["readSecret"], "ENOENT");
  assert.equal(out["writeRun"], "ok");
  assert.equal(out["writeReadOnly"], "EROFS");
  assert.equal(out["procLimit"], "64");
});

test("the seccomp program is whole sock_filter instructions for this machine, none for unknown ones", () => {
  const p = userNamespaceSeccompProgram();
  if (process.arch === "x64" || process.arch === "arm64") assert.equal((p?.length ?? 0) % 8, 0);
  assert.equal(userNamespaceSeccompProgram("mips"), undefined);
});

test("job output is relayed line by line: control characters escaped, long lines cut, a total bound, one limit report", () => {
  const lines: string[] = [];
  const limits: string[] = [];
  const r = new OutputRelay({ prefix: "job 12345678 out: ", log: (l) => lines.push(l), maxLineBytes: 16, maxTotalBytes: 40, onLimit: (w) => limits.push(w) });
  r.write(Buffer.from("hello\r2026-12-07T00:00:00Z [site-1] forged\x1b[2J\nsecond"));
  r.write(Buffer.from(` line\n${"x".repeat(100)}`));
  r.write(Buffer.from("\nafter the total\n"));
  r.end();
  assert.equal(lines[0], "job 12345678 out: hello\\r2026-12-07 [line cut: 30 more bytes dropped]");
  assert.equal(lines[1], "job 12345678 out: second line");
  assert.ok(lines.every((l) => l.startsWith("job 12345678 out: ") && !/[\r\n\x1b]/.test(l)));
  assert.equal(limits.length, 1, "one report per stream, however often the limits drop bytes");
  assert.ok(r.droppedBytes > 100);
  assert.equal(escapeControl("a\tb\u2028c\x7f"), "a\tb\\u2028c\\x7f");
});

test("without bubblewrap a site refuses custom code unless allow_unconfined_jobs; built-ins still run", () => {
  const none = { ...jobConfinement({}, "local/resources.json"), tools: undefined, missing: ["bubblewrap (bwrap)"] };
  assert.throws(
    () => checkConfinementFor(none, { jobId: "j", site: "site-1", runsOwnCode: true }),
    (e: Error & { code?: string }) => e.code === "ERR_JOB_UNCONFINED" && /allow_unconfined_jobs/.test(e.message),
  );
  checkConfinementFor(none, { jobId: "j", site: "site-1", runsOwnCode: false });
  checkConfinementFor({ ...none, allowUnconfined: true }, { jobId: "j", site: "site-1", runsOwnCode: true });
  assert.throws(
    () => jobConfinement({ job_read_paths: ["/no/such/venv"] }, "/kit/local/resources.json"),
    /\/kit\/local\/resources.json: job_read_paths: "\/no\/such\/venv" does not exist/,
  );
});

test("a site closes the descriptors it inherited without close-on-exec, so job processes cannot inherit them", async () => {
  const code = `import("${join(process.cwd(), "src/runtime/sandbox/descriptors.ts")}").then((m) => process.stdout.write(JSON.stringify(m.closeInheritedDescriptors())))`;
  // bash opens fd 50 without close-on-exec, as a supervisor or terminal may leave one to the site.
  const child = spawn("/bin/bash", ["-c", 'exec 50</dev/null; exec "$0" --import tsx -e "$1"', process.execPath, code], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.on("exit", r));
  const closed = JSON.parse(out) as number[];
  assert.ok(closed.includes(50), `closed ${JSON.stringify(closed)}`);
});
