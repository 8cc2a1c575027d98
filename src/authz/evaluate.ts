/**
 * FLARE's authorization decision (`Policy.evaluate` in `nvflare/fuel/sec/authz.py`): the role's
 * role-wide rule, else its rule for the right; no rule → deny; blocking (`not …`) conditions
 * first, any match denies; then any allow condition must match; only blocking ones and none
 * matched → allow. Every decision carries a reason an admin can act on and the deciding rule.
 */
import { categoryOf } from "./categories.js";
import { evaluateCondition, normalizeName, type ConditionContext, type Person } from "./conditions.js";
import type { AuthorizationPolicy, PolicyRule } from "./policy.js";

export interface AuthzIdentity {
  readonly name: string;
  readonly org: string;
  readonly role: string;
}

export interface AuthzRequest {
  /** The command name (or special right such as `submit_job`, `byoc`). */
  readonly right: string;
  /** Who asks (from their verified certificate: CN, O, role). */
  readonly user: AuthzIdentity;
  /** Who submitted the job the command is about; absent when the command names no job. */
  readonly submitter?: AuthzIdentity;
  /** The organisation of the site that decides (its own certificate's O). */
  readonly siteOrg: string;
}

export interface AuthzRuleRef {
  readonly role: string;
  /** The policy entry that decided: the right itself, its category, or `*` (role-wide). */
  readonly right: string;
  /** The entry's expression, normalised (`n:submitter`, or `["any","not o:x"]` for a list). */
  readonly expression: string;
  /** Where the entry is in authorization.json, e.g. `permissions.lead.manage_job`. */
  readonly path: string;
}

export interface AuthzDecision {
  readonly allowed: boolean;
  /** For an admin; callers prefix refusals with `NOT_AUTHORIZED` and the site's name. */
  readonly reason: string;
  /** The rule that decided; absent when the role has no rule for the right. */
  readonly rule?: AuthzRuleRef;
  /** The single condition that decided, when one did (`not o:b`, `o:site`). */
  readonly condition?: string;
}

function normalizePerson(p: AuthzIdentity): Person {
  return { name: normalizeName(p.name), org: normalizeName(p.org), role: normalizeName(p.role) };
}

function ruleRef(rule: PolicyRule): AuthzRuleRef {
  return { role: rule.role, right: rule.right, expression: rule.expression, path: rule.path };
}

/** `permissions.lead.manage_job = "n:submitter"; category 'manage_job' includes 'abort_job'`. */
function describeRule(rule: PolicyRule, right: string): string {
  const shown = rule.expression.startsWith("[") ? rule.expression : JSON.stringify(rule.expression);
  const scope = rule.right === "*" ? `; role-wide: it covers every right` : rule.right !== right ? `; category '${rule.right}' includes '${right}'` : "";
  return `rule ${rule.path} = ${shown}${scope}`;
}

/** Decides one request against one site's policy. Names are compared as FLARE does: normalised. */
export function authorize(policy: AuthorizationPolicy, request: AuthzRequest): AuthzDecision {
  const right = normalizeName(request.right);
  const user = normalizePerson(request.user);
  const ctx: ConditionContext = {
    user,
    siteOrg: normalizeName(request.siteOrg),
    ...(request.submitter ? { submitter: normalizePerson(request.submitter) } : {}),
  };
  const who = `user '${user.name}' (role ${user.role || "(none)"}, org ${user.org || "(none)"})`;
  // FLARE lets role "super" through for its tests; a certificate could carry that role, so no bypass here.
  const permissions = policy.roles.get(user.role);
  const rule = permissions?.roleWide ?? permissions?.rights.get(right);
  if (!rule) {
    const category = categoryOf(right);
    const why =
      permissions === undefined
        ? `role '${user.role}' is not in this site's policy (roles: ${[...policy.roles.keys()].join(", ")})`
        : `permissions.${user.role} names neither '${right}'${category ? ` nor its category '${category}'` : ""}`;
    return { allowed: false, reason: `${who} has no rule for '${right}' at this site: ${why}` };
  }
  const from = describeRule(rule, right);
  const ref = ruleRef(rule);

  for (const condition of rule.conditions.filter((c) => c.blocking)) {
    const outcome = evaluateCondition(condition, ctx);
    if (outcome.matched) {
      return {
        allowed: false,
        reason: `${who} may not '${right}' at this site: blocked by '${condition.text}' (${outcome.why}) [${from}]`,
        rule: ref,
        condition: condition.text,
      };
    }
    // A blocking condition that cannot be evaluated must not let the request through (fail closed).
    if (outcome.missingSubmitter) {
      return {
        allowed: false,
        reason: `${who} may not '${right}' at this site: ${outcome.why}, so '${condition.text}' cannot be checked [${from}]`,
        rule: ref,
        condition: condition.text,
      };
    }
  }

  const allowing = rule.conditions.filter((c) => !c.blocking);
  if (allowing.length === 0) {
    return { allowed: true, reason: `${who} may '${right}' at this site: no blocking condition matches [${from}]`, rule: ref };
  }
  const outcomes = allowing.map((condition) => ({ condition, outcome: evaluateCondition(condition, ctx) }));
  const hit = outcomes.find((o) => o.outcome.matched);
  if (hit) {
    return {
      allowed: true,
      reason: `${who} may '${right}' at this site: '${hit.condition.text}' matches (${hit.outcome.why}) [${from}]`,
      rule: ref,
      condition: hit.condition.text,
    };
  }
  const whyNot = outcomes.map((o) => o.outcome.why).join("; ");
  return { allowed: false, reason: `${who} may not '${right}' at this site: ${whyNot} [${from}]`, rule: ref };
}
