import { existsSync, readFileSync, statSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { configInvalid, formatPath, type ConfigIssue } from "./errors.js";
import { checkName, type NameKind } from "./names.js";
import { OTHER_PARTICIPANT_TYPES, PARTICIPANT_KEYS, PROJECT_KEYS } from "./project-keys.js";
import { loadYamlWithIncludes, parseYamlFile } from "./yaml-file.js";
import { normalizeBuilders, type BuilderSpec } from "./builders.js";

export const CONNECTION_SECURITY = ["clear", "tls", "mtls"] as const;
export type ConnectionSecurity = (typeof CONNECTION_SECURITY)[number];
export const ADMIN_ROLES = ["project_admin", "org_admin", "lead", "member"] as const;

export const DEFAULT_FED_LEARN_PORT = 8002;
export const DEFAULT_CONNECTION_SECURITY: ConnectionSecurity = "mtls";
/** FLARE truncates the server name (the certificate CN) to 64 characters. */
export const SERVER_CN_MAX = 64;
export const PROJECT_NAME_MAX = 63;

export interface ConnectTo {
  readonly host: string;
  readonly port: number;
  readonly connectionSecurity: ConnectionSecurity;
}

interface ParticipantBase {
  readonly name: string;
  readonly org: string;
  /** Position in `participants` (after includes), for messages. */
  readonly index: number;
}

export interface ServerSpec extends ParticipantBase {
  readonly type: "server";
  readonly connectionSecurity: ConnectionSecurity;
  readonly fedLearnPort: number;
  readonly adminPort: number;
  readonly hostNames: readonly string[];
  readonly defaultHost: string;
  readonly ccConfig?: string;
}

export interface ClientSpec extends ParticipantBase {
  readonly type: "client";
  readonly connectTo: ConnectTo;
  readonly customCaCert?: string;
  readonly capacity: { readonly numOfGpus: number; readonly memPerGpuInGiB: number };
  readonly allowLogStreaming: boolean;
  readonly ccConfig?: string;
}

export interface AdminSpec extends ParticipantBase {
  readonly type: "admin";
  readonly role: string;
  readonly connectTo: ConnectTo;
  readonly customCaCert?: string;
}

export type ParticipantSpec = ServerSpec | ClientSpec | AdminSpec;

export interface ProjectSpec {
  readonly file: string;
  readonly name: string;
  readonly description: string;
  readonly server: ServerSpec;
  readonly clients: readonly ClientSpec[];
  readonly admins: readonly AdminSpec[];
  readonly builders: readonly BuilderSpec[];
}

export interface LoadedProject {
  readonly project: ProjectSpec;
  readonly warnings: readonly string[];
}

export interface LoadProjectOptions {
  /** Extra client definitions (FLARE's `--add-client site.yml`). */
  readonly addClients?: readonly string[];
  /** Extra admin definitions (FLARE's `--add-user user.yml`). */
  readonly addUsers?: readonly string[];
}

type Raw = Record<string, unknown>;
const isRecord = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

const portSchema = z
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be between 1 and 65535")
  .max(65535, "must be between 1 and 65535");
const connectionSecuritySchema = z
  .string({ error: "must be a string" })
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(CONNECTION_SECURITY, { error: `must be one of ${CONNECTION_SECURITY.join(", ")}` }));
const capacitySchema = z.strictObject({
  num_of_gpus: z.number().int().min(0).default(0),
  mem_per_gpu_in_GiB: z.number().min(0).default(0),
});

/** Collects issues and warnings while validating one project. */
class Checker {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[] = [],
    readonly warnings: string[] = [],
  ) {}

  /** A checker that reports into the same lists but against another file (--add-client files). */
  forFile(file: string): Checker {
    return new Checker(file, this.issues, this.warnings);
  }

  fail(path: readonly PropertyKey[], message: string, value?: unknown, fix?: string, file = this.file): void {
    const issue: ConfigIssue = { file, field: formatPath(path), message, ...(fix ? { fix } : {}) };
    this.issues.push(value !== undefined ? { ...issue, value } : issue);
  }

  warn(path: readonly PropertyKey[], message: string): void {
    this.warnings.push(`${this.file}: ${formatPath(path)}: ${message}`);
  }

  parse<T>(schema: z.ZodType<T>, value: unknown, path: readonly PropertyKey[], fix?: string): T | undefined {
    const r = schema.safeParse(value, { reportInput: true });
    if (r.success) return r.data;
    for (const issue of r.error.issues) {
      if (issue.code === "unrecognized_keys") {
        const allowed = schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : [];
        for (const key of issue.keys) {
          this.fail(
            [...path, ...issue.path, key],
            `unknown key${suggest(key, allowed)}`,
            undefined,
            allowed.length > 0 ? `allowed here: ${allowed.join(", ")}` : fix,
          );
        }
        continue;
      }
      this.fail([...path, ...issue.path], issue.message, "input" in issue ? issue.input : value, fix);
    }
    return undefined;
  }

  name(kind: NameKind, value: unknown, path: readonly PropertyKey[]): string | undefined {
    if (typeof value !== "string" || value === "") {
      this.fail(path, "is required and must be a non-empty string", value);
      return undefined;
    }
    const broken = checkName(kind, value);
    if (broken) {
      this.fail(path, broken, value);
      return undefined;
    }
    return value;
  }

  existingFile(value: unknown, path: readonly PropertyKey[], baseDir: string, what: string): string | undefined {
    if (typeof value !== "string" || value === "") {
      this.fail(path, `must be the path of ${what}`, value);
      return undefined;
    }
    const full = resolve(baseDir, value);
    if (!existsSync(full) || !statSync(full).isFile()) {
      this.fail(path, `file not found: ${full}`, value, `give the path of ${what}, relative to the project file or absolute`);
      return undefined;
    }
    return full;
  }
}

/** Loads, validates and normalises a FLARE-format project.yml (api_version 3). */
export function loadProjectFile(file: string, options: LoadProjectOptions = {}): LoadedProject {
  const path = resolve(file);
  const data = loadYamlWithIncludes(path);
  const extra: Raw[] = [];
  for (const [list, type] of [
    [options.addClients ?? [], "client"],
    [options.addUsers ?? [], "admin"],
  ] as const) {
    for (const f of list) {
      const entry = parseYamlFile(resolve(f));
      if (!isRecord(entry))
        throw configInvalid([
          {
            file: resolve(f),
            field: "(top level)",
            message: `must be a mapping describing one ${type} (name, org${type === "admin" ? ", role" : ""})`,
            value: entry,
          },
        ]);
      extra.push({ ...entry, type, __source: resolve(f) });
    }
  }
  return validateProject(data, path, extra);
}

/** Validates already-parsed project data (exposed for tests and the dashboard later). */
export function validateProject(data: unknown, file: string, extraParticipants: readonly Raw[] = []): LoadedProject {
  const c = new Checker(file);
  const baseDir = dirname(file);
  if (!isRecord(data)) {
    throw configInvalid([{ file, field: "(top level)", message: "must be a mapping with api_version, name, participants and builders", value: data }]);
  }
  for (const key of Object.keys(data)) {
    const answer = PROJECT_KEYS[key];
    if (!answer) c.warn([key], `unknown key ignored${suggest(key, Object.keys(PROJECT_KEYS))}`);
    else if (answer.kind === "refused") c.fail([key], `not supported yet: ${answer.note}`, data[key], `remove '${key}'`);
    else if (answer.kind === "ignored") c.warn([key], `ignored: ${answer.note}`);
  }
  if (data["api_version"] !== 3) {
    c.fail(
      ["api_version"],
      data["api_version"] === 4 ? "api_version 4 (studies) is not supported yet" : "must be 3",
      data["api_version"],
      "set api_version: 3",
    );
  }
  let name = typeof data["name"] === "string" ? data["name"].trim() : "";
  if (name === "") c.fail(["name"], "is required: the project name", data["name"]);
  else if (/[/\\\0]/.test(name) || name === "." || name === ".." || /[\x00-\x1f]/.test(name)) {
    c.fail(["name"], "must not contain '/', '\\' or control characters, nor be '.' or '..' (it names the workspace folder)", name);
  } else if (name.length > PROJECT_NAME_MAX) {
    c.warn(["name"], `longer than ${PROJECT_NAME_MAX} characters; truncated to ${JSON.stringify(name.slice(0, PROJECT_NAME_MAX))}`);
    name = name.slice(0, PROJECT_NAME_MAX);
  }
  const description = typeof data["description"] === "string" ? data["description"] : "";
  const projectSecurity =
    data["connection_security"] === undefined ? undefined : c.parse(connectionSecuritySchema, data["connection_security"], ["connection_security"]);
  const projectCustomCa = data["custom_ca_cert"];
  const projectLogStreaming =
    data["allow_log_streaming"] === undefined
      ? undefined
      : c.parse(z.boolean({ error: "must be true or false" }), data["allow_log_streaming"], ["allow_log_streaming"]);

  const rawParticipants = data["participants"];
  const participants: Raw[] = [];
  if (!Array.isArray(rawParticipants) || rawParticipants.length === 0) {
    c.fail(["participants"], "must be a non-empty list of participants (one server, clients, admins)", rawParticipants);
  } else {
    rawParticipants.forEach((p, i) => {
      if (!isRecord(p)) c.fail(["participants", i], "must be a mapping with name, type and org", p);
      else participants.push({ ...p, __index: i });
    });
  }
  extraParticipants.forEach((p, i) => participants.push({ ...p, __index: (Array.isArray(rawParticipants) ? rawParticipants.length : 0) + i }));

  // First pass: the server (clients' defaults depend on it).
  const servers = participants.filter((p) => p["type"] === "server");
  if (Array.isArray(rawParticipants) && servers.length !== 1) {
    c.fail(
      ["participants"],
      servers.length === 0
        ? "needs exactly one participant of type server, found none"
        : `needs exactly one participant of type server, found ${servers.length} (${servers.map((s) => String(s["name"])).join(", ")})`,
      undefined,
      "keep one server entry",
    );
  }
  const seen = new Map<string, number>();
  const server = servers[0] ? checkServer(c, servers[0], projectSecurity, baseDir) : undefined;
  const clients: ClientSpec[] = [];
  const admins: AdminSpec[] = [];
  for (const p of participants) {
    const index = p["__index"] as number;
    // Entries from --add-client/--add-user files are reported against their own file, at its top level.
    const source = typeof p["__source"] === "string" ? p["__source"] : undefined;
    const pc = source ? c.forFile(source) : c;
    const path: PropertyKey[] = source ? [] : ["participants", index];
    const type = p["type"];
    checkParticipantKeys(pc, p, path);
    if (typeof p["name"] === "string") {
      const prev = seen.get(p["name"]);
      if (prev !== undefined)
        pc.fail([...path, "name"], `duplicate name: participants[${prev}] has the same name`, p["name"], "names must be unique across the project");
      else seen.set(p["name"], index);
    }
    if (type === "server") continue;
    if (type === "client" || type === "admin") {
      const common = { projectSecurity, projectCustomCa, baseDir, server };
      if (type === "client") {
        const spec = checkClient(pc, p, path, common, projectLogStreaming);
        if (spec) clients.push(spec);
      } else {
        const spec = checkAdmin(pc, p, path, common);
        if (spec) admins.push(spec);
      }
      continue;
    }
    const other = typeof type === "string" ? OTHER_PARTICIPANT_TYPES[type] : undefined;
    if (other?.kind === "ignored") c.warn([...path, "type"], `type ${type} ignored: ${other.note}`);
    else if (other?.kind === "refused") c.fail([...path, "type"], `not supported yet: ${other.note}`, type, "remove this participant");
    else c.fail([...path, "type"], "must be one of server, client, admin", type);
  }
  const builders = normalizeBuilders(c, data["builders"], data["packager"]);
  if (server) warnUnreachable(c, server, [...clients, ...admins]);

  if (c.issues.length > 0 || !server) throw configInvalid(c.issues);
  return { project: { file, name, description, server, clients, admins, builders }, warnings: c.warnings };
}

function checkParticipantKeys(c: Checker, p: Raw, path: readonly PropertyKey[]): void {
  const type = p["type"];
  for (const key of Object.keys(p)) {
    if (key === "__index" || key === "__source") continue;
    const known = PARTICIPANT_KEYS[key];
    if (!known) {
      c.warn([...path, key], `unknown key ignored${suggest(key, Object.keys(PARTICIPANT_KEYS))}`);
    } else if (known.answer.kind === "refused") {
      c.fail([...path, key], `not supported yet: ${known.answer.note}`, p[key], `remove '${key}'`);
    } else if (known.answer.kind === "ignored") {
      c.warn([...path, key], `ignored: ${known.answer.note}`);
    } else if (typeof type === "string" && (type === "server" || type === "client" || type === "admin") && !known.types.includes(type)) {
      c.warn([...path, key], `ignored: applies to ${known.types.join("/")} participants only`);
    }
  }
}

function checkServer(c: Checker, p: Raw, projectSecurity: ConnectionSecurity | undefined, baseDir: string): ServerSpec | undefined {
  const index = p["__index"] as number;
  const path = ["participants", index];
  let name = c.name("host", p["name"], [...path, "name"]);
  const org = c.name("org", p["org"], [...path, "org"]);
  const fedLearnPort = p["fed_learn_port"] === undefined ? DEFAULT_FED_LEARN_PORT : c.parse(portSchema, p["fed_learn_port"], [...path, "fed_learn_port"]);
  const adminPort = p["admin_port"] === undefined ? fedLearnPort : c.parse(portSchema, p["admin_port"], [...path, "admin_port"]);
  const cs =
    p["connection_security"] === undefined
      ? (projectSecurity ?? DEFAULT_CONNECTION_SECURITY)
      : c.parse(connectionSecuritySchema, p["connection_security"], [...path, "connection_security"]);
  const hostNames: string[] = [];
  if (p["host_names"] !== undefined) {
    const list = Array.isArray(p["host_names"]) ? p["host_names"] : typeof p["host_names"] === "string" ? [p["host_names"]] : undefined;
    if (!list) c.fail([...path, "host_names"], "must be a list of host names or IP addresses", p["host_names"]);
    else
      list.forEach((h, i) => {
        const v = c.name("host", h, [...path, "host_names", i]);
        if (v && !hostNames.includes(v)) hostNames.push(v);
      });
  }
  let defaultHost = p["default_host"] === undefined ? undefined : c.name("host", p["default_host"], [...path, "default_host"]);
  if (name && name.length > SERVER_CN_MAX) {
    c.warn(
      [...path, "name"],
      `longer than ${SERVER_CN_MAX} characters: truncated to ${JSON.stringify(name.slice(0, SERVER_CN_MAX))} for the certificate CN${defaultHost ? "" : "; the full name becomes default_host"}`,
    );
    defaultHost ??= name;
    name = name.slice(0, SERVER_CN_MAX);
  }
  const ccConfig =
    p["cc_config"] === undefined ? undefined : c.existingFile(p["cc_config"], [...path, "cc_config"], baseDir, "a confidential-computing config YAML");
  if (!name || !org || fedLearnPort === undefined || adminPort === undefined || !cs) return undefined;
  return {
    type: "server",
    index,
    name,
    org,
    connectionSecurity: cs,
    fedLearnPort,
    adminPort,
    hostNames,
    defaultHost: defaultHost ?? name,
    ...(ccConfig ? { ccConfig } : {}),
  };
}

interface Common {
  readonly projectSecurity: ConnectionSecurity | undefined;
  readonly projectCustomCa: unknown;
  readonly baseDir: string;
  readonly server: ServerSpec | undefined;
}

function checkConnectTo(c: Checker, p: Raw, path: readonly PropertyKey[], common: Common, isAdmin: boolean): ConnectTo | undefined {
  const own =
    p["connection_security"] === undefined ? undefined : c.parse(connectionSecuritySchema, p["connection_security"], [...path, "connection_security"]);
  const server = common.server;
  const defaultPort = server ? (isAdmin ? server.adminPort : server.fedLearnPort) : DEFAULT_FED_LEARN_PORT;
  let host = server?.defaultHost ?? "";
  let port = defaultPort;
  let cs = own ?? common.projectSecurity ?? DEFAULT_CONNECTION_SECURITY;
  const ct = p["connect_to"];
  if (typeof ct === "string") {
    host = c.name("host", ct, [...path, "connect_to"]) ?? host;
  } else if (isRecord(ct)) {
    for (const key of Object.keys(ct)) {
      if (!["name", "host", "port", "connection_security", "auth_identity"].includes(key)) c.warn([...path, "connect_to", key], "unknown key ignored");
    }
    if (ct["auth_identity"] !== undefined)
      c.fail([...path, "connect_to", "auth_identity"], "not supported yet: identity overrides", ct["auth_identity"], "remove it");
    if (ct["name"] !== undefined && server && ct["name"] !== server.name) {
      c.fail(
        [...path, "connect_to", "name"],
        "not supported yet: connecting through a relay; only the server's name may be given",
        ct["name"],
        `use ${JSON.stringify(server.name)} or remove connect_to.name`,
      );
    }
    if (ct["host"] !== undefined) host = c.name("host", ct["host"], [...path, "connect_to", "host"]) ?? host;
    if (ct["port"] !== undefined) port = c.parse(portSchema, ct["port"], [...path, "connect_to", "port"]) ?? port;
    if (ct["connection_security"] !== undefined)
      cs = c.parse(connectionSecuritySchema, ct["connection_security"], [...path, "connect_to", "connection_security"]) ?? cs;
  } else if (ct !== undefined) {
    c.fail([...path, "connect_to"], "must be a host name, or a mapping {host, port, connection_security}", ct);
  }
  if (server && host !== "" && host !== server.defaultHost && !server.hostNames.includes(host) && host !== server.name) {
    c.warn(
      [...path, "connect_to"],
      `${host} is not one of the server's names (${[server.defaultHost, ...server.hostNames].join(", ")}): the server certificate will not carry it (fine behind a proxy)`,
    );
  }
  return { host, port, connectionSecurity: cs };
}

function customCa(c: Checker, p: Raw, path: readonly PropertyKey[], common: Common): string | undefined {
  const fromSelf = p["custom_ca_cert"] !== undefined;
  const value = fromSelf ? p["custom_ca_cert"] : common.projectCustomCa;
  if (value === undefined) return undefined;
  const where = fromSelf ? [...path, "custom_ca_cert"] : ["custom_ca_cert"];
  const full = c.existingFile(value, where, common.baseDir, "a PEM CA certificate");
  if (!full) return undefined;
  try {
    new X509Certificate(readFileSync(full));
  } catch {
    c.fail(where, `${full} is not a PEM X.509 certificate`, value, "give the CA certificate your proxy's certificate chains to");
    return undefined;
  }
  return full;
}

function checkClient(c: Checker, p: Raw, path: readonly PropertyKey[], common: Common, projectLogStreaming: boolean | undefined): ClientSpec | undefined {
  const index = p["__index"] as number;
  const name = c.name("site", p["name"], [...path, "name"]);
  const org = c.name("org", p["org"], [...path, "org"]);
  const connectTo = checkConnectTo(c, p, path, common, false);
  const caFile = customCa(c, p, path, common);
  const capacity = c.parse(capacitySchema, p["capacity"] ?? {}, [...path, "capacity"], "capacity takes num_of_gpus and mem_per_gpu_in_GiB");
  const allowLogStreaming =
    p["allow_log_streaming"] === undefined
      ? (projectLogStreaming ?? true)
      : c.parse(z.boolean({ error: "must be true or false" }), p["allow_log_streaming"], [...path, "allow_log_streaming"]);
  const ccConfig =
    p["cc_config"] === undefined ? undefined : c.existingFile(p["cc_config"], [...path, "cc_config"], common.baseDir, "a confidential-computing config YAML");
  if (!name || !org || !connectTo || !capacity || allowLogStreaming === undefined) return undefined;
  return {
    type: "client",
    index,
    name,
    org,
    connectTo,
    capacity: { numOfGpus: capacity.num_of_gpus, memPerGpuInGiB: capacity.mem_per_gpu_in_GiB },
    allowLogStreaming,
    ...(caFile ? { customCaCert: caFile } : {}),
    ...(ccConfig ? { ccConfig } : {}),
  };
}

function checkAdmin(c: Checker, p: Raw, path: readonly PropertyKey[], common: Common): AdminSpec | undefined {
  const index = p["__index"] as number;
  const name = c.name("email", p["name"], [...path, "name"]);
  const org = c.name("org", p["org"], [...path, "org"]);
  let role: string | undefined;
  if (p["role"] === undefined || p["role"] === "") {
    c.fail([...path, "role"], "an admin needs a role", p["role"], `set role to one of ${ADMIN_ROLES.join(", ")}`);
  } else {
    role = c.name("simple", p["role"], [...path, "role"]);
    if (role && !(ADMIN_ROLES as readonly string[]).includes(role)) {
      c.warn(
        [...path, "role"],
        `custom role ${JSON.stringify(role)}: not one of ${ADMIN_ROLES.join(", ")}; sites' authorization.json must name it to grant it anything`,
      );
    }
  }
  const connectTo = checkConnectTo(c, p, path, common, true);
  const caFile = customCa(c, p, path, common);
  if (!name || !org || !role || !connectTo) return undefined;
  return { type: "admin", index, name, org, role, connectTo, ...(caFile ? { customCaCert: caFile } : {}) };
}

function warnUnreachable(c: Checker, server: ServerSpec, others: readonly (ClientSpec | AdminSpec)[]): void {
  for (const o of others) {
    const mine = o.connectTo.connectionSecurity;
    if (mine === server.connectionSecurity) continue;
    c.warn(
      ["participants", o.index, "connection_security"],
      `${o.name} connects with ${mine} but the server listens with ${server.connectionSecurity}: this link works only through a proxy (${server.connectionSecurity === "clear" ? "a TLS-terminating proxy in front of the server" : server.connectionSecurity === "mtls" && mine !== "mtls" ? "mtls needs TCP pass-through to the server" : "a proxy that bridges the two modes"})`,
    );
  }
}

/** ` (did you mean "x"?)` when a known key is one edit or a transposition away. */
export function suggest(key: string, known: readonly string[]): string {
  const best = closest(key.toLowerCase(), known, 2);
  return best ? ` (did you mean ${JSON.stringify(best)}?)` : "";
}

/** The known name nearest to `input` (Levenshtein), when it is at most `maxDistance` edits away. */
export function closest(input: string, known: readonly string[], maxDistance: number): string | undefined {
  const best = known.map((k) => [k, editDistance(input, k)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= maxDistance ? best[0] : undefined;
}

function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      const prev = d[i - 1]!;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

export type { Checker };
