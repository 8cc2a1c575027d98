import { cpus, freemem, totalmem, platform, release, uptime } from "node:os";
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { assertAddressedTo, NonceCache, verifyCommand, type CommandIssuer, type SignedCommand } from "../../auth/index.js";
import type { AuditLog } from "../../audit/index.js";
import { notAuthorized, rightDenied, type AuthorizeFn } from "./security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";
import { AdminErrorCode } from "../admin/errors.js";

export const siteCommandRequestSchema = z.object({ command: z.unknown(), ref: z.string().optional() });

const MAX_CAT_BYTES = 1024 * 1024;

export interface SiteAdminOptions {
  readonly site: string;
  /** The participant folder; shell commands see it, never its startup/. */
  readonly kitDir: string;
  readonly rootPem: string;
  readonly audit: AuditLog;
  readonly authorize?: AuthorizeFn;
  readonly skewMs: number;
  readonly status: () => Record<string, unknown>;
  /** Process control for shutdown/restart (the participant writes shutdown.fl/restart.fl and stops). */
  readonly control?: { shutdown(): void; restart(): void };
  readonly resources: () => Record<string, unknown>;
  /** show_scopes / show_privacy_budget (local/privacy.json and the budget ledger). */
  readonly privacy?: { scopes(): Record<string, unknown>; budget(): Record<string, unknown> };
  /** The site's plugins (command authorize check). */
  readonly plugins?: readonly SitePlugin[];
}

/**
 * Admin commands at a site: each arrives signed by the admin (through the server), and the site
 * verifies the admin's certificate and signature itself, refuses replays and commands the admin
 * addressed to another site, authorises with its own policy (and plugins), audits with a reference
 * to the server's event, then runs it.
 */
export class SiteAdmin {
  private readonly nonces: NonceCache;

  constructor(private readonly o: SiteAdminOptions) {
    // Kept on disk: a command captured before a restart is not run again after it.
    this.nonces = new NonceCache(o.skewMs, join(o.kitDir, "workspace", "admin_command_nonces.jsonl"));
  }

  async handle(raw: unknown): Promise<unknown> {
    const req = siteCommandRequestSchema.parse(raw);
    let command: SignedCommand | undefined;
    let issuer: CommandIssuer | undefined;
    try {
      ({ command, issuer } = verifyCommand(req.command, { rootPem: this.o.rootPem, nonces: this.nonces, skewMs: this.o.skewMs }));
      assertAddressedTo(command, this.o.site);
      const user = issuer;
      const d = this.o.authorize?.({ right: command.cmd, user });
      if (d && !d.allowed) throw rightDenied(this.o.site, command.cmd, user, d.reason);
      const refusal = await firstRefusal(this.o.plugins ?? [], (p) => p.onCommand, { command: command.cmd, args: command.args, user, oidcToken: command.oidc });
      if (refusal) throw notAuthorized(this.o.site, refusal);
      const result = this.run(command.cmd, command.args.slice(1));
      this.o.audit.append({
        action: `admin.${command.cmd}`,
        outcome: "ok",
        user: user.name,
        ...(req.ref ? { ref: req.ref } : {}),
        reason: command.args.join(" ").slice(0, 200),
      });
      return result;
    } catch (err) {
      this.o.audit.append({
        action: `admin.${command?.cmd ?? "command"}`,
        outcome: "denied",
        ...(issuer ? { user: issuer.name } : {}),
        ...(req.ref ? { ref: req.ref } : {}),
        code: isCohortError(err) ? err.code : AdminErrorCode.Failed,
        reason: (err as Error).message,
      });
      if (isCohortError(err) && !err.message.includes(this.o.site))
        throw new CohortError(err.code, `${this.o.site}: ${err.message}`, err.details, { cause: err });
      throw err;
    }
  }

  /** A path inside the participant folder and outside startup/, or a refusal. */
  private safePath(arg: string | undefined): string {
    const root = realpathSync(this.o.kitDir);
    const target = resolve(root, arg ?? ".");
    const real = existsSync(target) ? realpathSync(target) : target;
    const rel = relative(root, real);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new CohortError(AdminErrorCode.Path, `${arg} is outside ${this.o.site}'s workspace`, { path: arg });
    if (rel === "startup" || rel.startsWith(`startup${sep}`))
      throw new CohortError(AdminErrorCode.Path, `${this.o.site}'s startup/ (credentials) is not accessible`, { path: arg });
    return real;
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
      walk(join(this.o.kitDir, "startup"));
    } catch {
      // no startup/ to protect
    }
    return out;
  }

  /**
   * Reads a file of the site folder for cat/head/tail/grep. Checked on the opened descriptor
   * (O_NOFOLLOW, then fstat): a regular file with one link that is not a file of startup/, so a
   * hard link planted in the site folder cannot reach the kit's key. Errors name paths relative to
   * the site folder, never its absolute path.
   */
  private readText(file: string): string {
    const rel = relative(realpathSync(this.o.kitDir), file) || ".";
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      throw new CohortError(
        AdminErrorCode.Path,
        `${rel}: ${code === "ENOENT" ? "no such file" : code === "ELOOP" ? "a symbolic link (not followed)" : `cannot be opened (${code})`} in ${this.o.site}'s folder`,
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

  private run(cmd: string, args: readonly string[]): unknown {
    switch (cmd) {
      case "sys_info":
        return {
          site: this.o.site,
          platform: `${platform()} ${release()}`,
          node: process.version,
          cpus: cpus().length,
          memory_total: totalmem(),
          memory_free: freemem(),
          uptime_s: Math.round(uptime()),
          process_uptime_s: Math.round(process.uptime()),
          ...this.o.status(),
        };
      case "report_resources":
        return { site: this.o.site, ...this.o.resources() };
      case "show_scopes":
        return this.o.privacy?.scopes() ?? { site: this.o.site, scopes: [] };
      case "show_privacy_budget":
        return this.o.privacy?.budget() ?? { site: this.o.site, scopes: [] };
      case "check_status":
        return { site: this.o.site, ...this.o.status() };
      case "pwd":
        return this.o.kitDir;
      case "shutdown":
      case "restart": {
        if (!this.o.control) throw new CohortError(AdminErrorCode.UnknownCommand, `${this.o.site} cannot ${cmd} itself`, {});
        // Answer first, then stop: the admin gets the confirmation.
        setTimeout(() => (cmd === "shutdown" ? this.o.control?.shutdown() : this.o.control?.restart()), 300).unref();
        return { site: this.o.site, [cmd]: "in progress" };
      }
      case "ls": {
        const p = this.safePath(args[0]);
        if (!existsSync(p))
          throw new CohortError(AdminErrorCode.Path, `${args[0] ?? "."}: no such file or folder in ${this.o.site}'s folder`, { path: args[0] });
        if (!statSync(p).isDirectory()) return relative(this.o.kitDir, p);
        return readdirSync(p, { withFileTypes: true })
          .filter((e) => !(p === realpathSync(this.o.kitDir) && e.name === "startup"))
          .map((e) => `${e.name}${e.isDirectory() ? "/" : ""}`)
          .sort();
      }
      case "cat":
        return this.readText(this.safePath(args[0]));
      case "head":
      case "tail": {
        const lines = this.readText(this.safePath(args[0])).split("\n");
        const n = Math.max(1, Math.min(10_000, Number(args[1] ?? 10) || 10));
        return (cmd === "head" ? lines.slice(0, n) : lines.slice(-n)).join("\n");
      }
      case "grep": {
        const [pattern = "", file] = args;
        if (pattern.length > 200) throw new CohortError(AdminErrorCode.Usage, "grep pattern too long", {});
        const text = this.readText(this.safePath(file));
        return text
          .split("\n")
          .filter((l) => l.includes(pattern))
          .join("\n");
      }
      default:
        throw new CohortError(AdminErrorCode.UnknownCommand, `${this.o.site} does not run ${cmd}`, { cmd });
    }
  }
}
