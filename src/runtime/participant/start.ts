import { existsSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { authorize, type LoadedPolicy } from "../../authz/index.js";
import { readCertificateInfo } from "../../pki/index.js";
import type { AuthorizeFn, SiteSecurityOptions } from "../site/security.js";
import { join, resolve } from "node:path";
import { CohortError } from "../../errors/index.js";
import { verifyStartupKit } from "../../pki/index.js";
import {
  DEFAULT_SERVER_SETTINGS,
  loadKitConfig,
  localConfigPath,
  readLocalJson,
  serverResourcesSchema,
  splitTarget,
  ConfigErrorCode,
} from "../../config/index.js";
import { loadSitePlugins } from "./plugins.js";
import { loadSitePolicyFiles } from "./policy-files.js";
import {
  CLIENT_CONTEXT_FILE,
  FLARE_CLIENT_CONTEXT_FILE,
  HeErrorCode,
  kitContextFile,
  readCkksContextFile,
  SERVER_CONTEXT_FILE,
  SitePrivacy,
} from "../../privacy/index.js";
import "../components/builtins.js";
import { AuditLog, RefusalAuditor } from "../../audit/index.js";
import { driverFor, TransportClient, TransportServer, type ServerListenerConfig } from "../../transport/index.js";
import { ServerJobManager } from "../server/server-jobs.js";
import { BanList, banListFile, ServerAdmin } from "../server/admin.js";
import { SiteAdmin } from "../site/admin.js";
import { acknowledged, CheckpointExchange } from "./audit-witness.js";
import { TOPIC_CHECKPOINT, TOPIC_SITE_COMMAND } from "./topics.js";
import { decode, encode } from "../../wire/index.js";
import { SiteJobManager } from "../site/site-jobs.js";
import { SiteResources, type siteResourcesSchema } from "../site/resources.js";
import { closeInheritedDescriptors, describeConfinement, jobConfinement, type JobConfinement } from "../sandbox/index.js";
import { BUNDLED_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR } from "../datasets/index.js";
import { z } from "zod";

const schedulerArgs = z.object({
  max_jobs: z.number().int().min(1).default(4),
  max_schedule_count: z.number().int().min(1).default(10),
  min_schedule_interval: z.number().min(0).default(10),
});

/** The deploy-time checks of a site (or the server), from its kit and local/ policy files. */
function siteSecurity(o: {
  kitDir: string;
  site: string;
  rootPem: string;
  requireSignedJobs: boolean | undefined;
  resources: z.infer<typeof siteResourcesSchema> | undefined;
  policy: LoadedPolicy | undefined;
  log: (line: string) => void;
}): SiteSecurityOptions {
  const policy = o.policy;
  for (const w of policy?.warnings ?? []) o.log(`${policy?.file}: ${w}`);
  const org =
    readCertificateInfo(readFileSync(join(o.kitDir, "startup", existsSync(join(o.kitDir, "startup", "server.crt")) ? "server.crt" : "client.crt"), "utf8"))
      .organization ?? "";
  return {
    site: o.site,
    rootPem: o.rootPem,
    requireSignedJobs: o.requireSignedJobs ?? true,
    ...(policy ? { authorize: (r: Parameters<AuthorizeFn>[0]) => authorize(policy.policy, { ...r, siteOrg: org }) } : {}),
    components: {
      ...(o.resources?.class_allow_list ? { allowList: o.resources.class_allow_list } : {}),
      mode: o.resources?.class_list_enforcement_mode ?? "enforce",
    },
  };
}

/**
 * `shutdown`/`restart` from an admin: FLARE's files for the supervisor (sub_start.sh stops on
 * shutdown.fl, restarts on restart.fl), then a clean SIGTERM of this process.
 */
function processControl(kitDir: string, log: (line: string) => void): { shutdown(): void; restart(): void } {
  const stop = (flag: string): void => {
    writeFileSync(join(kitDir, flag), `${new Date().toISOString()}\n`);
    log(`${flag === "shutdown.fl" ? "shutdown" : "restart"} requested by an admin`);
    process.kill(process.pid, "SIGTERM");
  };
  return { shutdown: () => stop("shutdown.fl"), restart: () => stop("restart.fl") };
}

/**
 * Folders job children may read besides their own: the site's datasets (`job_data_paths`), else
 * Debian's Fashion-MNIST and the bundled subset. Only folders that exist: Node 20's permission
 * model grants a path missing at start as a single file, so nothing in it becomes readable later.
 * A symlinked folder is granted as given and where it really is, since the model checks the path a
 * job opens without resolving it, and module-relative paths come resolved.
 */
function dataPaths(configured: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const p of configured ?? [DEBIAN_FASHION_MNIST_DIR, BUNDLED_FASHION_MNIST_DIR]) {
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      continue; // missing: nothing to grant; a job that needs it fails its data lookup, which names the folder
    }
    out.push(resolve(p));
    if (real !== resolve(p)) out.push(real);
  }
  return out;
}

/** How this participant confines job code (local/resources.json), said once in its log. */
function confinementOf(kitDir: string, site: z.infer<typeof siteResourcesSchema> | undefined, log: (line: string) => void): JobConfinement {
  const c = jobConfinement(site, localConfigPath(kitDir, "resources") ?? join(kitDir, "local", "resources.json"));
  log(`${c.tools ? "" : "WARNING: "}${describeConfinement(c)}`);
  return c;
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
  // Descriptors inherited from whatever started us would pass on to every job child.
  const closed = closeInheritedDescriptors(process.env["NODE_CHANNEL_FD"] ? [Number(process.env["NODE_CHANNEL_FD"])] : []);
  if (closed.length > 0) o.log(`closed ${closed.length} inherited descriptor(s) (${closed.join(", ")}) so that job processes cannot inherit them`);
  const verified = verifyStartupKit(o.kitDir);
  const kit = loadKitConfig(o.kitDir);
  const startup = join(o.kitDir, "startup");
  const read = (f: string): string => readFileSync(join(startup, f), "utf8");
  // Every problem of local/authorization.json, privacy.json and resources.json at once, before anything runs.
  const files = loadSitePolicyFiles(o.kitDir, kit.type === "server" ? "server" : "client", verified.name);
  const audit = AuditLog.open(join(o.kitDir, "audit.log"), verified.name);
  if (kit.type === "server") {
    const s = kit.config.servers[0];
    if (!s) throw new CohortError(ConfigErrorCode.Invalid, `${startup}/fed_server.json: servers is empty`, {});
    // The server never holds a CKKS secret key: a kit carrying one is refused before anything runs.
    // Cohort's .ckks names and FLARE's .tenseal names alike.
    const clientContext = [CLIENT_CONTEXT_FILE, FLARE_CLIENT_CONTEXT_FILE].map((f) => join(startup, f)).find((f) => existsSync(f));
    if (clientContext) {
      throw new CohortError(
        HeErrorCode.SecretAtServer,
        `${clientContext}: a server kit must not hold a site's CKKS context (it has the secret key); fix: delete it and re-provision with HEBuilder, which gives the server ${SERVER_CONTEXT_FILE} only`,
        { file: clientContext },
      );
    }
    const serverContext = kitContextFile(startup, "server");
    if (serverContext) readCkksContextFile(serverContext, "server");
    const { port } = splitTarget(s.service.target);
    const adminPort = s.admin_port ?? port;
    const settings = readLocalJson(o.kitDir, "resources", serverResourcesSchema)?.value.servers[0] ?? DEFAULT_SERVER_SETTINGS;
    const refusals = new RefusalAuditor(audit, { burst: settings.audit_refusal_burst, perSecond: settings.audit_refusal_per_second });
    const driver = driverFor(s.service.scheme);
    const host = o.host ?? "::";
    const listeners: ServerListenerConfig[] =
      adminPort === port
        ? [{ driver, host, port, security: s.connection_security, accepts: "all" }]
        : [
            { driver, host, port, security: s.connection_security, accepts: "client" },
            { driver, host, port: adminPort, security: s.connection_security, accepts: "admin" },
          ];
    const bans = new BanList(banListFile(join(o.kitDir, "workspace")));
    const site = files.resources;
    const plugins = await loadSitePlugins(site?.plugins, {
      site: verified.name,
      kitDir: o.kitDir,
      file: localConfigPath(o.kitDir, "resources") ?? "local/resources.json",
    });
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
      preLoginBudgetBytes: settings.prelogin_budget_bytes,
      maxClients: settings.max_num_clients,
      isBanned: (identity) => bans.isBanned(identity),
      admit: (identity) => {
        for (const p of plugins) {
          const refusal = p.onClientRegister?.({
            name: identity.name,
            type: identity.type,
            org: identity.org,
            role: identity.role,
            certFingerprint: identity.certFingerprint,
          });
          if (refusal) return `${refusal} (plugin ${p.name})`;
        }
        return undefined;
      },
      log: o.log,
    });
    const security = siteSecurity({
      kitDir: o.kitDir,
      site: verified.name,
      rootPem: read(s.ssl_root_cert),
      requireSignedJobs: kit.config.require_signed_jobs,
      resources: site,
      policy: files.authz,
      log: o.log,
    });
    const sched = schedulerArgs.parse(site?.components.find((c) => c.id === "job_scheduler")?.args ?? {});
    const jobs = new ServerJobManager(server, {
      workspace: join(o.kitDir, "workspace"),
      audit,
      log: o.log,
      settings: { maxJobs: sched.max_jobs, maxScheduleCount: sched.max_schedule_count, scheduleInterval: sched.min_schedule_interval },
      dataPaths: dataPaths(site?.job_data_paths),
      confinement: confinementOf(o.kitDir, site, o.log),
      security,
      plugins,
    });
    new ServerAdmin(server, jobs, {
      server: verified.name,
      nonceFile: join(o.kitDir, "workspace", "admin_command_nonces.jsonl"),
      rootPem: read(s.ssl_root_cert),
      audit,
      ...(security.authorize ? { authorize: security.authorize } : {}),
      skewMs: settings.clock_skew_tolerance * 1000,
      bans,
      log: o.log,
      plugins,
      control: processControl(o.kitDir, o.log),
      kitDir: o.kitDir,
    }).start();
    const checkpoints = new CheckpointExchange({
      audit,
      signer: { certPem: read(s.ssl_cert), keyPem: read(s.ssl_private_key) },
      rootPem: read(s.ssl_root_cert),
      log: o.log,
      accepts: (peer) => server.session(peer)?.identity.type === "client",
      send: async (cp) =>
        acknowledged(
          await Promise.allSettled(
            server
              .sessionNames()
              .filter((n) => server.session(n)?.identity.type === "client")
              .map((n) => server.request(n, TOPIC_CHECKPOINT, cp, { timeoutMs: 5_000 })),
          ),
        ),
    });
    server.handleRequest(TOPIC_CHECKPOINT, (body, meta) => checkpoints.receive(body, meta.sender));
    server.onSession((sess, event) => {
      if (event === "open" && sess.identity.type === "client") void checkpoints.sendIfMoved(true);
    });
    const addresses = await server.start();
    jobs.start();
    checkpoints.start();
    o.log(`server ${verified.name} (${s.service.scheme}, ${s.connection_security}) listening on ${addresses.map((a) => `${a.host}:${a.port}`).join(", ")}`);
    return {
      name: verified.name,
      type: "server",
      addresses,
      server,
      stop: async () => {
        await jobs.stop();
        await checkpoints.stop();
        await server.stop();
        audit.close();
      },
    };
  }
  if (kit.type === "client") {
    const refusals = new RefusalAuditor(audit);
    const c = kit.config;
    const srv = c.servers[0];
    if (!srv) throw new CohortError(ConfigErrorCode.Invalid, `${startup}/fed_client.json: servers is empty`, {});
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
      refusals,
      log: o.log,
    });
    const site = files.resources;
    const security = siteSecurity({
      kitDir: o.kitDir,
      site: verified.name,
      rootPem: read(c.client.ssl_root_cert),
      requireSignedJobs: c.require_signed_jobs,
      resources: site,
      policy: files.authz,
      log: o.log,
    });
    const plugins = await loadSitePlugins(site?.plugins, {
      site: verified.name,
      kitDir: o.kitDir,
      file: localConfigPath(o.kitDir, "resources") ?? "local/resources.json",
    });
    const resources = new SiteResources(files.capacity);
    // local/privacy.json (issue 10): scopes, site filters (built-ins only), budgets and their ledger.
    const confinement = confinementOf(o.kitDir, site, o.log);
    const privacy = new SitePrivacy({
      site: verified.name,
      policy: files.privacy,
      ledgerFile: join(o.kitDir, "workspace", "privacy_budget.json"),
      audit,
      log: o.log,
    });
    privacy.reportUnavailableScopes();
    const heContext = kitContextFile(startup, "client");
    const jobs = new SiteJobManager(client, {
      site: verified.name,
      workspace: join(o.kitDir, "workspace"),
      audit,
      log: o.log,
      resources,
      dataPaths: dataPaths(site?.job_data_paths),
      confinement,
      security,
      plugins,
      privacy,
      keyPem: read(c.client.ssl_private_key),
      ...(site?.job_manifest_max_age_days !== undefined ? { jobManifestMaxAgeDays: site.job_manifest_max_age_days } : {}),
      // The CKKS client context, when the kit has one (HEBuilder writes and signs it).
      ...(heContext ? { he: readCkksContextFile(heContext, "client") } : {}),
    });
    jobs.start();
    const siteAdmin = new SiteAdmin({
      site: verified.name,
      kitDir: o.kitDir,
      rootPem: read(c.client.ssl_root_cert),
      audit,
      ...(security.authorize ? { authorize: security.authorize } : {}),
      skewMs: 60_000,
      plugins,
      control: processControl(o.kitDir, o.log),
      serverUrl: `${srv.service.scheme}://${host}:${port}`,
      status: () => ({
        connected: client.connected,
        running_jobs: jobs.runningJobs(),
        job_confinement: describeConfinement(confinement),
        ...(files.privacy && files.privacy.unavailable.size > 0 ? { privacy_scopes_refusing_jobs: Object.fromEntries(files.privacy.unavailable) } : {}),
      }),
      resources: () => {
        const d = resources.describe();
        return { num_of_gpus: d.gpus.length, ...d, running_jobs: jobs.runningJobs() };
      },
      privacy: { scopes: () => privacy.showScopes(), budget: () => privacy.showBudget() },
    });
    client.handleRequest(TOPIC_SITE_COMMAND, async (body) => encode(await siteAdmin.handle(decode(body))));
    const checkpoints = new CheckpointExchange({
      audit,
      signer: { certPem: read(c.client.ssl_cert), keyPem: read(c.client.ssl_private_key) },
      rootPem: read(c.client.ssl_root_cert),
      log: o.log,
      accepts: (peer) => peer === srv.identity,
      send: async (cp) => acknowledged(await Promise.allSettled([client.request(TOPIC_CHECKPOINT, cp, { timeoutMs: 5_000 })])),
    });
    client.handleRequest(TOPIC_CHECKPOINT, (body) => checkpoints.receive(body, srv.identity));
    checkpoints.start();
    client.onState((state, detail) => {
      if (state === "connected") void checkpoints.sendIfMoved(true);
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
        await checkpoints.stop();
        await client.stop();
        audit.close();
      },
    };
  }
  throw new CohortError(ConfigErrorCode.Invalid, `${o.kitDir} is an admin kit: open it with 'cohort admin ${o.kitDir}' (or startup/fl_admin.sh)`, {
    file: o.kitDir,
  });
}
