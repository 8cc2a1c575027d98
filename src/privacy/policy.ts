/**
 * A site's privacy policy: `local/privacy.json` in FLARE's format (flare-digest §7.1), plus
 * Cohort's optional per-scope `budget`. Validated on load; every refusal names the file, the
 * JSON path, the value and a fix.
 */
import { existsSync, readFileSync } from "node:fs";
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
}

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

/** Parses a privacy policy (the JSON value of privacy.json); `file` names it in errors. */
export function parsePrivacyPolicy(raw: unknown, file: string, isKnownFilter?: (path: string) => boolean): PrivacyPolicy {
  const r = privacyPolicySchema.safeParse(raw, { reportInput: true });
  if (!r.success) {
    const i = r.error.issues[0];
    const path = i?.path ?? [];
    const field = `$${path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;
    const keys = i?.code === "unrecognized_keys" ? ` ${JSON.stringify((i as { keys?: string[] }).keys ?? [])}` : "";
    const got = i && "input" in i && i.input !== undefined && i.code !== "unrecognized_keys" ? ` (got ${JSON.stringify(i.input).slice(0, 80)})` : "";
    throw new CohortError(PrivacyErrorCode.Policy, `${file}: ${field}: ${i?.message ?? "invalid"}${keys}${got}; fix: ${fixFor(i?.code ?? "", path)}`, {
      file,
      field,
    });
  }
  if (isKnownFilter) {
    r.data.scopes.forEach((s, si) => {
      for (const list of ["task_data_filters", "task_result_filters"] as const) {
        s[list].forEach((f, fi) => {
          const p = f.path ?? f.name ?? "";
          if (!isKnownFilter(p))
            throw new CohortError(
              PrivacyErrorCode.Policy,
              `${file}: $.scopes[${si}].${list}[${fi}].${f.path ? "path" : "name"}: ${JSON.stringify(p)} is not a registered filter; fix: use a built-in (ExcludeVars, PercentilePrivacy, SVTPrivacy, GaussianPrivacy) — site filters cannot come from a job's custom code`,
              { file },
            );
        });
      }
    });
  }
  return {
    file,
    scopes: new Map(r.data.scopes.map((s) => [s.name, s])),
    ...(r.data.default_scope !== undefined ? { defaultScope: r.data.default_scope } : {}),
  };
}

/** Loads `<kit>/local/privacy.json`; undefined when there is none (any scope, no site filters). */
export function loadPrivacyPolicy(kitDir: string, isKnownFilter?: (path: string) => boolean): PrivacyPolicy | undefined {
  const file = join(kitDir, "local", "privacy.json");
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new CohortError(PrivacyErrorCode.Policy, `${file}: not valid JSON (${(cause as Error).message}); fix: correct the JSON syntax`, { file }, { cause });
  }
  return parsePrivacyPolicy(raw, file, isKnownFilter);
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
  return scope;
}
