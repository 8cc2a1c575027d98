import { CohortError } from "../../errors/index.js";
import { AdminErrorCode } from "./errors.js";

/**
 * FLARE's target grammar (`nvflare/private/fed/server/cmd_utils.py`): `server`, `client [names…]`
 * (no names: every connected site) or `all` (the server and every site). Cohort's older forms are
 * kept: `@ALL` (every site) and a bare site name. The console, the server and each site parse a
 * command's targets with this one function, so a site refuses a command the admin addressed elsewhere.
 */
export interface Targets {
  readonly server: boolean;
  /** The sites addressed: named ones, or "every" connected site. */
  readonly sites: readonly string[] | "every";
}

/** A site name as provisioning allows it; a leading "-" would read as an option. */
const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$/;
const KEYWORDS = new Set(["server", "client", "all", "@ALL"]);

/** Commands that take FLARE's multi-target form (`server|client [names…]|all`). */
export const MULTI_TARGET_COMMANDS: ReadonlySet<string> = new Set([
  "shutdown",
  "restart",
  "sys_info",
  "report_resources",
  "report_env",
  "show_scopes",
  "show_privacy_budget",
  "check_status",
]);

/** Commands that take exactly one target, `server` or one site (FLARE's shell commands). */
export const SINGLE_TARGET_COMMANDS: ReadonlySet<string> = new Set(["pwd", "ls", "cat", "head", "tail", "grep"]);

function usage(cmd: string, why: string): CohortError {
  return new CohortError(AdminErrorCode.Usage, `${cmd}: ${why}; targets are server, client [site names…] or all`, { cmd });
}

function siteName(cmd: string, name: string): string {
  if (KEYWORDS.has(name)) throw usage(cmd, `${JSON.stringify(name)} is a target type, not a site name (give it once, first)`);
  if (!SITE_NAME.test(name)) throw usage(cmd, `${JSON.stringify(name.slice(0, 60))} is not a site name (letters, digits, . _ @ -, not starting with -)`);
  return name;
}

/** The targets of a multi-target command, from its arguments (all of them are targets). */
export function parseTargets(cmd: string, args: readonly string[]): Targets {
  const [kind, ...rest] = args;
  if (kind === undefined) throw usage(cmd, "missing target type");
  if (kind === "server" || kind === "all" || kind === "@ALL") {
    if (rest.length > 0) throw usage(cmd, `${kind} takes no site names (use client ${rest.join(" ")})`);
    return { server: kind !== "@ALL", sites: kind === "server" ? [] : "every" };
  }
  if (kind === "client") {
    if (rest.length === 0) return { server: false, sites: "every" };
    return { server: false, sites: [...new Set(rest.map((n) => siteName(cmd, n)))] };
  }
  // Cohort's older form: `sys_info site-1`.
  if (rest.length > 0) throw usage(cmd, `unknown target type ${JSON.stringify(kind.slice(0, 60))}`);
  return { server: false, sites: [siteName(cmd, kind)] };
}

/** The one target of a shell command: "server" or a site name. */
export function parseSingleTarget(cmd: string, target: string | undefined): string {
  if (target === undefined) throw usage(cmd, "missing target (server or a site name)");
  if (target === "server") return target;
  if (target === "client" || target === "all" || target === "@ALL") throw usage(cmd, "this command can only be applied to one site at a time");
  return siteName(cmd, target);
}

/**
 * The sites a signed command addresses, as a site checks it: "every", or the names. Commands
 * outside both tables address their first argument (or every site when there is none).
 */
export function addressedSites(cmd: string, args: readonly string[]): readonly string[] | "every" {
  if (MULTI_TARGET_COMMANDS.has(cmd)) return parseTargets(cmd, args).sites;
  if (SINGLE_TARGET_COMMANDS.has(cmd)) return [parseSingleTarget(cmd, args[0])];
  return args[0] === undefined ? "every" : [args[0]];
}
