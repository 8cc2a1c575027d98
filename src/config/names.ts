import { isIP } from "node:net";

// FLARE's name rules (nvflare/lighter name_check), so a FLARE project.yml keeps validating.
const HOST_NAME_RE = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const SITE_NAME_RE = /^[A-Za-z0-9_-]+$/;
const EMAIL_RE = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;
const ORG_RE = /^[A-Za-z0-9_]+$/;
const SIMPLE_NAME_RE = /^[A-Za-z0-9_]+$/;

export type NameKind = "host" | "site" | "email" | "org" | "simple";

const RULES: Record<NameKind, { test: (v: string) => boolean; rule: string }> = {
  host: {
    test: (v) => v.length <= 255 && (HOST_NAME_RE.test(v) || isIP(v) !== 0),
    rule: "a host name (letters, digits, '-' and '.' labels) or an IP address, at most 255 characters",
  },
  site: { test: (v) => v.length <= 63 && SITE_NAME_RE.test(v), rule: "a site name: letters, digits, '-' and '_' only, at most 63 characters" },
  email: { test: (v) => v.length <= 254 && EMAIL_RE.test(v), rule: "an email address such as admin@example.org" },
  org: { test: (v) => v.length <= 64 && ORG_RE.test(v), rule: "an organisation name: letters, digits and '_' only" },
  simple: { test: (v) => v.length <= 64 && SIMPLE_NAME_RE.test(v), rule: "a simple name: letters, digits and '_' only" },
};

/** Returns undefined when valid, else the rule the value breaks. */
export function checkName(kind: NameKind, value: string): string | undefined {
  const r = RULES[kind];
  return r.test(value) ? undefined : `must be ${r.rule}`;
}
