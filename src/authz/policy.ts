/**
 * FLARE's authorization.json (`format_version` "1.0"): validation with every problem named by
 * file, JSON path, bad value and fix, then the same expansion as FLARE's `parse_policy_config`:
 * names normalised, categories expanded to their commands, explicit rights overriding them.
 */
import { z } from "zod";
import type { ConfigIssue } from "../config/index.js";
import { suggest } from "../config/index.js";
import { COMMAND_CATEGORIES, isCategory, KNOWN_RIGHTS } from "./categories.js";
import { normalizeName, parseCondition, type Condition } from "./conditions.js";
import { policyInvalid } from "./errors.js";

export const POLICY_FORMAT_VERSION = "1.0";

/** One entry of the file after parsing: the conditions one role has for one right (or all rights). */
export interface PolicyRule {
  readonly role: string;
  /** The entry's key as FLARE reads it: a command, a category, or `*` for a role-wide expression. */
  readonly right: string;
  /** Where it is in the file, e.g. `permissions.lead.manage_job`. */
  readonly path: string;
  /** The expression, normalised: `o:site`, or `["n:submitter", "o:site"]` for a list. */
  readonly expression: string;
  readonly conditions: readonly Condition[];
}

export interface RolePermissions {
  readonly role: string;
  /** A role-wide string or list: it answers for every right, so FLARE looks it up first. */
  readonly roleWide?: PolicyRule;
  /** Right → rule, with categories expanded and explicit rights taking precedence. */
  readonly rights: ReadonlyMap<string, PolicyRule>;
}

export interface AuthorizationPolicy {
  readonly file: string;
  readonly formatVersion: typeof POLICY_FORMAT_VERSION;
  /** Normalised role name → its permissions. */
  readonly roles: ReadonlyMap<string, RolePermissions>;
  /** Valid but probably not meant (unknown right names, roles without rights), each `<JSON path>: <what>`. */
  readonly warnings: readonly string[];
}

type PathSegment = string | number;

/** `permissions.lead.submit_job`; keys that are not plain words are bracketed. */
export function jsonPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/u.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === "" ? "(top level)" : out;
}

const CONDITIONS_FIX =
  'use a condition ("any", "none", "o:site", "o:submitter", "o:<org>", "n:submitter", "n:<name>", "not <condition>") or a non-empty list of them';

function issue(ctx: z.RefinementCtx, path: PathSegment[], input: unknown, message: string, fix: string): void {
  ctx.addIssue({ code: "custom", path, input, message, params: { fix } });
}

/** A condition expression: one string or a non-empty list of strings, each a valid condition. */
function checkExpression(value: unknown, ctx: z.RefinementCtx, path: PathSegment[]): void {
  const checkOne = (raw: unknown, at: PathSegment[]): void => {
    if (typeof raw !== "string") {
      issue(ctx, at, raw, "a condition must be a string", CONDITIONS_FIX);
      return;
    }
    const parsed = parseCondition(raw);
    if (!parsed.ok) issue(ctx, at, raw, parsed.problem, parsed.fix);
  };
  if (Array.isArray(value)) {
    if (value.length === 0) issue(ctx, path, value, "empty list of conditions", 'give at least one condition, or "none" to grant nothing');
    value.forEach((item, i) => checkOne(item, [...path, i]));
  } else if (typeof value === "string") {
    checkOne(value, path);
  } else {
    issue(ctx, path, value, "must be a condition string or a list of condition strings", CONDITIONS_FIX);
  }
}

/** A role's value: a role-wide expression, or an object of right → expression. */
const roleSchema = z.unknown().superRefine((value, ctx) => {
  if (typeof value === "string" || Array.isArray(value)) {
    checkExpression(value, ctx, []);
    return;
  }
  if (typeof value !== "object" || value === null) {
    issue(
      ctx,
      [],
      value,
      "must be an expression for all rights, a list of expressions, or an object of right → expression",
      'e.g. "any", ["o:site"] or {"view": "any", "submit_job": "o:site"}',
    );
    return;
  }
  const seen = new Map<string, string>();
  for (const [right, expression] of Object.entries(value)) {
    const name = normalizeName(right);
    if (name === "") issue(ctx, [right], right, "empty right name", "name a command (e.g. submit_job), a category (e.g. view) or a special right (e.g. byoc)");
    const earlier = seen.get(name);
    if (earlier !== undefined) issue(ctx, [right], right, `the same right as "${earlier}" (names are case-insensitive)`, "keep one of the two entries");
    seen.set(name, right);
    checkExpression(expression, ctx, [right]);
  }
});

const permissionsSchema = z.record(z.string(), roleSchema).superRefine((permissions, ctx) => {
  const roles = Object.keys(permissions);
  if (roles.length === 0) issue(ctx, [], permissions, "no roles", 'grant at least one role, e.g. {"project_admin": "any"}');
  const seen = new Map<string, string>();
  for (const role of roles) {
    const name = normalizeName(role);
    if (name === "")
      issue(ctx, [role], role, "empty role name", "use the role names of your admin certificates (project_admin, org_admin, lead, member, or your own)");
    const earlier = seen.get(name);
    if (earlier !== undefined) issue(ctx, [role], role, `the same role as "${earlier}" (role names are case-insensitive)`, "merge the two entries into one");
    seen.set(name, role);
  }
});

const policySchema = z.looseObject({
  format_version: z.unknown().superRefine((v, ctx) => {
    if (v !== POLICY_FORMAT_VERSION)
      issue(
        ctx,
        [],
        v,
        v === undefined ? "missing" : `must be the string "${POLICY_FORMAT_VERSION}"`,
        `write "format_version": "${POLICY_FORMAT_VERSION}" (FLARE's only policy format)`,
      );
  }),
  permissions: z.unknown().superRefine((v, ctx) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      issue(
        ctx,
        [],
        v,
        v === undefined ? "missing" : "must be an object of role → permissions",
        'e.g. "permissions": {"project_admin": "any", "member": {"view": "any"}}',
      );
      return;
    }
    const r = permissionsSchema.safeParse(v, { reportInput: true });
    if (!r.success)
      for (const i of r.error.issues)
        ctx.addIssue({ ...i, code: "custom", input: "input" in i ? i.input : undefined, params: "params" in i ? i.params : undefined });
  }),
});

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function toIssues(file: string, raw: unknown, issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  return issues.map((i) => {
    const path = i.path.filter((p): p is PathSegment => typeof p === "string" || typeof p === "number");
    const fix = (i as { params?: { fix?: unknown } }).params?.fix;
    const value = "input" in i ? i.input : valueAt(raw, path);
    const base: ConfigIssue =
      i.code === "invalid_type" && path.length === 0
        ? { file, field: jsonPath(path), message: "the policy must be a JSON object", fix: "start from local/authorization.json.default" }
        : { file, field: jsonPath(path), message: i.message, ...(typeof fix === "string" ? { fix } : {}) };
    return value !== undefined ? { ...base, value } : base;
  });
}

function renderExpression(expression: string | readonly string[]): { text: string; conditions: Condition[] } {
  const list = typeof expression === "string" ? [expression] : expression;
  const conditions = list.map((raw) => {
    const parsed = parseCondition(raw);
    if (!parsed.ok) throw new Error(`unreachable: validated condition ${raw} failed to parse`);
    return parsed.condition;
  });
  const text = typeof expression === "string" ? (conditions[0]?.text ?? "") : JSON.stringify(conditions.map((c) => c.text));
  return { text, conditions };
}

/**
 * Validates FLARE's authorization.json (already JSON-parsed) and expands it. Throws
 * ERR_AUTHZ_POLICY_INVALID naming `file`, the JSON path, the bad value and the fix.
 */
export function parsePolicy(raw: unknown, file: string): AuthorizationPolicy {
  const checked = policySchema.safeParse(raw, { reportInput: true });
  if (!checked.success) throw policyInvalid(file, toIssues(file, raw, checked.error.issues));
  const warnings: string[] = [];
  for (const key of Object.keys(checked.data)) {
    if (key !== "format_version" && key !== "permissions")
      warnings.push(`${jsonPath([key])}: unknown key, ignored (FLARE reads only format_version and permissions)`);
  }
  const permissions = checked.data.permissions as Record<string, string | string[] | Record<string, string | string[]>>;
  const roles = new Map<string, RolePermissions>();
  for (const [roleKey, value] of Object.entries(permissions)) {
    const role = normalizeName(roleKey);
    const rule = (rightKey: string, right: string, expression: string | readonly string[]): PolicyRule => {
      const { text, conditions } = renderExpression(expression);
      const path = jsonPath(rightKey === "" ? ["permissions", roleKey] : ["permissions", roleKey, rightKey]);
      return { role, right, path, expression: text, conditions };
    };
    if (typeof value === "string" || Array.isArray(value)) {
      roles.set(role, { role, roleWide: rule("", "*", value), rights: new Map() });
      continue;
    }
    const rights = new Map<string, PolicyRule>();
    const entries = Object.entries(value).map(([key, expression]) => ({ key, right: normalizeName(key), expression }));
    if (entries.length === 0) warnings.push(`${jsonPath(["permissions", roleKey])}: role '${role}' has no rights: every command is denied to it`);
    // FLARE's order: categories first (each command of a category shares its conditions; the
    // category name itself is kept as a right too), then explicit rights, which override them.
    for (const { key, right, expression } of entries) {
      if (!isCategory(right)) continue;
      const r = rule(key, right, expression);
      rights.set(right, r);
      for (const command of COMMAND_CATEGORIES[right]) rights.set(command, r);
    }
    for (const { key, right, expression } of entries) {
      if (isCategory(right)) continue;
      rights.set(right, rule(key, right, expression));
      if (!KNOWN_RIGHTS.has(right)) {
        warnings.push(
          `${jsonPath(["permissions", roleKey, key])}: '${right}' is not a known command, category or special right${suggest(right, [...KNOWN_RIGHTS])}; it only grants a command of exactly that name`,
        );
      }
    }
    roles.set(role, { role, rights });
  }
  return { file, formatVersion: POLICY_FORMAT_VERSION, roles, warnings };
}
