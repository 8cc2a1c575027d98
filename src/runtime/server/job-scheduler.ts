import { z } from "zod";
import { decode, encode } from "../../wire/index.js";
import type { AuditLog } from "../../audit/index.js";
import type { TransportServer } from "../../transport/index.js";
import { deploySites } from "../jobs/definition.js";
import type { JobStore, StoredJobMeta } from "../jobs/store.js";
import { TOPIC_JOB_RESOURCES } from "../participant/topics.js";

export interface SchedulerSettings {
  /** Jobs running at once (FLARE's max_jobs, default 4). */
  readonly maxJobs: number;
  /** Scheduling attempts before a job that cannot get its sites/resources ends CAN_NOT_SCHEDULE. */
  readonly maxScheduleCount: number;
  /** Seconds between attempts for a waiting job. */
  readonly scheduleInterval: number;
  /**
   * Seconds after the server starts during which attempts that fail because sites are not
   * connected yet do not count (sites reconnect with backoff after a restart). Default 60.
   */
  readonly reconnectGrace?: number;
}

export interface JobSchedulerContext {
  readonly transport: TransportServer;
  readonly store: JobStore;
  readonly audit: AuditLog;
  readonly log: (line: string) => void;
  readonly settings: SchedulerSettings;
  /** The jobs running now, by id (the manager's table: it counts toward max_jobs). */
  readonly running: ReadonlyMap<string, unknown>;
  /** Starts a job that may run, on the sites that can take it. */
  readonly launch: (m: StoredJobMeta, sites: string[]) => Promise<void>;
}

type Verdict = { ok: true; sites: string[] } | { ok: false; reason: string; waitingForSites?: boolean };

/**
 * Decides when submitted jobs run: min_clients, mandatory_clients, each site's resources, max_jobs;
 * a job that keeps failing those checks ends CAN_NOT_SCHEDULE.
 */
export class JobScheduler {
  private timer: NodeJS.Timeout | undefined;
  private scheduling = false;
  private again = false;
  private stopped = false;
  private startedAt = Date.now();

  constructor(private readonly ctx: JobSchedulerContext) {}

  /** Jobs that were running when the server stopped go back in the queue; then scheduling starts. */
  start(): void {
    this.startedAt = Date.now();
    for (const id of this.ctx.store.recover()) this.ctx.log(`job ${id} was running when the server stopped; it will resume`);
    this.ctx.transport.onSession(() => this.schedule());
    this.timer = setInterval(() => this.schedule(), Math.max(250, this.ctx.settings.scheduleInterval * 1000));
    this.timer.unref();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Event-driven (submit, login, logout, job end) plus a slow timer for jobs waiting on resources. */
  schedule(): void {
    if (this.stopped) return;
    if (this.scheduling) {
      this.again = true;
      return;
    }
    this.scheduling = true;
    this.scheduleOnce()
      .catch((err: Error) => this.ctx.log(`scheduler: ${err.message}`))
      .finally(() => {
        this.scheduling = false;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async scheduleOnce(): Promise<void> {
    const { store, settings, running } = this.ctx;
    for (const m of store.list()) {
      if (m.status !== "SUBMITTED" || running.has(m.job_id)) continue;
      if (running.size >= settings.maxJobs) return;
      const verdict = await this.canRun(m);
      if (verdict.ok) {
        await this.ctx.launch(m, verdict.sites);
        continue;
      }
      const inGrace = verdict.waitingForSites && Date.now() - this.startedAt < (settings.reconnectGrace ?? 60) * 1000;
      const next = store.update(m.job_id, (x) => ({ ...x, schedule_count: x.schedule_count + (inGrace ? 0 : 1), status_reason: verdict.reason }));
      if (next.schedule_count >= settings.maxScheduleCount) {
        store.update(m.job_id, (x) => ({ ...x, status: "FINISHED:CAN_NOT_SCHEDULE", end_time_iso: new Date().toISOString() }));
        this.ctx.audit.append({ action: "job.can_not_schedule", outcome: "error", job: m.job_id, reason: verdict.reason });
        this.ctx.log(`job ${m.job_id} cannot be scheduled: ${verdict.reason}`);
      }
    }
  }

  private connectedSites(): string[] {
    const { transport } = this.ctx;
    return transport.sessionNames().filter((n) => transport.session(n)?.identity.type === "client");
  }

  private async canRun(m: StoredJobMeta): Promise<Verdict> {
    const connected = this.connectedSites();
    const { named, all } = deploySites(m);
    const wanted = all ? [...new Set([...connected, ...named])] : named;
    const missingMandatory = m.mandatory_clients.filter((s) => !connected.includes(s));
    if (missingMandatory.length > 0) return { ok: false, waitingForSites: true, reason: `mandatory sites not connected: ${missingMandatory.join(", ")}` };
    const available = wanted.filter((s) => connected.includes(s));
    if (available.length < m.min_clients)
      return {
        ok: false,
        waitingForSites: true,
        reason: `${available.length} of the job's sites connected (${available.join(", ") || "none"}), min_clients is ${m.min_clients}`,
      };
    const checks = await Promise.all(
      available.map(async (site) => {
        try {
          const r = z.object({ ok: z.boolean(), reason: z.string().optional() }).parse(
            decode(
              await this.ctx.transport.request(site, TOPIC_JOB_RESOURCES, encode({ job_id: m.job_id, spec: m.resource_spec[site] ?? {} }), {
                timeoutMs: 10_000,
              }),
            ),
          );
          return { site, ...r };
        } catch (err) {
          return { site, ok: false, reason: (err as Error).message };
        }
      }),
    );
    const ok = checks.filter((c) => c.ok).map((c) => c.site);
    const notOk = checks.filter((c) => !c.ok);
    if (notOk.some((c) => m.mandatory_clients.includes(c.site)) || ok.length < m.min_clients) {
      return { ok: false, reason: `not enough sites with the resources: ${notOk.map((c) => `${c.site}: ${c.reason ?? "refused"}`).join("; ")}` };
    }
    return { ok: true, sites: ok.sort() };
  }
}
