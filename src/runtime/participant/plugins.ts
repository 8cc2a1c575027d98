import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { CohortError } from "../../errors/index.js";
import { PluginErrorCode } from "./errors.js";
import { ConfigErrorCode } from "../../config/index.js";

/**
 * Site plugins (FLARE's site-specific authentication and authorization): a site lists them in
 * `local/resources.json` `plugins: [{path, args}]`; built-ins by name, or the site's own modules
 * from `local/custom/` (`module.Export`, trusted: the site admin put them there). Each receives
 * read-only identity data for an event and may refuse with a reason, which reaches the caller.
 */
export interface RegisterEvent {
  readonly name: string;
  readonly type: "client" | "admin";
  readonly org: string | undefined;
  readonly role: string | undefined;
  readonly certFingerprint: string;
}
export interface CommandEvent {
  readonly command: string;
  readonly args: readonly string[];
  readonly user: { readonly name: string; readonly org: string; readonly role: string };
  /** The identity-provider token the console attached (--oidc-token-file), if any. */
  readonly oidcToken: string | undefined;
}
export interface DeployEvent {
  readonly jobId: string;
  readonly jobName: string;
  readonly submitter: { readonly name: string; readonly org: string; readonly role: string } | undefined;
  readonly byoc: boolean;
}
export interface ComponentEvent {
  readonly jobId: string;
  readonly path: string;
  readonly args: Readonly<Record<string, unknown>>;
}
export interface SubmitEvent {
  readonly jobName: string;
  readonly submitter: { readonly name: string; readonly org: string; readonly role: string };
  readonly byoc: boolean;
}

/** A refusal reason, or undefined to let it through. */
type Verdict = string | undefined;

export interface SitePlugin {
  readonly name: string;
  /** Server: a site or admin logging in (synchronous: it runs inside the login exchange). */
  onClientRegister?(e: RegisterEvent): Verdict;
  onCommand?(e: CommandEvent): Verdict | Promise<Verdict>;
  onBeforeDeploy?(e: DeployEvent): Verdict | Promise<Verdict>;
  onBeforeComponentBuild?(e: ComponentEvent): Verdict | Promise<Verdict>;
  onSubmitJob?(e: SubmitEvent): Verdict | Promise<Verdict>;
}

const pluginListSchema = z.array(z.object({ path: z.string().min(1), args: z.record(z.string(), z.unknown()).default({}) })).default([]);

/** Built-in: only these organisations and/or names may log in. */
const allowListArgs = z.strictObject({
  orgs: z.array(z.string()).optional(),
  names: z.array(z.string()).optional(),
  apply_to: z.enum(["client", "admin", "all"]).default("client"),
});
function registrationAllowList(raw: Record<string, unknown>): SitePlugin {
  const a = allowListArgs.parse(raw);
  return {
    name: "cohort.RegistrationAllowList",
    onClientRegister: (e) => {
      if (a.apply_to !== "all" && a.apply_to !== e.type) return undefined;
      if (a.names && !a.names.includes(e.name)) return `${e.name} is not on this server's registration allow-list`;
      if (a.orgs && !a.orgs.includes(e.org ?? "")) return `organisation ${e.org ?? "(none)"} of ${e.name} is not on this server's registration allow-list`;
      return undefined;
    },
  };
}

/**
 * Built-in: every admin command must carry a valid token from the site's identity provider
 * (KeyCloak, OAuth…): issuer, signature against the configured JWKS (a local file), expiry, and
 * audience = this site's name; optionally its `email` (or another claim) must be the admin.
 */
const oidcArgs = z.strictObject({
  issuer: z.string().min(1),
  jwks_file: z.string().min(1),
  audience: z.string().optional(),
  user_claim: z.string().optional(),
  clock_tolerance: z.number().min(0).default(30),
});
function oidcCommandCheck(raw: Record<string, unknown>, ctx: { site: string; kitDir: string }): SitePlugin {
  const a = oidcArgs.parse(raw);
  const file = isAbsolute(a.jwks_file) ? a.jwks_file : join(ctx.kitDir, "local", a.jwks_file);
  if (!existsSync(file))
    throw new CohortError(PluginErrorCode.Config, `${file}: JWKS file of cohort.OidcCommandCheck not found; put the identity provider's keys there`, { file });
  const jwks = createLocalJWKSet(JSON.parse(readFileSync(file, "utf8")) as JSONWebKeySet);
  return {
    name: "cohort.OidcCommandCheck",
    onCommand: async (e) => {
      if (!e.oidcToken) return `${ctx.site} requires a token from its identity provider (${a.issuer}): run the console with --oidc-token-file`;
      try {
        const { payload } = await jwtVerify(e.oidcToken, jwks, { issuer: a.issuer, audience: a.audience ?? ctx.site, clockTolerance: a.clock_tolerance });
        if (a.user_claim && payload[a.user_claim] !== e.user.name) return `the identity token is for ${String(payload[a.user_claim])}, not ${e.user.name}`;
        return undefined;
      } catch (err) {
        return `the identity token was refused: ${(err as Error).message}`;
      }
    },
  };
}

const BUILTINS: Record<string, (args: Record<string, unknown>, ctx: { site: string; kitDir: string }) => SitePlugin> = {
  "cohort.RegistrationAllowList": registrationAllowList,
  "cohort.OidcCommandCheck": oidcCommandCheck,
};

/** Loads the plugins a site lists in local/resources.json `plugins`. */
export async function loadSitePlugins(raw: unknown, ctx: { site: string; kitDir: string; file: string }): Promise<SitePlugin[]> {
  const parsed = pluginListSchema.safeParse(raw);
  if (!parsed.success)
    throw new CohortError(ConfigErrorCode.Invalid, `${ctx.file}: plugins: ${parsed.error.issues[0]?.message ?? "invalid"}; give a list of {path, args}`, {
      file: ctx.file,
    });
  const out: SitePlugin[] = [];
  for (const [i, p] of parsed.data.entries()) {
    const builtin = BUILTINS[p.path];
    if (builtin) {
      out.push(builtin(p.args, ctx));
      continue;
    }
    const dot = p.path.lastIndexOf(".");
    const file = dot > 0 ? resolve(ctx.kitDir, "local", "custom", `${p.path.slice(0, dot).replace(/\./g, "/")}.js`) : "";
    if (!file || !existsSync(file))
      throw new CohortError(
        ConfigErrorCode.Invalid,
        `${ctx.file}: plugins[${i}].path: ${JSON.stringify(p.path)} is neither a built-in (${Object.keys(BUILTINS).join(", ")}) nor a module in local/custom/`,
        { file: ctx.file },
      );
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const factory = mod[p.path.slice(dot + 1)];
    if (typeof factory !== "function") throw new CohortError(ConfigErrorCode.Invalid, `${file} does not export ${p.path.slice(dot + 1)}`, { file });
    out.push({
      name: p.path,
      ...new (factory as new (args: Record<string, unknown>, ctx: { site: string }) => Omit<SitePlugin, "name">)(p.args, ctx),
    } as SitePlugin);
  }
  return out;
}

/** Runs one event through every plugin; the first refusal wins. */
export async function firstRefusal<E>(
  plugins: readonly SitePlugin[],
  pick: (p: SitePlugin) => ((e: E) => Verdict | Promise<Verdict>) | undefined,
  e: E,
): Promise<string | undefined> {
  for (const p of plugins) {
    const fn = pick(p);
    const verdict = fn ? await fn.call(p, e) : undefined;
    if (verdict) return `${verdict} (plugin ${p.name})`;
  }
  return undefined;
}
