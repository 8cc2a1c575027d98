/**
 * A site's privacy policy: `local/privacy.json` in FLARE's format (flare-digest §7.1), plus
 * Cohort's optional per-scope `budget`. Validated on load; every refusal names the file, the
 * JSON path, the value and a fix.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { PrivacyErrorCode } from "./errors.js";

export const filterSpecSchema = z
  .object({
    name: z.string().min(1).optional(),
    path: z.string().min(1).optional(),
    id: z.string().optional(),
    args: z.record(z.string(), z.unknown()).default({}),
    direction: z.enum(["in", "out", "inout"]).optional(),
  })
  .strict()
  .refine((f) => f.name !== undefined || f.path !== undefined, { message: 'a filter needs a name (e.g. "GaussianPrivacy") or a path' });
export type FilterSpec = z.infer<typeof filterSpecSchema>;

export const budgetSchema = z.object({ epsilon: z.number().positive(), delta: z.number().min(0).max(1).default(0) }).strict();
export type PrivacyBudget = z.infer<typeof budgetSchema>;

export const scopeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be letters, digits, '.', '_' or '-'"),
    properties: z.record(z.string(), z.unknown()).default({}),
    task_data_filters: z.array(filterSpecSchema).default([]),
    task_result_filters: z.array(filterSpecSchema).default([]),
    budget: budgetSchema.optional(),
  })
  .strict();
export type PrivacyScope = z.infer<typeof scopeSchema>;

export const privacyPolicySchema = z
  .object({
    format_version: z.number().optional(),
    scopes: z.array(scopeSchema).min(1, "list at least one scope"),
    default_scope: z.string().optional(),
    components: z.array(z.unknown()).default([]),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.scopes.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: "custom", path: ["scopes", i, "name"], message: `duplicate scope name ${JSON.stringify(s.name)}`, input: s.name });
      seen.add(s.name);
    });
    if (p.default_scope !== undefined && !seen.has(p.default_scope))
      ctx.addIssue({ code: "custom", path: ["default_scope"], message: `names no scope (scopes: ${[...seen].join(", ")})`, input: p.default_scope });
  });

export interface PrivacyPolicy {
  readonly file: string;
  readonly scopes: ReadonlyMap<string, PrivacyScope>;
  readonly defaultScope?: string;
  /**
   * Scopes that name a filter Cohort does not implement (FLARE's sample names AddNoiseToMinMax and
   * BadModelDetector): scope name → one line per such filter. The site runs; jobs of these scopes are refused.
   */
  readonly unavailable: ReadonlyMap<string, readonly string[]>;
}

/** The most a privacy.json may hold: a policy is a few scopes, never megabytes. */
export const PRIVACY_POLICY_MAX_BYTES = 1024 * 1024;

function fixFor(code: string, path: readonly PropertyKey[]): string {
  const last = String(path[path.length - 1] ?? "");
  if (code === "unrecognized_keys") return "remove the key or correct its spelling (see docs/privacy.md)";
  if (last === "default_scope") return "set default_scope to one of the scope names";
  if (last === "name" && path[0] === "scopes") return "give every scope a unique name";
  if (path.includes("budget")) return 'budget is {"epsilon": > 0, "delta": 0..1}';
  if (path.includes("task_data_filters") || path.includes("task_result_filters"))
    return 'a filter is {"name" or "path", "args": {...}, optional "direction": in|out|inout}';
  return "see docs/privacy.md for the format";
}

/** `$.scopes[1].name`, the JSON path of a zod issue. */
const jsonField = (path: readonly PropertyKey[]): string => `$${path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;

/** One line per problem: the file, the JSON path, what is wrong, the value and the fix. */
export function privacyPolicyProblems(raw: unknown, file: string): string[] {
  const r = privacyPolicySchema.safeParse(raw, { reportInput: true });
  if (r.success) return [];
  return r.error.issues.map((i) => {
    const keys = i.code === "unrecognized_keys" ? ` ${JSON.stringify((i as { keys?: string[] }).keys ?? [])}` : "";
    const got = "input" in i && i.input !== undefined && i.code !== "unrecognized_keys" ? ` (got ${JSON.stringify(i.input).slice(0, 80)})` : "";
    return `${file}: ${jsonField(i.path)}: ${i.message}${keys}${got}; fix: ${fixFor(i.code, i.path)}`;
  });
}

/** One error for every problem of a file, so an operator fixes it in one pass. */
function policyError(file: string, problems: readonly string[]): CohortError {
  const message = problems.length === 1 ? (problems[0] ?? file) : `${problems.length} problems in ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`;
  return new CohortError(PrivacyErrorCode.Policy, message, { file, problems });
}

/**
 * Parses a privacy policy (the JSON value of privacy.json); `file` names it in errors. Every
 * problem of the file is in the one error thrown. A filter `isKnownFilter` does not know is not an
 * error: its scope is marked unavailable (the site runs and refuses jobs of that scope).
 */
export function parsePrivacyPolicy(raw: unknown, file: string, isKnownFilter?: (path: string) => boolean): PrivacyPolicy {
  const r = privacyPolicySchema.safeParse(raw, { reportInput: true });
  if (!r.success) throw policyError(file, privacyPolicyProblems(raw, file));
  const unavailable = new Map<string, string[]>();
  if (isKnownFilter) {
    r.data.scopes.forEach((s, si) => {
      for (const list of ["task_data_filters", "task_result_filters"] as const) {
        s[list].forEach((f, fi) => {
          const p = f.path ?? f.name ?? "";
          if (isKnownFilter(p)) return;
          const lines = unavailable.get(s.name) ?? [];
          lines.push(`$.scopes[${si}].${list}[${fi}].${f.path ? "path" : "name"}: ${JSON.stringify(p)}`);
          unavailable.set(s.name, lines);
        });
      }
    });
  }
  return {
    file,
    scopes: new Map(r.data.scopes.map((s) => [s.name, s])),
    ...(r.data.default_scope !== undefined ? { defaultScope: r.data.default_scope } : {}),
    unavailable,
  };
}

/** Why a scope refuses jobs: the filters it names that Cohort does not implement (undefined: the scope is usable). */
export function unavailableReason(policy: PrivacyPolicy, scope: string): string | undefined {
  const missing = policy.unavailable.get(scope);
  if (!missing || missing.length === 0) return undefined;
  return `${policy.file} names filters Cohort does not implement: ${missing.join(", ")} (built-ins: ExcludeVars, PercentilePrivacy, SVTPrivacy, GaussianPrivacy; site filters never come from a job's custom code)`;
}

/** Reads a policy file's JSON value (bounded in size); one error naming the file and the fix when it cannot. */
export function readPolicyJson(file: string, code: string, fix = "fix: correct the JSON syntax"): unknown {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > PRIVACY_POLICY_MAX_BYTES)
      throw new CohortError(
        code,
        `${file}: ${size} bytes, more than a policy file may hold (${PRIVACY_POLICY_MAX_BYTES}); fix: keep only the scopes and rules the site uses`,
        {
          file,
          problems: [`${file}: ${size} bytes, more than a policy file may hold (${PRIVACY_POLICY_MAX_BYTES})`],
        },
      );
    text = readFileSync(file, "utf8");
  } catch (cause) {
    if (cause instanceof CohortError) throw cause;
    const what = `${file}: cannot be read (${(cause as Error).message}); fix: check the file and its permissions`;
    throw new CohortError(code, what, { file, problems: [what] }, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    const what = `${file}: not valid JSON (${(cause as Error).message}); ${fix}`;
    throw new CohortError(code, what, { file, problems: [what] }, { cause });
  }
}

/** Loads `<kit>/local/privacy.json`; undefined when there is none (any scope, no site filters). */
export function loadPrivacyPolicy(kitDir: string, isKnownFilter?: (path: string) => boolean, shownAs?: string): PrivacyPolicy | undefined {
  const file = join(kitDir, "local", "privacy.json");
  if (!existsSync(file)) return undefined;
  return parsePrivacyPolicy(readPolicyJson(file, PrivacyErrorCode.Policy), shownAs ?? file, isKnownFilter);
}

/**
 * The scope a job runs in at this site: its meta.json `scope`, else the default scope. Refused
 * when the site has a policy and the scope is not in it (FLARE: "privacy scope 'x' is not allowed").
 */
export function resolveScope(policy: PrivacyPolicy | undefined, requested: string | undefined, site: string): PrivacyScope | undefined {
  if (!policy) return undefined;
  const name = requested || policy.defaultScope;
  if (name === undefined) return undefined;
  const scope = policy.scopes.get(name);
  if (!scope)
    throw new CohortError(
      PrivacyErrorCode.Scope,
      `privacy scope '${name}' is not allowed at ${site} (its scopes: ${[...policy.scopes.keys()].join(", ")}); fix: set "scope" in meta.json to one of them`,
      { site, scope: name },
    );
  const why = unavailableReason(policy, name);
  if (why) {
    const usable = [...policy.scopes.keys()].filter((n) => !policy.unavailable.has(n));
    throw new CohortError(
      PrivacyErrorCode.ScopeUnavailable,
      `privacy scope '${name}' is not usable at ${site}: ${why}; fix: the site replaces or removes those filters, or the job names ${usable.length ? `another scope (usable: ${usable.join(", ")})` : "another scope (none is usable at this site today)"}`,
      { site, scope: name },
    );
  }
  return scope;
}
