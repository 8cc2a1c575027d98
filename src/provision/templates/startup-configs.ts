import type { AdminSpec, ClientSpec, ProjectSpec, Scheme } from "../../config/index.js";

export interface StaticFileOptions {
  readonly scheme: Scheme;
  readonly configFolder: string;
  readonly requireSignedJobs?: boolean;
  readonly downloadJobUrl?: string;
}

/** fed_server.json: FLARE's format_version 2 layout, plus the server's listen addresses. */
export function fedServerJson(project: ProjectSpec, opts: StaticFileOptions): object {
  const s = project.server;
  return {
    format_version: 2,
    ...(opts.requireSignedJobs !== undefined ? { require_signed_jobs: opts.requireSignedJobs } : {}),
    servers: [
      {
        name: project.name,
        identity: s.name,
        service: { target: `${s.defaultHost}:${s.fedLearnPort}`, scheme: opts.scheme },
        admin_server: s.defaultHost,
        admin_port: s.adminPort,
        ssl_private_key: "server.key",
        ssl_cert: "server.crt",
        ssl_root_cert: "rootCA.pem",
        connection_security: s.connectionSecurity,
        host_names: [s.defaultHost, ...s.hostNames.filter((h) => h !== s.defaultHost)],
        default_host: s.defaultHost,
        org: s.org,
        ...(opts.downloadJobUrl ? { download_job_url: opts.downloadJobUrl } : {}),
      },
    ],
    config_folder: opts.configFolder,
  };
}

/** fed_client.json: where and how this site connects (connection_security per link, as FLARE 2.5+). */
export function fedClientJson(project: ProjectSpec, client: ClientSpec, opts: StaticFileOptions): object {
  return {
    format_version: 2,
    servers: [
      {
        name: project.name,
        service: { target: `${client.connectTo.host}:${client.connectTo.port}`, scheme: opts.scheme },
        identity: project.server.name,
      },
    ],
    client: {
      name: client.name,
      org: client.org,
      ssl_private_key: "client.key",
      ssl_cert: "client.crt",
      ssl_root_cert: "rootCA.pem",
      ...(client.customCaCert ? { custom_ca_cert: "customRootCA.pem" } : {}),
      fqsn: client.name,
      is_leaf: true,
      connection_security: client.connectTo.connectionSecurity,
    },
    ...(opts.requireSignedJobs !== undefined ? { require_signed_jobs: opts.requireSignedJobs } : {}),
    config_folder: opts.configFolder,
  };
}

/** fed_admin.json: FLARE's format_version 1 admin block; identity comes from the kit certificate. */
export function fedAdminJson(project: ProjectSpec, admin: AdminSpec, opts: StaticFileOptions): object {
  return {
    format_version: 1,
    admin: {
      project_name: project.name,
      username: admin.name,
      server_identity: project.server.name,
      scheme: opts.scheme,
      host: admin.connectTo.host,
      port: admin.connectTo.port,
      connection_security: admin.connectTo.connectionSecurity,
      uid_source: "cert",
      with_file_transfer: true,
      upload_dir: "transfer",
      download_dir: "transfer",
      client_key: "client.key",
      client_cert: "client.crt",
      ca_cert: "rootCA.pem",
      ...(admin.customCaCert ? { custom_ca_cert: "customRootCA.pem" } : {}),
    },
  };
}
