/**
 * Who may run their own code at a site from outside its org. FLARE's default policy grants `byoc`
 * to every org's `lead` (and `project_admin: "any"` covers it too), so any other org's lead can
 * deploy code that reads this site's data. A site decides `byoc` for a job's submitter (user and
 * submitter are the same person), so the answer depends only on the submitter's role, org and
 * name; it is found by asking the engine itself about one representative of each case the
 * policy can tell apart, so it means exactly what `authorize` decides.
 */
import { normalizeName } from "./conditions.js";
import { authorize } from "./evaluate.js";
import type { AuthorizationPolicy, PolicyRule } from "./policy.js";

/** A value no policy names: it stands for "any other org" or "any other user". */
function fresh(base: string, taken: ReadonlySet<string>): string {
  let value = base;
  for (let i = 2; taken.has(value); i++) value = `${base}-${i}`;
  return value;
}

function quoteList(values: readonly string[]): string {
  return values.map((v) => `'${v}'`).join(", ");
}

/**
 * Human-readable grants of `byoc` to people outside `siteOrg`, one per role (and per named user
 * when a rule names one), e.g. `role lead of any org may submit custom code (byoc) [permissions.lead.byoc = "any"]`.
 * Empty when only the site's own org may bring its own code.
 */
export function byocGrantsBeyondOrg(policy: AuthorizationPolicy, siteOrg: string): string[] {
  const site = normalizeName(siteOrg);
  const grants: string[] = [];
  for (const [role, permissions] of policy.roles) {
    const rule: PolicyRule | undefined = permissions.roleWide ?? permissions.rights.get("byoc");
    if (!rule) continue;
    const namedOrgs = new Set<string>();
    const namedUsers = new Set<string>();
    for (const c of rule.conditions) {
      if (c.test.kind === "org" && c.test.org !== site) namedOrgs.add(c.test.org);
      if (c.test.kind === "name") namedUsers.add(c.test.name);
    }
    const otherOrg = fresh("other-org", new Set([...namedOrgs, site]));
    const otherUser = fresh("other-user", namedUsers);
    const orgs = [...namedOrgs, otherOrg];
    const allowedOrgs = (name: string): string[] =>
      orgs.filter((org) => {
        const person = { name, org, role };
        return authorize(policy, { right: "byoc", user: person, submitter: person, siteOrg: site }).allowed;
      });
    const describeOrgs = (allowed: readonly string[]): string => {
      if (!allowed.includes(otherOrg)) return `of org${allowed.length > 1 ? "s" : ""} ${quoteList(allowed)}`;
      const excluded = [...namedOrgs].filter((o) => !allowed.includes(o));
      return excluded.length === 0 ? "of any org" : `of any org except ${quoteList(excluded)}`;
    };
    const where = ` [${rule.path} = ${rule.expression.startsWith("[") ? rule.expression : JSON.stringify(rule.expression)}]`;
    const anyone = allowedOrgs(otherUser);
    if (anyone.length > 0) grants.push(`role ${role} ${describeOrgs(anyone)} may submit custom code (byoc)${where}`);
    for (const name of namedUsers) {
      const allowed = allowedOrgs(name);
      // A named user adds something only where the role as a whole is not already allowed.
      if (allowed.length === 0 || allowed.every((o) => anyone.includes(o))) continue;
      grants.push(`user '${name}' with role ${role} ${describeOrgs(allowed)} may submit custom code (byoc)${where}`);
    }
  }
  return grants;
}
