/**
 * For the hostile-code tests (test/runtime/confinement.test.ts, issue 14): the prerequisites
 * (bubblewrap, Debian's python3 with numpy and msgpack), a view of a job process from the host
 * (/proc/<pid>: namespaces, ids, capabilities, seccomp, rlimits, mounts, descriptors, interfaces)
 * and the comparison of mounts, descriptors and interfaces with the sandbox's declared allow-list.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
import { requireSystem } from "./requirements.js";

/** false when the tests can run; else why not. With CI=true a missing prerequisite throws (the run fails). */
export function confinementPrerequisites(): false | string {
  const r = requireSystem("bwrap", "python3");
  return r.skip === false ? false : `hostile-code tests need: ${r.skip}`;
}

/**
 * Pids of processes whose command line contains `marker`, outermost first (a match whose parent
 * also matches is left out). A bubblewrap process is never the one: it runs the command, in the
 * sandbox it set up.
 */
export function processesWith(marker: string): number[] {
  const matches = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      const cmd = argv.join(" ");
      if (!cmd.includes(marker) || /(^|\/)bwrap$/.test(argv[0] ?? "")) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      matches.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  return [...matches]
    .filter(([, ppid]) => !matches.has(ppid))
    .map(([pid]) => pid)
    .sort((a, b) => a - b);
}

/** The `cohort start <kit>` process of a participant (found by its command line). */
export function participantPid(kitDir: string): number | undefined {
  return processesWith(`start ${kitDir}`)[0];
}

export interface FdEntry {
  readonly fd: number;
  /** readlink of /proc/<pid>/fd/<fd>; null when it closed while being listed. */
  readonly target: string | null;
}

/** A process as the host sees it. */
export interface HostView {
  readonly pid: number;
  readonly cmdline: string;
  /** Lines of /proc/<pid>/status by key (Uid, Gid, CapEff, Seccomp, NoNewPrivs…). */
  readonly status: Record<string, string>;
  /** /proc/<pid>/limits by name ("Max data size") → soft and hard values. */
  readonly limits: Record<string, { soft: string; hard: string }>;
  /** /proc/<pid>/ns/<kind> links. */
  readonly namespaces: Record<string, string>;
  readonly mounts: string[];
  readonly fds: FdEntry[];
  readonly interfaces: string[];
}

export function listFds(procDir: string): FdEntry[] {
  return readdirSync(join(procDir, "fd")).map((fd) => {
    try {
      return { fd: Number(fd), target: readlinkSync(join(procDir, "fd", fd)) };
    } catch {
      return { fd: Number(fd), target: null };
    }
  });
}

export const NAMESPACE_KINDS = ["mnt", "pid", "net", "ipc", "uts", "user"] as const;

export function namespacesOf(procDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of NAMESPACE_KINDS) {
    try {
      out[k] = readlinkSync(join(procDir, "ns", k));
    } catch {
      out[k] = "?";
    }
  }
  return out;
}

export function inspectProcess(pid: number): HostView {
  const dir = `/proc/${pid}`;
  const status: Record<string, string> = {};
  for (const line of readFileSync(join(dir, "status"), "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) status[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  const limits: Record<string, { soft: string; hard: string }> = {};
  for (const line of readFileSync(join(dir, "limits"), "utf8").split("\n").slice(1)) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2] && m[3]) limits[m[1]] = { soft: m[2], hard: m[3] };
  }
  return {
    pid,
    cmdline: readFileSync(join(dir, "cmdline"), "utf8").replace(/\0/g, " ").trim(),
    status,
    limits,
    namespaces: namespacesOf(dir),
    mounts: readFileSync(join(dir, "mountinfo"), "utf8").trim().split("\n"),
    fds: listFds(dir),
    interfaces: interfaceNames(readFileSync(join(dir, "net", "dev"), "utf8")),
  };
}

/** Interface names from /proc/net/dev text. */
export function interfaceNames(netDev: string): string[] {
  return netDev
    .split("\n")
    .slice(2)
    .filter((l) => l.includes(":"))
    .map((l) => l.split(":")[0]?.trim() ?? "");
}

export interface Mount {
  readonly point: string;
  readonly options: readonly string[];
  readonly fstype: string;
}

/** /proc/<pid>/mountinfo lines → mount point (octal escapes decoded), its options and file system type. */
export function parseMountinfo(lines: readonly string[]): Mount[] {
  const decodeOctal = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return lines
    .filter((l) => l.trim())
    .map((l) => {
      const [left = "", right = ""] = l.split(" - ");
      const f = left.split(" ");
      return { point: decodeOctal(f[4] ?? ""), options: (f[5] ?? "").split(","), fstype: right.split(" ")[0] ?? "" };
    });
}

/**
 * What a job sandbox may hold (issue 14's contract), from the paths the test knows. Besides these:
 * a private tmpfs at / and at /tmp (exactly there: the test's federation itself lives below the
 * host's /tmp), and a few files under /etc, read-only.
 */
export interface SandboxAllowList {
  /** Mounted read-only: a mount at or below each. */
  readonly readOnly: readonly string[];
  /** The only writable folder of the host: the job's run folder. */
  readonly runDir: string;
  /** Kernel file systems the sandbox makes: its own /proc and a minimal /dev (mounts at or below). */
  readonly system: readonly string[];
}

export function sandboxAllowList(o: {
  repoRoot: string;
  jobDir: string;
  runDir: string;
  dataPaths: readonly string[];
  readPaths: readonly string[];
}): SandboxAllowList {
  const modules = join(o.repoRoot, "node_modules");
  const code = ["dist", "node_modules", "package.json", "python", join("examples", "data")].map((p) => join(o.repoRoot, p));
  const real = existsSync(modules) ? [realpathSync(modules)] : [];
  return {
    readOnly: [
      "/usr",
      "/lib",
      "/lib64",
      "/lib32",
      "/libx32",
      "/bin",
      "/sbin",
      ...code,
      ...real,
      join(o.jobDir, "app"),
      o.jobDir,
      ...o.dataPaths,
      ...o.readPaths,
    ],
    runDir: o.runDir,
    system: ["/proc", "/dev"],
  };
}

const under = (p: string, root: string): boolean => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** Mounts beyond the allow-list (or allowed ones mounted writable that must be read-only), one line each. */
export function extraMounts(mounts: readonly Mount[], allow: SandboxAllowList): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    if (m.point === "/") {
      if (m.fstype !== "tmpfs") out.push(`/ is a ${m.fstype} mount (the host's root?), not the sandbox's own tmpfs`);
      continue;
    }
    if (m.point === "/tmp") {
      if (m.fstype !== "tmpfs") out.push(`/tmp is a ${m.fstype} mount (the host's?), not a private tmpfs`);
      continue;
    }
    // The run folder (inside the job folder) is writable; the rest of the job folder is not.
    if (allow.system.some((r) => under(m.point, r)) || under(m.point, allow.runDir)) continue;
    if (m.point.startsWith("/etc/") || allow.readOnly.some((r) => under(m.point, r))) {
      if (!m.options.includes("ro")) out.push(`${m.point} (${m.fstype}) is mounted read-write; the contract mounts it read-only`);
      continue;
    }
    out.push(`${m.point} (${m.fstype}, ${m.options.join(",")})`);
  }
  const etc = mounts.filter((m) => m.point.startsWith("/etc/"));
  if (etc.length > 20) out.push(`${etc.length} mounts under /etc ("a few /etc files")`);
  if (mounts.some((m) => m.point === "/etc")) out.push("/etc as a whole");
  return out;
}

const DEVICES = new Set(["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]);

/**
 * Descriptors beyond the allow-list: files outside the sandbox's paths, and pipes or sockets (fd 3
 * and up) that processes outside the site also hold (`foreign`: inherited from whoever started the
 * site); at most `channelFds` of them may be shared with the site process itself (its channel).
 */
export function extraFds(
  fds: readonly FdEntry[],
  allow: SandboxAllowList,
  shared: { foreign: ReadonlySet<string>; site: ReadonlySet<string> },
  channelFds = 2,
): string[] {
  const out: string[] = [];
  let withSite = 0;
  for (const { fd, target } of fds) {
    if (target === null || target.startsWith("anon_inode:") || DEVICES.has(target)) continue;
    if (/^(pipe|socket):\[\d+\]$/.test(target)) {
      if (fd >= 3 && shared.foreign.has(target)) out.push(`fd ${fd} → ${target}, also open outside the site (inherited)`);
      else if (fd >= 3 && shared.site.has(target) && ++withSite > channelFds) out.push(`fd ${fd} → ${target}, also open in the site process`);
      continue;
    }
    const path = target.replace(/ \(deleted\)$/, "");
    if (path.startsWith("/memfd:")) continue;
    // Not "/tmp": the host's /tmp holds the whole federation; a file there is not told from one in the private /tmp.
    if (path.startsWith("/proc/") || [allow.runDir, ...allow.readOnly].some((r) => under(path, r))) continue;
    out.push(`fd ${fd} → ${target}`);
  }
  return out;
}

/** The pipe and socket ids a process holds (to tell inherited descriptors). */
export function pipeAndSocketIds(procDir: string): Set<string> {
  const out = new Set<string>();
  for (const { target } of listFds(procDir)) if (target && /^(pipe|socket):/.test(target)) out.add(target);
  return out;
}
