import { join } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { assertAddressedTo, NonceCache, verifyCommand, type CommandIssuer, type SignedCommand } from "../../auth/index.js";
import type { AuditLog } from "../../audit/index.js";
import { notAuthorized, rightDenied, type AuthorizeFn } from "./security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";
import { AdminErrorCode } from "../admin/errors.js";
import { parseShellArgs } from "../admin/shell-args.js";
import { addressedSites } from "../admin/targets.js";
import { WorkspaceFiles } from "./workspace-files.js";
import { systemInfo } from "./system-info.js";

export const siteCommandRequestSchema = z.object({ command: z.unknown(), ref: z.string().optional() });

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
  /** The server this site connects to (report_env). */
  readonly serverUrl?: string;
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
  private readonly files: WorkspaceFiles;

  constructor(private readonly o: SiteAdminOptions) {
    this.files = new WorkspaceFiles(o.kitDir, o.site);
    // Kept on disk: a command captured before a restart is not run again after it.
    this.nonces = new NonceCache(o.skewMs, join(o.kitDir, "workspace", "admin_command_nonces.jsonl"));
  }

  async handle(raw: unknown): Promise<unknown> {
    const req = siteCommandRequestSchema.parse(raw);
    let command: SignedCommand | undefined;
    let issuer: CommandIssuer | undefined;
    try {
      ({ command, issuer } = verifyCommand(req.command, { rootPem: this.o.rootPem, nonces: this.nonces, skewMs: this.o.skewMs }));
      assertAddressedTo(command, this.o.site, addressedSites);
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

  private run(cmd: string, args: readonly string[]): unknown {
    switch (cmd) {
      case "sys_info":
        return { site: this.o.site, ...systemInfo(), ...this.o.status() };
      case "report_resources":
        return { site: this.o.site, ...this.o.resources() };
      case "show_scopes":
        return this.o.privacy?.scopes() ?? { site: this.o.site, scopes: [] };
      case "show_privacy_budget":
        return this.o.privacy?.budget() ?? { site: this.o.site, scopes: [] };
      case "check_status":
        return { site: this.o.site, ...this.o.status() };
      case "pwd":
        return this.files.pwd();
      case "report_env":
        // FLARE's keys (ReportEnvProcessor): the site, its folder, secure mode, the server it reports to.
        return { site_name: this.o.site, workspace: this.o.kitDir, secure_mode: true, root_url: this.o.serverUrl ?? "" };
      case "shutdown":
      case "restart": {
        if (!this.o.control) throw new CohortError(AdminErrorCode.UnknownCommand, `${this.o.site} cannot ${cmd} itself`, {});
        // Answer first, then stop: the admin gets the confirmation.
        setTimeout(() => (cmd === "shutdown" ? this.o.control?.shutdown() : this.o.control?.restart()), 300).unref();
        return { site: this.o.site, [cmd]: "in progress" };
      }
      case "ls":
      case "cat":
      case "head":
      case "tail":
      case "grep":
        return this.files.run(parseShellArgs(cmd, args));
      default:
        throw new CohortError(AdminErrorCode.UnknownCommand, `${this.o.site} does not run ${cmd}`, { cmd });
    }
  }
}
