import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { ConfigErrorCode } from "./errors.js";
import { readJsonFile } from "./json-file.js";

/**
 * Reading a participant's startup kit configuration (fed_server.json, fed_client.json,
 * fed_admin.json, FLARE's layout) and its local/ policy files (`X.json` wins over `X.json.default`).
 * Unknown keys are ignored, so kits made by FLARE's provisioner load too.
 */
const scheme = z.enum(["http", "grpc", "tcp"]);
const security = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(["clear", "tls", "mtls"]));
const target = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+|[0-9a-fA-F:]+):\d{1,5}$/, "must be host:port");

export const fedServerSchema = z.object({
  format_version: z.number().optional(),
  require_signed_jobs: z.boolean().optional(),
  servers: z
    .array(
      z.object({
        name: z.string().min(1),
        identity: z.string().min(1).optional(),
        service: z.object({ target, scheme: scheme.default("http") }),
        admin_server: z.string().optional(),
        admin_port: z.number().int().min(1).max(65535).optional(),
        ssl_private_key: z.string().default("server.key"),
        ssl_cert: z.string().default("server.crt"),
        ssl_root_cert: z.string().default("rootCA.pem"),
        connection_security: security.default("mtls"),
        host_names: z.array(z.string()).optional(),
        default_host: z.string().optional(),
      }),
    )
    .min(1),
});

export const fedClientSchema = z.object({
  format_version: z.number().optional(),
  require_signed_jobs: z.boolean().optional(),
  servers: z.array(z.object({ name: z.string().min(1), service: z.object({ target, scheme: scheme.default("http") }), identity: z.string().min(1) })).min(1),
  client: z.object({
    name: z.string().optional(),
    ssl_private_key: z.string().default("client.key"),
    ssl_cert: z.string().default("client.crt"),
    ssl_root_cert: z.string().default("rootCA.pem"),
    custom_ca_cert: z.string().optional(),
    connection_security: security.default("mtls"),
  }),
});

export const fedAdminSchema = z.object({
  format_version: z.number().optional(),
  admin: z.object({
    project_name: z.string(),
    username: z.string().optional(),
    server_identity: z.string().min(1),
    scheme: scheme.default("http"),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    connection_security: security.default("mtls"),
    client_key: z.string().default("client.key"),
    client_cert: z.string().default("client.crt"),
    ca_cert: z.string().default("rootCA.pem"),
    custom_ca_cert: z.string().optional(),
  }),
});

export type FedServerConfig = z.infer<typeof fedServerSchema>;
export type FedClientConfig = z.infer<typeof fedClientSchema>;
export type FedAdminConfig = z.infer<typeof fedAdminSchema>;

export type KitConfig =
  | { readonly type: "server"; readonly dir: string; readonly config: FedServerConfig }
  | { readonly type: "client"; readonly dir: string; readonly config: FedClientConfig }
  | { readonly type: "admin"; readonly dir: string; readonly config: FedAdminConfig };

/** Loads the kit's fed_*.json (whichever is present) from `<dir>/startup/`. */
export function loadKitConfig(dir: string): KitConfig {
  const startup = join(dir, "startup");
  if (existsSync(join(startup, "fed_server.json"))) return { type: "server", dir, config: readJsonFile(join(startup, "fed_server.json"), fedServerSchema) };
  if (existsSync(join(startup, "fed_client.json"))) return { type: "client", dir, config: readJsonFile(join(startup, "fed_client.json"), fedClientSchema) };
  if (existsSync(join(startup, "fed_admin.json"))) return { type: "admin", dir, config: readJsonFile(join(startup, "fed_admin.json"), fedAdminSchema) };
  throw new CohortError(
    ConfigErrorCode.FileNotFound,
    `${startup}: no fed_server.json, fed_client.json or fed_admin.json; give a participant folder from provisioning`,
    { file: startup },
  );
}

/** Splits `host:port` (IPv6 in brackets). */
export function splitTarget(t: string): { host: string; port: number } {
  const i = t.lastIndexOf(":");
  return { host: t.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(t.slice(i + 1)) };
}

/** `local/<name>.json` if present, else `local/<name>.json.default`, else undefined (FLARE's rule). */
export function localConfigPath(dir: string, name: string): string | undefined {
  for (const f of [`${name}.json`, `${name}.json.default`]) {
    const p = join(dir, "local", f);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function readLocalJson<T>(dir: string, name: string, schema: z.ZodType<T>): { file: string; value: T } | undefined {
  const file = localConfigPath(dir, name);
  return file ? { file, value: readJsonFile(file, schema) } : undefined;
}

/**
 * The keys of the server's local/resources.json Cohort uses today (others are kept for later
 * releases): FLARE's heart_beat_timeout and max_num_clients, and Cohort's session settings.
 */
const BURST_FIX = "fix: a whole number ≥ 1 (default 20)";
const RATE_FIX = "fix: a number > 0 (default 5; 0.1 is one line every 10 s)";
const BUDGET_FIX = "fix: a whole number ≥ 65536 (default 16777216, 16 MiB)";
const serverSettingsSchema = z.object({
  heart_beat_timeout: z.number().positive().default(600),
  max_num_clients: z.number().int().positive().default(100),
  /** Seconds a session token lives before the site must renew it. */
  session_token_lifetime: z.number().int().positive().default(3600),
  /** Seconds of clock difference tolerated on message timestamps and token expiry. */
  clock_skew_tolerance: z.number().nonnegative().default(60),
  login_attempts_per_minute: z.number().int().positive().default(30),
  max_pending_logins: z.number().int().positive().default(64),
  /** The refusal writer (audit.log): lines per (address, code) at once, then this many per second. */
  audit_refusal_burst: z
    .number({ error: `must be a number of audit lines; ${BURST_FIX}` })
    .int({ error: `must be a whole number of audit lines; ${BURST_FIX}` })
    .min(1, { error: `must be at least 1 (0 would drop every refusal line); ${BURST_FIX}` })
    .default(20),
  audit_refusal_per_second: z
    .number({ error: `must be a number of audit lines per second; ${RATE_FIX}` })
    .positive({ error: `must be above 0 (0 would write no refusal line after the burst, ever again); ${RATE_FIX}` })
    .default(5),
  /** Bytes buffered for all connections that have not logged in, every listener together. */
  prelogin_budget_bytes: z
    .number({ error: `must be a number of bytes; ${BUDGET_FIX}` })
    .int({ error: `must be a whole number of bytes; ${BUDGET_FIX}` })
    .min(65_536, { error: `must hold at least one pre-login frame (65536 bytes); ${BUDGET_FIX}` })
    .default(16 * 1024 * 1024),
});
export const serverResourcesSchema = z.object({
  servers: z
    .array(serverSettingsSchema)
    .min(1)
    .default([serverSettingsSchema.parse({})]),
});
export type ServerSettings = z.infer<typeof serverSettingsSchema>;
export const DEFAULT_SERVER_SETTINGS: ServerSettings = serverSettingsSchema.parse({});
