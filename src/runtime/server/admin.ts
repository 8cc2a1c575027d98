import { existsSync, readFileSync } from "node:fs";
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
      const serverTarget = (cmd === "shutdown" || cmd === "restart") && command.args[0] === "server";
      if ((info.scope === "site" && !serverTarget) || (cmd === "check_status" && command.args[0] === "client")) {
        return encode(await this.forward(command.args[0] ?? "", req.command, eventId, cmd));
      }
      const submitter = info.jobArg && command.args[0] ? this.submitterOf(command.args[0]) : undefined;
      const d = this.o.authorize?.({ right: cmd, user: issuer, ...(submitter ? { submitter } : {}) });
      if (d && !d.allowed) throw rightDenied(this.o.server, cmd, issuer, d.reason);
      const refusal = await firstRefusal(this.o.plugins ?? [], (p) => p.onCommand, { command: cmd, args: command.args, user: issuer, oidcToken: command.oidc });
      if (refusal) throw notAuthorized(this.o.server, refusal);
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

  /** Sends the admin's signed command to each target site; every site answers for itself. */
  private async forward(target: string, command: unknown, ref: string, cmd: string): Promise<Record<string, unknown>> {
    const sites = target === "@ALL" || target === "client" || target === "" ? this.connectedSites() : [target];
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
    if (refused.length === sites.length && sites.length === 1) {
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
        return jobs.store.list().map((m) => ({
          job_id: m.job_id,
          name: m.name,
          status: m.status,
          submit_time: m.submit_time_iso,
          submitter: m.submitter_name,
          rounds: m.rounds.length,
          total_rounds: m.total_rounds,
        }));
      case "get_job_meta":
        return jobs.store.get(arg("a job id"));
      case "show_stats": {
        const m = jobs.store.get(arg("a job id"));
        return { job_id: m.job_id, status: m.status, rounds: m.rounds, total_rounds: m.total_rounds, ...crossSiteMatrix(jobs.store.workspace(m.job_id)) };
      }
      case "show_errors": {
        const m = jobs.store.get(arg("a job id"));
        return { job_id: m.job_id, status: m.status, reason: m.status_reason ?? null };
      }
      case "abort_job": {
        const id = arg("a job id");
        await jobs.abort(id, user.name);
        return { job_id: id, status: "FINISHED:ABORTED" };
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
      case "check_status": {
        const clients = this.connectedSites();
        return {
          server: "started",
          clients,
          running_jobs: jobs.runningJobs(),
          removed_clients: this.o.bans.names(),
          job_confinement: jobs.confinementSummary(),
        };
      }
      case "remove_client": {
        const name = arg("a site name");
        const s = this.transport.session(name);
        this.o.bans.ban(name, s?.identity.certFingerprint, user.name);
        this.transport.drop(name, `removed by ${user.name}`);
        this.o.log(`site ${name} removed by ${user.name}; its logins are refused until enable_client`);
        return { site: name, removed: true };
      }
      case "shutdown":
      case "restart": {
        const control = this.o.control;
        if (!control) throw new CohortError(AdminErrorCode.UnknownCommand, `the server cannot ${cmd} itself here`, {});
        setTimeout(() => (cmd === "shutdown" ? control.shutdown() : control.restart()), 300).unref();
        return { server: this.o.server, [cmd]: "in progress" };
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
