import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError, isCohortError } from "../../errors/index.js";
import { NonceCache, verifyCommand, type PeerIdentity } from "../../auth/index.js";
import { writeFileAtomic } from "../../pki/index.js";
import { decode, encode, bytesSchema } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import { decodeBody, type MessageMeta, type TransportServer } from "../../transport/index.js";
import { ADMIN_COMMANDS } from "../admin/commands.js";
import type { ServerJobManager } from "./server-jobs.js";
import { notAuthorized, rightDenied, type AuthorizeFn } from "../site/security.js";
import { firstRefusal, type SitePlugin } from "../participant/plugins.js";

import { TOPIC_ADMIN, TOPIC_SITE_COMMAND } from "../participant/topics.js";
import { AdminErrorCode } from "../admin/errors.js";
import { MULTI_TARGET_COMMANDS, SINGLE_TARGET_COMMANDS, parseSingleTarget, parseTargets, type Targets } from "../admin/targets.js";
import { parseListJobsArgs, parseShellArgs } from "../admin/shell-args.js";
import { WorkspaceFiles } from "../site/workspace-files.js";
import { validateCommand } from "../admin/validate.js";
import { systemInfo } from "../site/system-info.js";
import { isFinished } from "../jobs/store.js";
import { listJobs } from "./list-jobs.js";

/** Multi-target commands that have a server part (the others run at sites only). */
const SERVER_PART: ReadonlySet<string> = new Set(["check_status", "shutdown", "restart", "sys_info", "report_resources"]);

const crossSiteSchema = z.record(z.string(), z.record(z.string(), z.record(z.string(), z.union([z.number(), z.string()]))));

/** The cross-site evaluation matrix of a job, when it has one (`show_stats` shows it). */
function crossSiteMatrix(runDir: string): { cross_site_val?: z.infer<typeof crossSiteSchema>; cross_site_val_error?: string } {
  const file = join(runDir, "cross_site_val", "cross_val_results.json");
  if (!existsSync(file)) return {};
  const parsed = crossSiteSchema.safeParse(
    (() => {
      try {
        return JSON.parse(readFileSync(file, "utf8")) as unknown;
      } catch {
        return undefined;
      }
    })(),
  );
  return parsed.success ? { cross_site_val: parsed.data } : { cross_site_val_error: `${file} is not a cross-site matrix ({site: {model: {metric: value}}})` };
}
export { TOPIC_ADMIN };
/** download_job sends results in parts of this size. */
export const DOWNLOAD_PART_BYTES = 4 * 1024 * 1024;

const bytes = bytesSchema();
export const adminRequestSchema = z.object({ command: z.unknown(), archive: bytes.optional() });

const banSchema = z.record(z.string(), z.object({ fingerprint: z.string(), by: z.string(), at: z.string() }));

/**
 * `remove_client` bans: by certificate fingerprint (and name), kept in the server's workspace so a
 * restart does not let the site back in; `enable_client` lifts them.
 */
export class BanList {
  private bans: z.infer<typeof banSchema>;

  constructor(private readonly file: string) {
    this.bans = existsSync(file) ? banSchema.parse(JSON.parse(readFileSync(file, "utf8"))) : {};
  }

  isBanned(identity: PeerIdentity): boolean {
    const b = this.bans[identity.name];
    return b !== undefined && (b.fingerprint === identity.certFingerprint || b.fingerprint === "*");
  }

  ban(name: string, fingerprint: string | undefined, by: string): void {
    this.bans[name] = { fingerprint: fingerprint ?? "*", by, at: new Date().toISOString() };
    writeFileAtomic(this.file, `${JSON.stringify(this.bans, null, 2)}\n`, 0o600);
  }

  lift(name: string): boolean {
    if (!(name in this.bans)) return false;
    delete this.bans[name];
    writeFileAtomic(this.file, `${JSON.stringify(this.bans, null, 2)}\n`, 0o600);
    return true;
  }

  names(): string[] {
    return Object.keys(this.bans).sort();
  }
}

export interface ServerAdminOptions {
  readonly server: string;
  /** Where accepted command nonces are kept across restarts (none: memory only). */
  readonly nonceFile?: string;
  readonly rootPem: string;
  readonly audit: AuditLog;
  readonly authorize?: AuthorizeFn;
  readonly skewMs: number;
  readonly bans: BanList;
  readonly log: (line: string) => void;
  readonly plugins?: readonly SitePlugin[];
  readonly control?: { shutdown(): void; restart(): void };
  /** The server's participant folder, for `ls server` and the other shell commands. */
  readonly kitDir?: string;
}

/**
 * Admin commands at the server: every command arrives signed by the admin (checked here too);
 * server commands are authorised with the server's policy and run; site commands are forwarded
 * with the admin's signature to each target site, which decides with its own policy.
 */
export class ServerAdmin {
  private readonly nonces: NonceCache;
  /** Packed results of recent download_job calls, per admin and job. */
  private readonly downloads = new Map<string, { archive: Uint8Array; at: number }>();

  constructor(
    private readonly transport: TransportServer,
    private readonly jobs: ServerJobManager,
    private readonly o: ServerAdminOptions,
  ) {
    // Kept on disk (when a file is given): a command captured before a restart is not run again after it.
    this.nonces = new NonceCache(o.skewMs, o.nonceFile);
  }

  start(): void {
    this.transport.handleRequest(TOPIC_ADMIN, (body, meta) => this.handle(body, meta));
  }

  private async handle(body: Uint8Array, meta: MessageMeta): Promise<Uint8Array> {
    if (meta.peer?.type !== "admin") throw new CohortError(AdminErrorCode.NotAdmin, `${meta.sender} is not logged in as an admin`, {});
    const req = decodeBody(TOPIC_ADMIN, body, adminRequestSchema);
    let eventId: string | undefined;
    let cmd = "command";
    try {
      const { command, issuer } = verifyCommand(req.command, { rootPem: this.o.rootPem, nonces: this.nonces, skewMs: this.o.skewMs });
      cmd = command.cmd;
      if (issuer.name !== meta.sender) throw new CohortError(AdminErrorCode.NotAdmin, `the command is signed by ${issuer.name} but sent by ${meta.sender}`, {});
      eventId = this.o.audit.append({ action: `admin.${cmd}`, outcome: "ok", user: issuer.name, reason: command.args.join(" ").slice(0, 200) });
      const info = ADMIN_COMMANDS[cmd];
      if (!info) throw new CohortError(AdminErrorCode.UnknownCommand, `unknown command ${JSON.stringify(cmd)}`, { cmd });
      validateCommand(cmd, command.args);
      if (MULTI_TARGET_COMMANDS.has(cmd)) {
        return encode(await this.runTargeted(cmd, command.args, parseTargets(cmd, command.args), req.command, eventId, issuer, command.oidc));
      }
      if (SINGLE_TARGET_COMMANDS.has(cmd) && parseSingleTarget(cmd, command.args[0]) !== "server") {
        return encode(await this.forward(this.checkedSites(cmd, [command.args[0] ?? ""]), req.command, eventId, cmd));
      }
      const submitter = info.jobArg && command.args[0] ? this.submitterOf(command.args[0]) : undefined;
      await this.authorizeHere(cmd, issuer, command.args, command.oidc, submitter);
      return encode(await this.runServerCommand(cmd, command.args, req.archive, issuer));
    } catch (err) {
      this.o.audit.append({
        action: `admin.${cmd}`,
        outcome: isCohortError(err) && err.code !== AdminErrorCode.Failed ? "denied" : "error",
        user: meta.sender,
        ...(eventId ? { ref: eventId } : {}),
        code: isCohortError(err) ? err.code : AdminErrorCode.Failed,
        reason: (err as Error).message,
      });
      throw err;
    }
  }

  private files(): WorkspaceFiles {
    if (!this.o.kitDir) throw new CohortError(AdminErrorCode.UnknownCommand, "this server has no folder to show", {});
    return new WorkspaceFiles(this.o.kitDir, this.o.server);
  }

  private submitterOf(jobId: string): { name: string; org: string; role: string } | undefined {
    try {
      const m = this.jobs.store.get(jobId);
      return { name: m.submitter_name, org: m.submitter_org, role: m.submitter_role };
    } catch {
      return undefined;
    }
  }

  private connectedSites(): string[] {
    return this.transport.sessionNames().filter((n) => this.transport.session(n)?.identity.type === "client");
  }

  /** Authorises a command at the server (its policy, then its plugins). */
  private async authorizeHere(
    cmd: string,
    user: { name: string; org: string; role: string },
    args: readonly string[],
    oidcToken: string | undefined,
    submitter?: { name: string; org: string; role: string },
  ): Promise<void> {
    const d = this.o.authorize?.({ right: cmd, user, ...(submitter ? { submitter } : {}) });
    if (d && !d.allowed) throw rightDenied(this.o.server, cmd, user, d.reason);
    const refusal = await firstRefusal(this.o.plugins ?? [], (p) => p.onCommand, { command: cmd, args, user, oidcToken });
    if (refusal) throw notAuthorized(this.o.server, refusal);
  }

  /**
   * The connected sites a command names, or every connected site: a name that is not connected
   * refuses the whole command before anything runs (FLARE: "invalid client(s)").
   */
  private checkedSites(cmd: string, named: readonly string[] | "every"): string[] {
    const connected = this.connectedSites();
    if (named === "every") return connected;
    const missing = named.filter((n) => !connected.includes(n));
    if (missing.length > 0)
      throw new CohortError(
        AdminErrorCode.NoSites,
        `${cmd}: invalid client(s): ${missing.join(" ")} (not connected; connected: ${connected.join(", ") || "none"}); nothing was run`,
        { missing },
      );
    return [...named];
  }

  /**
   * A command in FLARE's target grammar: the sites' part is forwarded (each site authorises it
   * itself), the server's part is authorised and run here. With `all`, sites go first, so that
   * `shutdown all` stops the sites before the server.
   */
  private async runTargeted(
    cmd: string,
    args: readonly string[],
    targets: Targets,
    signed: unknown,
    ref: string,
    user: { name: string; org: string; role: string },
    oidcToken: string | undefined,
  ): Promise<unknown> {
    if (targets.server && !SERVER_PART.has(cmd)) throw new CohortError(AdminErrorCode.Usage, `${cmd} runs at sites only: ${cmd} client [site names…]`, { cmd });
    if ((cmd === "shutdown" || cmd === "restart") && this.jobs.runningJobs().length > 0)
      throw new CohortError(
        AdminErrorCode.Failed,
        `There are still jobs running (${this.jobs.runningJobs().join(", ")}). Please let them finish or abort_job before ${cmd}; nothing was changed.`,
        {},
      );
    const siteNames = targets.sites === "every" || targets.sites.length > 0 ? this.checkedSites(cmd, targets.sites) : [];
    if (targets.server) await this.authorizeHere(cmd, user, args, oidcToken);
    if (!targets.server) return this.forward(siteNames, signed, ref, cmd);
    const sites = siteNames.length > 0 ? await this.forward(siteNames, signed, ref, cmd, false) : undefined;
    // FLARE's `shutdown all`: the server stops only when every site did.
    const refusedBy = Object.entries(sites ?? {}).filter(([, v]) => typeof v === "object" && v !== null && "error" in v);
    const server =
      cmd === "shutdown" && refusedBy.length > 0 ? `not shut down: ${refusedBy.map(([s]) => s).join(", ")} did not shut down` : this.serverPart(cmd);
    if (!sites) return cmd === "check_status" || cmd === "shutdown" || cmd === "restart" ? server : { server };
    return cmd === "check_status" || cmd === "shutdown" || cmd === "restart" ? { server, sites } : { server, ...sites };
  }

  /** The server's own answer to a multi-target command. */
  private serverPart(cmd: string): unknown {
    switch (cmd) {
      case "check_status":
        return this.serverStatus();
      case "sys_info":
        return { site: this.o.server, ...systemInfo(), running_jobs: this.jobs.runningJobs() };
      case "report_resources":
        // FLARE's server reports "unlimited": it schedules jobs but runs no training.
        return "unlimited";
      default: {
        const control = this.o.control;
        if (!control) throw new CohortError(AdminErrorCode.UnknownCommand, `the server cannot ${cmd} itself here`, {});
        setTimeout(() => (cmd === "shutdown" ? control.shutdown() : control.restart()), 300).unref();
        return { server: this.o.server, [cmd]: "in progress" };
      }
    }
  }

  private serverStatus(): Record<string, unknown> {
    const clients = this.connectedSites();
    return {
      server: "started",
      clients,
      // FLARE's check_status table: each client's token (here the session id) and last connect time.
      client_details: clients.map((n) => {
        const s = this.transport.session(n);
        return { name: n, token: s?.sid ?? "", last_connect_time: s ? new Date(s.lastSeen).toISOString() : "" };
      }),
      running_jobs: this.jobs.runningJobs(),
      removed_clients: this.o.bans.names(),
      job_confinement: this.jobs.confinementSummary(),
    };
  }

  /** Sends the admin's signed command to each target site; every site answers for itself. */
  private async forward(sites: readonly string[], command: unknown, ref: string, cmd: string, throwIfOneRefused = true): Promise<Record<string, unknown>> {
    if (sites.length === 0) throw new CohortError(AdminErrorCode.NoSites, "no site is connected", {});
    const out: Record<string, unknown> = {};
    await Promise.all(
      sites.map(async (site) => {
        try {
          out[site] = decode(await this.transport.request(site, TOPIC_SITE_COMMAND, encode({ command, ref }), { timeoutMs: 30_000 }));
        } catch (err) {
          out[site] = {
            error: (err as Error).message,
            code: isCohortError(err) ? ((err.details["remoteCode"] as string | undefined) ?? err.code) : AdminErrorCode.Failed,
          };
        }
      }),
    );
    const refused = Object.values(out).filter((v) => typeof v === "object" && v !== null && "error" in v);
    if (throwIfOneRefused && refused.length === sites.length && sites.length === 1) {
      const r = refused[0] as { error: string; code: string };
      throw new CohortError(r.code, r.error.replace(/^[^:]+ refused: /, ""), { site: sites[0] });
    }
    this.o.log(`admin ${cmd} forwarded to ${sites.join(", ")}`);
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  }

  private async runServerCommand(
    cmd: string,
    args: readonly string[],
    archive: Uint8Array | undefined,
    user: { name: string; org: string; role: string },
  ): Promise<unknown> {
    const arg = (what: string): string => {
      const v = args[0];
      if (!v) throw new CohortError(AdminErrorCode.Usage, `${cmd} needs ${what}: ${ADMIN_COMMANDS[cmd]?.usage ?? cmd}`, {});
      return v;
    };
    const jobs = this.jobs;
    switch (cmd) {
      case "submit_job": {
        if (!archive) throw new CohortError(AdminErrorCode.Usage, "submit_job needs a job folder", {});
        const m = await jobs.submit(archive, user);
        return { job_id: m.job_id, name: m.name, status: m.status };
      }
      case "list_jobs":
        return listJobs(jobs.store.list(), parseListJobsArgs(args), user.name);
      case "pwd":
        return this.files().pwd();
      case "ls":
      case "cat":
      case "head":
      case "tail":
      case "grep":
        return this.files().run(parseShellArgs(cmd, args.slice(1)));
      case "get_job_meta":
        return jobs.store.get(arg("a job id"));
      case "show_stats": {
        const m = jobs.store.get(arg("a job id"));
        // FLARE's `show_stats <job> server|client [sites]`: Cohort keeps every site's round metrics at the server.
        const targets = args.length > 1 ? parseTargets(cmd, args.slice(1)) : undefined;
        const stats = {
          job_id: m.job_id,
          status: m.status,
          rounds: m.rounds,
          total_rounds: m.total_rounds,
          ...crossSiteMatrix(jobs.store.workspace(m.job_id)),
        };
        if (!targets || targets.server) return stats;
        const wanted = (site: string): boolean => targets.sites === "every" || targets.sites.includes(site);
        return { ...stats, rounds: m.rounds.filter((r) => r.sites.some(wanted)).map((r) => ({ ...r, sites: r.sites.filter(wanted) })) };
      }
      case "reset_errors": {
        // FLARE resets the errors collected for a job; Cohort's are the reason show_errors reports.
        const m = jobs.store.update(arg("a job id"), (old) => {
          const { status_reason: _dropped, ...rest } = old;
          return rest;
        });
        return { job_id: m.job_id, errors_reset: true };
      }
      case "delete_workspace": {
        const id = arg("a job id");
        const m = jobs.store.get(id);
        if (!isFinished(m.status))
          throw new CohortError(AdminErrorCode.Failed, `job ${id} is ${m.status}: its workspace cannot be deleted until it ends`, { jobId: id });
        rmSync(jobs.store.workspace(id), { recursive: true, force: true });
        return { job_id: id, workspace_deleted: true };
      }
      case "show_errors": {
        const m = jobs.store.get(arg("a job id"));
        return { job_id: m.job_id, status: m.status, reason: m.status_reason ?? null };
      }
      case "abort_job": {
        const id = arg("a job id");
        const before = jobs.store.get(id).status;
        // FLARE's messages (job_cmds.py abort_job), by the status the job had; a finished job is left as it is.
        if (isFinished(before)) return { job_id: id, status: before, message: `Job for ${id} is already completed.` };
        await jobs.abort(id, user.name);
        const message = before === "RUNNING" ? "Abort signal has been sent to the server app." : `Aborted the job ${id} before running it.`;
        return { job_id: id, status: "FINISHED:ABORTED", message };
      }
      case "clone_job": {
        const r = await jobs.clone(arg("a job id"), user, archive);
        // First step: the stored job, for the console to check and sign a fresh manifest.
        if ("archive" in r) return { job_id: args[0], archive: r.archive };
        return { job_id: r.job_id, name: r.name, status: r.status, cloned_from: args[0] };
      }
      case "delete_job": {
        const id = arg("a job id");
        jobs.delete(id);
        return { job_id: id, deleted: true };
      }
      case "download_job": {
        // In parts (the console shows progress, and no message exceeds a frame): the first call
        // packs the results and answers how many parts; `download_job <id> <i>` fetches part i.
        const id = arg("a job id");
        const key = `${user.name}|${id}`;
        const now = Date.now();
        for (const [k, v] of this.downloads) if (now - v.at > 300_000) this.downloads.delete(k);
        if (args[1] === undefined) {
          const d = await jobs.download(id);
          if (this.downloads.size > 32) this.downloads.clear();
          this.downloads.set(key, { archive: d.archive, at: now });
          return { job_id: id, meta: d.meta, total_bytes: d.archive.byteLength, parts: Math.max(1, Math.ceil(d.archive.byteLength / DOWNLOAD_PART_BYTES)) };
        }
        const cached = this.downloads.get(key);
        const part = Number(args[1]);
        if (!cached || !Number.isInteger(part) || part < 0 || part * DOWNLOAD_PART_BYTES >= Math.max(1, cached.archive.byteLength)) {
          throw new CohortError(AdminErrorCode.Usage, `download_job ${id} ${args[1]}: no such part (start with download_job ${id})`, {});
        }
        return { job_id: id, part, bytes: cached.archive.subarray(part * DOWNLOAD_PART_BYTES, (part + 1) * DOWNLOAD_PART_BYTES) };
      }
      case "remove_client": {
        const name = arg("a site name");
        const s = this.transport.session(name);
        this.o.bans.ban(name, s?.identity.certFingerprint, user.name);
        this.transport.drop(name, `removed by ${user.name}`);
        this.o.log(`site ${name} removed by ${user.name}; its logins are refused until enable_client`);
        return { site: name, removed: true };
      }
      case "enable_client": {
        const name = arg("a site name");
        if (!this.o.bans.lift(name)) throw new CohortError(AdminErrorCode.Usage, `${name} is not removed`, {});
        return { site: name, enabled: true };
      }
      default:
        throw new CohortError(AdminErrorCode.UnknownCommand, `unknown command ${JSON.stringify(cmd)}`, { cmd });
    }
  }
}

export function banListFile(workspace: string): string {
  return join(workspace, "removed_clients.json");
}
