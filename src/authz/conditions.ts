/**
 * FLARE's condition expressions (`nvflare/fuel/sec/authz.py`): `any`/`all`, `none`/`no`,
 * `o:site`, `o:submitter`, `o:<org>`, `n:submitter`, `n:<name>`, each optionally prefixed by
 * `not` to make it a blocking condition. Parsing follows FLARE's algorithm step by step so a
 * FLARE policy means the same here; evaluation explains itself so a refusal can be read by an admin.
 */

/** FLARE's normalisation of every name and expression: lower case, whitespace runs collapsed. */
export function normalizeName(s: string): string {
  return s
    .toLowerCase()
    .split(/\s+/u)
    .filter((p) => p !== "")
    .join(" ");
}

export type ConditionTest =
  | { readonly kind: "any" }
  | { readonly kind: "none" }
  | { readonly kind: "site-org" }
  | { readonly kind: "submitter-org" }
  | { readonly kind: "org"; readonly org: string }
  | { readonly kind: "submitter-name" }
  | { readonly kind: "name"; readonly name: string };

export interface Condition {
  /** Normalised text as FLARE reads it, e.g. `not o:site`. */
  readonly text: string;
  /** A `not …` condition: when its test matches, the request is denied whatever else allows it. */
  readonly blocking: boolean;
  readonly test: ConditionTest;
}

export type ConditionParse = { readonly ok: true; readonly condition: Condition } | { readonly ok: false; readonly problem: string; readonly fix: string };

const CONDITION_FORMS = "any, all, none, no, o:site, o:submitter, o:<org>, n:submitter, n:<name>, optionally prefixed by 'not '";

function bad(problem: string): ConditionParse {
  return { ok: false, problem, fix: `use one of ${CONDITION_FORMS}` };
}

/** Parses one expression string (not a list). */
export function parseCondition(raw: string): ConditionParse {
  const text = normalizeName(raw);
  let body = text;
  let blocking = false;
  const words = text.split(" ");
  // FLARE only treats exactly "not <one word>" as blocking; anything else is read as one word.
  if (words.length === 2 && words[0] === "not") {
    blocking = true;
    body = words[1] ?? "";
  }
  let test: ConditionTest;
  if (body === "any" || body === "all") test = { kind: "any" };
  else if (body === "none" || body === "no") test = { kind: "none" };
  else {
    const parts = body.split(":");
    if (parts.length !== 2) return bad(text === "" ? "empty condition" : "not a condition");
    const type = normalizeName(parts[0] ?? "");
    const target = normalizeName(parts[1] ?? "");
    if (type !== "o" && type !== "org" && type !== "n" && type !== "name") {
      return bad(`unknown condition type "${type}:" (only o:/org: and n:/name: exist)`);
    }
    // FLARE accepts an empty target, which can never match anything: surely a typo, so refuse it.
    if (target === "") return bad(`nothing after "${type}:"`);
    if (type === "o" || type === "org") {
      test = target === "site" ? { kind: "site-org" } : target === "submitter" ? { kind: "submitter-org" } : { kind: "org", org: target };
    } else {
      test = target === "submitter" ? { kind: "submitter-name" } : { kind: "name", name: target };
    }
  }
  return { ok: true, condition: { text, blocking, test } };
}

/** A user or job submitter as the engine sees them (already normalised). */
export interface Person {
  readonly name: string;
  readonly org: string;
  readonly role: string;
}

export interface ConditionContext {
  readonly user: Person;
  readonly submitter?: Person;
  readonly siteOrg: string;
}

export interface ConditionOutcome {
  readonly matched: boolean;
  /** Why it matched or not, in words an admin reads ("user org 'b' is not the site org 'a'"). */
  readonly why: string;
  /** The condition refers to the submitter and the request has none (the command names no job). */
  readonly missingSubmitter: boolean;
}

function quote(s: string): string {
  return s === "" ? "(empty)" : `'${s}'`;
}

// FLARE compares plain strings, so an empty org equals an empty site org; an identity without
// an org or name must never match anything, so empty values are never equal here.
function same(a: string, b: string): boolean {
  return a !== "" && a === b;
}

function outcome(matched: boolean, why: string, missingSubmitter = false): ConditionOutcome {
  return { matched, why, missingSubmitter };
}

function compare(matched: boolean, subject: string, object: string): ConditionOutcome {
  return outcome(matched, `${subject} ${matched ? "is" : "is not"} ${object}`);
}

/** Whether the condition's test (ignoring `not`) matches the request. */
export function evaluateCondition(condition: Condition, ctx: ConditionContext): ConditionOutcome {
  const { user, submitter, siteOrg } = ctx;
  const test = condition.test;
  switch (test.kind) {
    case "any":
      return outcome(true, `'${condition.text}' matches everyone`);
    case "none":
      return outcome(false, `'${condition.text}' matches no one`);
    case "site-org":
      return compare(same(user.org, siteOrg), `user org ${quote(user.org)}`, `the site org ${quote(siteOrg)}`);
    case "org":
      return compare(same(user.org, test.org), `user org ${quote(user.org)}`, quote(test.org));
    case "name":
      return compare(same(user.name, test.name), `user ${quote(user.name)}`, quote(test.name));
    case "submitter-org":
    case "submitter-name": {
      if (submitter === undefined) {
        return outcome(false, `'${condition.text}' needs the job's submitter and the request names none (no job)`, true);
      }
      return test.kind === "submitter-org"
        ? compare(same(user.org, submitter.org), `user org ${quote(user.org)}`, `the submitter's org ${quote(submitter.org)}`)
        : compare(same(user.name, submitter.name), `user ${quote(user.name)}`, `the submitter ${quote(submitter.name)}`);
    }
  }
}
