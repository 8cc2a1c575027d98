import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CohortError } from "../errors/index.js";
import { verifyStartupKit } from "../pki/index.js";
import { DEFAULT_SERVER_SETTINGS, loadKitConfig, readLocalJson, serverResourcesSchema, splitTarget } from "../config/index.js";
import { AuditLog, RefusalAuditor } from "../audit/index.js";
import { driverFor, TransportClient, TransportServer, type ServerListenerConfig } from "../transport/index.js";
import { ServerJobManager } from "./server-jobs.js";
import { ClientJobManager } from "./client-jobs.js";
import { SiteResources, siteResourcesSchema } from "./resources.js";
import { BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR } from "./learn/idx.js";
import { z } from "zod";

const schedulerArgs = z.object({ max_jobs: z.number().int().min(1).default(4), max_schedule_count: z.number().int().min(1).default(10), min_schedule_interval: z.number().min(0).default(10) });

/** Folders job children may read besides their own: the site's datasets (`job_data_paths`). */
function dataPaths(configured: readonly string[] | undefined): string[] {
  return [...(configured ?? [DEBIAN_FASHION_MNIST_DIR, BUNDLED_FASHION_MNIST_DIR])];
}

export interface StartParticipantOptions {
  /** The participant folder (holding startup/ and local/). */
  readonly kitDir: string;
  /** Server: address to listen on (default all interfaces). */
  readonly host?: string;
  readonly log: (line: string) => void;
}

export interface RunningParticipant {
  readonly name: string;
  readonly type: "server" | "client";
  /** Server: bound addresses. */
  readonly addresses: readonly { host: string; port: number }[];
  readonly server?: TransportServer;
  readonly client?: TransportClient;
  stop(): Promise<void>;
}

/**
 * `cohort start <kit>`: verifies the kit, loads its configuration, opens the site's audit log
 * (`<kit>/audit.log`) and runs the server (listeners, logins, sessions) or the client (connects,
 * logs in, stays connected). The runtime (jobs) builds on this.
 */
export async function startParticipant(o: StartParticipantOptions): Promise<RunningParticipant> {
  const verified = verifyStartupKit(o.kitDir);
  const kit = loadKitConfig(o.kitDir);
  const startup = join(o.kitDir, "startup");
  const read = (f: string): string => readFileSync(join(startup, f), "utf8");
  const audit = AuditLog.open(join(o.kitDir, "audit.log"), verified.name);
  const refusals = new RefusalAuditor(audit);
  if (kit.type === "server") {
    const s = kit.config.servers[0];
    if (!s) throw new CohortError("ERR_CONFIG_INVALID", `${startup}/fed_server.json: servers is empty`, {});
    const { port } = splitTarget(s.service.target);
    const adminPort = s.admin_port ?? port;
    const settings = readLocalJson(o.kitDir, "resources", serverResourcesSchema)?.value.servers[0] ?? DEFAULT_SERVER_SETTINGS;
    const driver = driverFor(s.service.scheme);
    const host = o.host ?? "::";
    const listeners: ServerListenerConfig[] =
      adminPort === port
        ? [{ driver, host, port, security: s.connection_security, accepts: "all" }]
        : [
            { driver, host, port, security: s.connection_security, accepts: "client" },
            { driver, host, port: adminPort, security: s.connection_security, accepts: "admin" },
          ];
    const server = new TransportServer({
      name: verified.name,
      project: s.name,
      certPem: read(s.ssl_cert),
      keyPem: read(s.ssl_private_key),
      rootPem: read(s.ssl_root_cert),
      listeners,
      audit,
      refusals,
      heartbeatTimeoutMs: settings.heart_beat_timeout * 1000,
      tokenLifetimeS: settings.session_token_lifetime,
      skewMs: settings.clock_skew_tolerance * 1000,
      loginAttemptsPerMinute: settings.login_attempts_per_minute,
      maxPendingLogins: settings.max_pending_logins,
      maxClients: settings.max_num_clients,
      log: o.log,
    });
    const site = readLocalJson(o.kitDir, "resources", siteResourcesSchema)?.value;
    const sched = schedulerArgs.parse(site?.components.find((c) => c.id === "job_scheduler")?.args ?? {});
    const jobs = new ServerJobManager(server, {
      workspace: join(o.kitDir, "workspace"),
      audit,
      log: o.log,
      settings: { maxJobs: sched.max_jobs, maxScheduleCount: sched.max_schedule_count, scheduleInterval: sched.min_schedule_interval },
      dataPaths: dataPaths(site?.job_data_paths),
    });
    const addresses = await server.start();
    jobs.start();
    o.log(`server ${verified.name} (${s.service.scheme}, ${s.connection_security}) listening on ${addresses.map((a) => `${a.host}:${a.port}`).join(", ")}`);
    return {
      name: verified.name,
      type: "server",
      addresses,
      server,
      stop: async () => {
        await jobs.stop();
        await server.stop();
        audit.close();
      },
    };
  }
  if (kit.type === "client") {
    const c = kit.config;
    const srv = c.servers[0];
    if (!srv) throw new CohortError("ERR_CONFIG_INVALID", `${startup}/fed_client.json: servers is empty`, {});
    const { host, port } = splitTarget(srv.service.target);
    const client = new TransportClient({
      name: verified.name,
      type: "client",
      project: srv.name,
      certPem: read(c.client.ssl_cert),
      keyPem: read(c.client.ssl_private_key),
      rootPem: read(c.client.ssl_root_cert),
      ...(c.client.custom_ca_cert ? { customCaPem: read(c.client.custom_ca_cert) } : {}),
      serverName: srv.identity,
      driver: driverFor(srv.service.scheme),
      host,
      port,
      security: c.client.connection_security,
      audit,
      log: o.log,
    });
    const site = readLocalJson(o.kitDir, "resources", siteResourcesSchema)?.value;
    const rm = z.object({ num_of_gpus: z.number().int().min(0).default(0), mem_per_gpu_in_GiB: z.number().min(0).default(0) }).parse(site?.components.find((c) => c.id === "resource_manager")?.args ?? {});
    const jobs = new ClientJobManager(client, {
      site: verified.name,
      workspace: join(o.kitDir, "workspace"),
      audit,
      log: o.log,
      resources: new SiteResources({ gpus: rm.num_of_gpus, memPerGpuGiB: rm.mem_per_gpu_in_GiB, maxJobs: site?.max_concurrent_jobs ?? 2 }),
      dataPaths: dataPaths(site?.job_data_paths),
    });
    jobs.start();
    client.onState((state, detail) => {
      if (state === "connected") o.log(`connected to ${srv.identity} at ${host}:${port} (${srv.service.scheme}, ${c.client.connection_security})`);
      else if (state === "disconnected" && detail) o.log(`disconnected: ${detail}`);
    });
    void client.start();
    return {
      name: verified.name,
      type: "client",
      addresses: [],
      client,
      stop: async () => {
        await jobs.stop();
        await client.stop();
        audit.close();
      },
    };
  }
  throw new CohortError("ERR_CONFIG_INVALID", `${o.kitDir} is an admin kit: open it with 'cohort admin ${o.kitDir}' (or startup/fl_admin.sh)`, { file: o.kitDir });
}
