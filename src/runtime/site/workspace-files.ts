import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync, statSync, type Stats } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { CohortError } from "../../errors/index.js";
import { AdminErrorCode } from "../admin/errors.js";
import type { ShellArgs } from "../admin/shell-args.js";

const MAX_CAT_BYTES = 1024 * 1024;
/** ls -R stops here: an answer is one message. */
const MAX_LS_ENTRIES = 5000;

/**
 * FLARE's shell commands (pwd, ls, cat, head, tail, grep) over one participant folder, without a
 * shell: paths stay inside the folder and never reach startup/ (credentials), links are not
 * followed, and errors name paths relative to the folder. Used by sites and by the server.
 */
export class WorkspaceFiles {
  constructor(
    private readonly kitDir: string,
    /** The participant's name, for messages. */
    private readonly name: string,
  ) {}

  pwd(): string {
    return this.kitDir;
  }

  run(a: ShellArgs): string | string[] {
    switch (a.cmd) {
      case "ls":
        return this.ls(a);
      case "cat":
        return catOptions(this.readText(this.safePath(a.file)), a.flags);
      case "head":
      case "tail": {
        const text = this.readText(this.safePath(a.file));
        if (a.bytes !== undefined) return a.cmd === "head" ? text.slice(0, a.bytes) : text.slice(-a.bytes);
        const lines = text.split("\n");
        const n = Math.max(1, a.lines ?? 10);
        return (a.cmd === "head" ? lines.slice(0, n) : lines.slice(-n)).join("\n");
      }
      case "grep": {
        const pattern = a.pattern ?? "";
        const ci = a.flags.has("i");
        const needle = ci ? pattern.toLowerCase() : pattern;
        let offset = 0;
        const out: string[] = [];
        this.readText(this.safePath(a.file))
          .split("\n")
          .forEach((l, i) => {
            const hit = (ci ? l.toLowerCase() : l).includes(needle) !== a.flags.has("v");
            if (hit) out.push(`${a.flags.has("n") ? `${i + 1}:` : ""}${a.flags.has("b") ? `${offset}:` : ""}${l}`);
            offset += Buffer.byteLength(l) + 1;
          });
        return out.join("\n");
      }
    }
  }

  /** A path inside the participant folder and outside startup/, or a refusal. */
  private safePath(arg: string | undefined): string {
    const root = realpathSync(this.kitDir);
    const target = resolve(root, arg ?? ".");
    const real = existsSync(target) ? realpathSync(target) : target;
    const rel = relative(root, real);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new CohortError(AdminErrorCode.Path, `${arg} is outside ${this.name}'s workspace`, { path: arg });
    if (rel === "startup" || rel.startsWith(`startup${sep}`))
      throw new CohortError(AdminErrorCode.Path, `${this.name}'s startup/ (credentials) is not accessible`, { path: arg });
    return real;
  }

  private ls(a: ShellArgs): string | string[] {
    const p = this.safePath(a.file);
    const root = realpathSync(this.kitDir);
    if (!existsSync(p)) throw new CohortError(AdminErrorCode.Path, `${a.file ?? "."}: no such file or folder in ${this.name}'s folder`, { path: a.file });
    if (!statSync(p).isDirectory()) return a.flags.has("l") ? [longLine(relative(root, p), lstatSync(p), a.flags)] : relative(root, p);
    const out: string[] = [];
    const walk = (dir: string, prefix: string): void => {
      const entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => !(dir === root && e.name === "startup"))
        .filter((e) => a.flags.has("a") || !e.name.startsWith("."))
        .map((e) => ({ e, st: lstatSync(join(dir, e.name)) }));
      const time = (st: Stats): number => (a.flags.has("u") ? st.atimeMs : st.mtimeMs);
      entries.sort((x, y) => (a.flags.has("S") ? y.st.size - x.st.size : a.flags.has("t") ? time(y.st) - time(x.st) : x.e.name.localeCompare(y.e.name)));
      if (a.flags.has("r")) entries.reverse();
      for (const { e, st } of entries) {
        if (out.length >= MAX_LS_ENTRIES) return;
        const name = `${prefix}${e.name}${e.isDirectory() && !a.flags.has("l") ? "/" : ""}`;
        out.push(a.flags.has("l") ? longLine(name, st, a.flags) : name);
      }
      if (a.flags.has("R")) for (const { e } of entries) if (e.isDirectory()) walk(join(dir, e.name), `${prefix}${e.name}/`);
    };
    walk(p, "");
    if (out.length >= MAX_LS_ENTRIES) out.push(`… (stopped at ${MAX_LS_ENTRIES} entries)`);
    return out;
  }

  /** The (device, inode) of every file under startup/: a hard link elsewhere to one of them is refused. */
  private startupInodes(): Set<string> {
    const out = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          const st = lstatSync(p);
          out.add(`${st.dev}:${st.ino}`);
        }
      }
    };
    try {
      walk(join(this.kitDir, "startup"));
    } catch {
      // no startup/ to protect
    }
    return out;
  }

  /**
   * Reads a file of the folder for cat/head/tail/grep. Checked on the opened descriptor
   * (O_NOFOLLOW, then fstat): a regular file with one link that is not a file of startup/, so a
   * hard link planted in the folder cannot reach the kit's key.
   */
  private readText(file: string): string {
    const rel = relative(realpathSync(this.kitDir), file) || ".";
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      throw new CohortError(
        AdminErrorCode.Path,
        `${rel}: ${code === "ENOENT" ? "no such file" : code === "ELOOP" ? "a symbolic link (not followed)" : `cannot be opened (${code})`} in ${this.name}'s folder`,
        { path: rel },
      );
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new CohortError(AdminErrorCode.Path, `${rel} is not a file`, { path: rel });
      if (st.nlink > 1 || this.startupInodes().has(`${st.dev}:${st.ino}`))
        throw new CohortError(AdminErrorCode.Path, `${rel} has more than one link (a hard link may point into startup/): not shown`, { path: rel });
      const buf = Buffer.alloc(Math.min(st.size, MAX_CAT_BYTES));
      readSync(fd, buf, 0, buf.length, 0);
      return buf.toString("utf8") + (st.size > MAX_CAT_BYTES ? `\n… (${st.size - MAX_CAT_BYTES} more bytes)` : "");
    } finally {
      closeSync(fd);
    }
  }
}

/** `ls -l`'s line: type and mode, size, modification (or with -u access) time, name. */
function longLine(name: string, st: Stats, flags: ReadonlySet<string>): string {
  const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "-";
  const mode = [6, 3, 0].map((s) => ["r", "w", "x"].map((c, i) => ((st.mode >> (s + 2 - i)) & 1 ? c : "-")).join("")).join("");
  const time = (flags.has("u") ? st.atime : st.mtime).toISOString().slice(0, 16).replace("T", " ");
  return `${type}${mode} ${String(st.size).padStart(10)} ${time} ${name}`;
}

/** cat's -n (number lines), -b (number non-empty lines), -s (squeeze empty lines), -T (tabs as ^I). */
function catOptions(text: string, flags: ReadonlySet<string>): string {
  let lines = text.split("\n");
  if (flags.has("s")) lines = lines.filter((l, i) => !(l === "" && lines[i - 1] === ""));
  if (flags.has("T")) lines = lines.map((l) => l.replace(/\t/g, "^I"));
  let n = 0;
  if (flags.has("b")) lines = lines.map((l) => (l === "" ? l : `${String(++n).padStart(6)}\t${l}`));
  else if (flags.has("n")) lines = lines.map((l) => `${String(++n).padStart(6)}\t${l}`);
  return lines.join("\n");
}
