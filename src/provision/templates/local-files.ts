import type { ClientSpec, ProjectSpec, ServerSpec } from "../../config/index.js";

/** FLARE's provisioned default policy (master_template.yml `default_authz`), so sites start from it. */
export const DEFAULT_AUTHORIZATION = {
  format_version: "1.0",
  permissions: {
    project_admin: "any",
    org_admin: {
      submit_job: "none",
      clone_job: "none",
      manage_job: "o:submitter",
      download_job: "o:submitter",
      view: "any",
      operate: "o:site",
      shell_commands: "o:site",
      byoc: "none",
      "server-predeployed-flwr": "none",
    },
    lead: {
      submit_job: "any",
      clone_job: "n:submitter",
      manage_job: "n:submitter",
      download_job: "n:submitter",
      view: "any",
      operate: "o:site",
      shell_commands: "o:site",
      byoc: "any",
      "server-predeployed-flwr": "none",
    },
    member: { view: "any" },
  },
} as const;

/** Server resources: FLARE's keys and defaults; storage stays inside the site's workspace, never /tmp. */
export function serverResources(server: ServerSpec): object {
  return {
    format_version: 2,
    class_list_enforcement_mode: "enforce",
    servers: [
      {
        admin_storage: "transfer",
        max_num_clients: 100,
        heart_beat_timeout: 600,
        admin_timeout: 10.0,
        // Cohort's session settings (seconds): token lifetime, tolerated clock skew, login limits.
        session_token_lifetime: 3600,
        clock_skew_tolerance: 60,
        login_attempts_per_minute: 30,
        max_pending_logins: 64,
        // The refusal writer: audit lines per (address, code) at once, then per second.
        audit_refusal_burst: 20,
        audit_refusal_per_second: 5,
        // Bytes buffered for all connections that have not logged in yet (16 MiB).
        prelogin_budget_bytes: 16777216,
      },
    ],
    snapshot_persistor: {
      path: "nvflare.app_common.state_persistors.storage_state_persistor.StorageStatePersistor",
      args: {
        uri_root: "/",
        storage: { path: "nvflare.app_common.storages.filesystem_storage.FilesystemStorage", args: { root_dir: "snapshot-storage", uri_root: "/" } },
      },
    },
    components: [
      { id: "job_scheduler", path: "nvflare.app_common.job_schedulers.job_scheduler.DefaultJobScheduler", args: { max_jobs: 4 } },
      { id: "job_manager", path: "nvflare.apis.impl.job_def_manager.SimpleJobDefManager", args: { uri_root: "jobs-storage", job_store_id: "job_store" } },
      { id: "job_store", path: "nvflare.app_common.storages.filesystem_storage.FilesystemStorage" },
      { id: "process_launcher", path: "nvflare.app_common.job_launcher.server_process_launcher.ServerProcessJobLauncher", args: {} },
    ],
    // Cohort: which server this resource file was made for (informational).
    server_name: server.name,
  };
}

export function clientResources(client: ClientSpec): object {
  return {
    format_version: 2,
    class_list_enforcement_mode: "enforce",
    allow_log_streaming: client.allowLogStreaming,
    client: { retry_timeout: 30, compression: "Gzip" },
    components: [
      {
        id: "resource_manager",
        path: "nvflare.app_common.resource_managers.gpu_resource_manager.GPUResourceManager",
        args: { num_of_gpus: client.capacity.numOfGpus, mem_per_gpu_in_GiB: client.capacity.memPerGpuInGiB, expiration_period: 300 },
      },
      { id: "resource_consumer", path: "nvflare.app_common.resource_consumers.gpu_resource_consumer.GPUResourceConsumer", args: {} },
      { id: "process_launcher", path: "nvflare.app_common.job_launcher.client_process_launcher.ClientProcessJobLauncher", args: {} },
    ],
  };
}

/** Admin console settings (FLARE's admin `local/resources.json.default`). */
export const ADMIN_RESOURCES = {
  format_version: 1,
  admin: { idle_timeout: 900, login_timeout: 10, with_debug: false, authenticate_msg_timeout: 2.0, prompt: "> " },
} as const;

/** A sample privacy policy in FLARE's format; rename to privacy.json to enforce it. */
export const PRIVACY_SAMPLE = {
  scopes: [
    {
      name: "public",
      properties: { train_dataset: "data/public/train", val_dataset: "data/public/val" },
      task_result_filters: [{ name: "PercentilePrivacy", args: { percentile: 10, gamma: 0.02 } }],
      task_data_filters: [],
    },
    {
      name: "private",
      properties: { train_dataset: "data/private/train", val_dataset: "data/private/val" },
      task_result_filters: [{ name: "SVTPrivacy", args: { fraction: 0.1, epsilon: 0.2 } }],
      task_data_filters: [],
    },
  ],
  default_scope: "public",
} as const;

/** Log settings: console plus rotating files in the site workspace, as FLARE's log_config. */
export const LOG_CONFIG = {
  version: 1,
  level: "info",
  handlers: {
    console: { level: "info", format: "text" },
    log_file: { level: "debug", filename: "log.txt", format: "text", max_bytes: 20971520, backup_count: 10 },
    error_file: { level: "error", filename: "error_log.txt", format: "text", max_bytes: 20971520, backup_count: 10 },
    json_file: { level: "debug", filename: "log.json", format: "json", max_bytes: 20971520, backup_count: 10 },
  },
} as const;

export function projectSummaryLine(project: ProjectSpec): string {
  return `${project.name}: server ${project.server.name}, ${project.clients.length} client(s), ${project.admins.length} admin(s)`;
}
