/**
 * FLARE's command categories and special rights (`nvflare/security/security.py`). A policy may
 * grant a category instead of naming every command; the engine expands it to these commands.
 */

/** Category → the admin commands it covers. `show_privacy_budget` is Cohort's addition to `view`. */
export const COMMAND_CATEGORIES = {
  manage_job: ["abort", "abort_job", "delete_job", "delete_workspace", "configure_job_log"],
  view: ["check_status", "show_scopes", "show_stats", "reset_errors", "show_errors", "list_jobs", "get_job_meta", "show_privacy_budget"],
  operate: [
    "sys_info",
    "report_resources",
    "report_env",
    "restart",
    "shutdown",
    "remove_client",
    "disable_client",
    "enable_client",
    "set_timeout",
    "call",
    "configure_site_log",
  ],
  shell_commands: ["cat", "grep", "head", "ls", "pwd", "tail"],
  download_job: ["download_job"],
} as const satisfies Readonly<Record<string, readonly string[]>>;

export type CommandCategory = keyof typeof COMMAND_CATEGORIES;

/** Rights in no category: they are granted only when a policy names them. */
export const SPECIAL_RIGHTS = ["submit_job", "clone_job", "byoc", "server-predeployed-flwr"] as const;
export type SpecialRight = (typeof SPECIAL_RIGHTS)[number];

/**
 * Other FLARE command names a policy may legitimately name (they are checked as rights on their
 * own); listed only so that naming them does not draw an "unknown right" warning.
 */
export const OTHER_KNOWN_COMMANDS = ["check_resources", "deploy_app"] as const;

export const CATEGORY_NAMES: readonly CommandCategory[] = Object.keys(COMMAND_CATEGORIES) as CommandCategory[];

export function isCategory(name: string): name is CommandCategory {
  return Object.hasOwn(COMMAND_CATEGORIES, name);
}

/** The category a command belongs to, if any. */
export function categoryOf(command: string): CommandCategory | undefined {
  return CATEGORY_NAMES.find((c) => (COMMAND_CATEGORIES[c] as readonly string[]).includes(command));
}

/** Every right name the engine knows: categorised commands, categories, special rights and the others. */
export const KNOWN_RIGHTS: ReadonlySet<string> = new Set<string>([
  ...CATEGORY_NAMES,
  ...CATEGORY_NAMES.flatMap((c) => COMMAND_CATEGORIES[c]),
  ...SPECIAL_RIGHTS,
  ...OTHER_KNOWN_COMMANDS,
]);
