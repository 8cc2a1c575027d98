/**
 * The command line that runs job code under bubblewrap (Debian's `bubblewrap`): own mount, PID,
 * IPC, UTS, cgroup and network namespaces (only `lo`, on which nothing listens), a new session,
 * death with the site, no capabilities, a seccomp filter against new user namespaces, a cleared
 * environment, and a file system made only of what is listed: read-only system folders and the
 * given read paths, the writable run folder, a private /tmp.
 *
 * A site running as root: bubblewrap makes the mounts as root (so it can bind folders below a
 * 0700 home), then `setpriv` drops to `job_uid`/`job_gid` with no capabilities, no supplementary
 * groups and no-new-privs before job code starts: the job is an unprivileged uid of the host, so
 * RLIMIT_NPROC holds and files it writes are its own. Any other site: bubblewrap as the site's uid
 * in a user namespace (with --disable-userns inside). Limits are set by `prlimit` before bubblewrap
 * starts and are inherited by everything the job starts.
 */
import { accessSync, constants, existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { delimiter, dirname, join, resolve, sep } from "node:path";
import { prlimitArgs, type JobLimits } from "./limits.js";

export interface SandboxTools {
  readonly bwrap: string;
  readonly prlimit: string;
  /** Needed only when the site runs as root. */
  readonly setpriv: string | undefined;
}

/** Finds bwrap, prlimit and setpriv on the site's PATH; `missing` names the Debian packages to install. */
export function findSandboxTools(env: NodeJS.ProcessEnv = process.env): { tools?: SandboxTools; missing: string[] } {
  const find = (name: string): string | undefined => {
    const dirs = (env["PATH"] ?? "/usr/bin:/bin").split(delimiter).filter(Boolean);
    for (const d of dirs) {
      const p = join(d, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
    return undefined;
  };
  const bwrap = find("bwrap");
  const prlimit = find("prlimit");
  const setpriv = find("setpriv");
  const root = process.getuid?.() === 0;
  const missing = [
    ...(bwrap ? [] : ["bubblewrap (bwrap)"]),
    ...(prlimit ? [] : ["util-linux (prlimit)"]),
    ...(root && !setpriv ? ["util-linux (setpriv)"] : []),
  ];
  return missing.length === 0 && bwrap && prlimit ? { tools: { bwrap, prlimit, setpriv }, missing } : { missing };
}

export interface SandboxSpec {
  /** Host folders and files bound read-only at the same path. */
  readonly readOnly: readonly string[];
  /** Host folders bound writable at the same path (the job's run folder). */
  readonly writable: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** The program and its arguments, as seen inside. */
  readonly command: readonly string[];
  readonly limits: JobLimits;
  /** Device nodes bound into the sandbox's /dev (each only when present on the host). */
  readonly devices?: readonly string[];
  /** The uid/gid job code runs as when the site is root. */
  readonly user: { readonly uid: number; readonly gid: number };
  /** fd numbers (in the spawned process) the job keeps: the IPC channel. */
  readonly seccompFd: number | undefined;
}

/** System folders a program needs to start (the dynamic loader, libc, interpreters under /usr). */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const SYSTEM_ETC = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime", "/etc/mime.types"];

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** The folders above `p`, outermost first ("/a/b/c" → "/a", "/a/b"). */
function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); d !== dirname(d); d = dirname(d)) out.unshift(d);
  return out;
}

/** Every mount of the sandbox: what a test compares with /proc/self/mountinfo inside. */
export interface SandboxMounts {
  readonly readOnly: readonly string[];
  readonly writable: readonly string[];
  readonly symlinks: readonly { path: string; target: string }[];
  readonly tmpfs: readonly string[];
}

export function sandboxMounts(spec: Pick<SandboxSpec, "readOnly" | "writable">): SandboxMounts {
  const symlinks: { path: string; target: string }[] = [];
  const ro: string[] = [];
  for (const d of SYSTEM_DIRS) {
    if (!existsSync(d)) continue;
    const st = lstatSync(d);
    if (st.isSymbolicLink()) symlinks.push({ path: d, target: readlinkSync(d) });
    else ro.push(d);
  }
  for (const f of SYSTEM_ETC) if (existsSync(f)) ro.push(f);
  // Real paths: a symlinked folder (node_modules shared with another checkout) is bound where it
  // appears, from where it really is.
  const norm = (list: readonly string[]): string[] => [...new Set(list.map((p) => resolve(p)).filter((p) => existsSync(p)))];
  const writable = norm(spec.writable);
  for (const p of norm(spec.readOnly)) if (!ro.some((q) => inside(p, q)) && !writable.some((w) => inside(p, w))) ro.push(p);
  return { readOnly: ro, writable, symlinks, tmpfs: ["/tmp"] };
}

/**
 * The device nodes a job with these GPUs gets: `/dev/nvidiaN` for each id, and the driver's shared
 * nodes (`nvidiactl`, `nvidia-uvm`, `nvidia-uvm-tools`) when it has any GPU. None without GPUs.
 */
export function gpuDeviceNodes(gpus: readonly number[]): string[] {
  const ids = [...new Set(gpus)].filter((g) => Number.isInteger(g) && g >= 0 && g <= 255);
  if (ids.length === 0) return [];
  return [...ids.map((g) => `/dev/nvidia${g}`), "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"];
}

/** The bwrap (and prlimit, setpriv) command line for `spec`, for a site running as `siteUid`. */
export function sandboxCommand(spec: SandboxSpec, tools: SandboxTools, siteUid: number | undefined = process.getuid?.()): { file: string; args: string[] } {
  const mounts = sandboxMounts(spec);
  const root = siteUid === 0;
  const args: string[] = [...prlimitArgs(spec.limits), "--", tools.bwrap];
  args.push("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "cohort-job");
  if (!root) args.push("--unshare-user", "--disable-userns");
  args.push("--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL");
  // setpriv needs the first three to drop to the job's uid, and bubblewrap's own chdir into the
  // job's 0700 run folder needs DAC_OVERRIDE; setpriv clears them all (and the bounding set)
  // before job code starts.
  if (root) args.push("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--cap-add", "CAP_DAC_OVERRIDE");
  for (const [k, v] of Object.entries(spec.env)) args.push("--setenv", k, v);
  // The mount points' parents are made 0755 here: bubblewrap would copy the host's modes (a 0700
  // home) and the job's uid could not reach its own folders.
  const made = new Set<string>();
  const covered = (p: string): boolean =>
    p === "/tmp" || mounts.readOnly.some((q) => inside(p, q)) || mounts.writable.some((q) => inside(p, q)) || mounts.symlinks.some((s) => inside(p, s.path));
  const parents = (p: string): void => {
    for (const a of ancestors(p)) {
      if (made.has(a) || covered(a)) continue;
      made.add(a);
      args.push("--perms", "0755", "--dir", a);
    }
  };
  // The private /tmp, /proc and /dev first: a job folder below /tmp is bound on top of the tmpfs.
  args.push("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm");
  for (const d of spec.devices ?? []) args.push("--dev-bind-try", d, d);
  for (const s of mounts.symlinks) args.push("--symlink", s.target, s.path);
  const binds = [...mounts.readOnly.map((p) => ({ p, rw: false })), ...mounts.writable.map((p) => ({ p, rw: true }))].sort(
    (a, b) => a.p.split(sep).length - b.p.split(sep).length || a.p.localeCompare(b.p),
  );
  for (const b of binds) {
    parents(b.p);
    args.push(b.rw ? "--bind" : "--ro-bind", realpathSync(b.p), b.p);
  }
  if (spec.seccompFd !== undefined) args.push("--seccomp", String(spec.seccompFd));
  args.push("--chdir", spec.cwd, "--");
  if (root) {
    if (!tools.setpriv) throw new Error("setpriv is needed to run job code as job_uid");
    args.push(
      tools.setpriv,
      `--reuid=${spec.user.uid}`,
      `--regid=${spec.user.gid}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
    );
  }
  args.push(...spec.command);
  return { file: tools.prlimit, args };
}
