import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { CohortError } from "../../src/errors/index.js";
import { FLModel } from "../../src/wire/index.js";
import {
  applyFilterChain,
  loadPrivacyPolicy,
  parsePrivacyPolicy,
  PrivacyLedger,
  resolveScope,
  siteFilterSpecs,
  type ChainedFilter,
  type FilterContext,
} from "../../src/privacy/index.js";
import { tempDir, writeFile } from "../helpers/index.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";

const F = "local/privacy.json";
const refusal = (raw: unknown, re: RegExp): void => {
  assert.throws(
    () => parsePrivacyPolicy(raw, F, (p) => ["GaussianPrivacy", "PercentilePrivacy"].includes(p)),
    (e: unknown) => e instanceof CohortError && e.code === "ERR_PRIVACY_POLICY" && re.test(e.message),
  );
};

test("privacy.json refusals name the file, the JSON path, the value and a fix", () => {
  refusal({ scopes: [] }, /^local\/privacy\.json: \$\.scopes: list at least one scope.*fix:/);
  refusal({ scopes: [{ name: "a" }, { name: "a" }] }, /\$\.scopes\[1\]\.name: duplicate scope name "a" \(got "a"\); fix: give every scope a unique name/);
  refusal({ scopes: [{ name: "a" }], default_scope: "b" }, /\$\.default_scope: names no scope \(scopes: a\) \(got "b"\); fix: set default_scope/);
  refusal({ scopes: [{ name: "a", task_result_filter: [] }] }, /\$\.scopes\[0\]: .*\["task_result_filter"\].*fix: remove the key or correct its spelling/);
  refusal({ scopes: [{ name: "a", budget: { epsilon: -1 } }] }, /\$\.scopes\[0\]\.budget\.epsilon: .*\(got -1\); fix: budget is/);
  refusal({ scopes: [{ name: "a", task_result_filters: [{ args: {} }] }] }, /\$\.scopes\[0\]\.task_result_filters\[0\]: a filter needs a name/);

  const dir = tempDir();
  writeFile(join(dir, "local", "privacy.json"), "{ nope");
  assert.throws(() => loadPrivacyPolicy(dir), /privacy\.json: not valid JSON.*fix: correct the JSON syntax/);
  assert.equal(loadPrivacyPolicy(tempDir()), undefined);
});

test("scopes: meta.json scope, else default_scope; unknown scopes are refused naming the site", () => {
  const p = parsePrivacyPolicy({ scopes: [{ name: "public" }, { name: "private", budget: { epsilon: 1, delta: 1e-4 } }], default_scope: "private" }, F);
  assert.equal(resolveScope(p, undefined, "site-1")?.name, "private");
  assert.equal(resolveScope(p, "public", "site-1")?.name, "public");
  assert.throws(() => resolveScope(p, "secret", "site-1"), /privacy scope 'secret' is not allowed at site-1 \(its scopes: public, private\)/);
  assert.equal(resolveScope(undefined, "anything", "site-1"), undefined);
});

test("site filters run before job filters; a failing filter stops the chain", async () => {
  const order: string[] = [];
  const mk = (label: string, source: "site" | "job", fail = false): ChainedFilter => ({
    label,
    source,
    filter: {
      filter(m: FLModel) {
        order.push(label);
        if (fail) throw new Error("refused");
        return m;
      },
    },
  });
  const ctx: FilterContext = { site: "site-1", jobId: "j", taskName: "train", direction: "out", charge: async () => undefined, log: () => undefined };
  const scope = parsePrivacyPolicy(
    { scopes: [{ name: "s", task_data_filters: [{ name: "D" }], task_result_filters: [{ name: "R1" }, { name: "R2", direction: "inout" }] }] },
    F,
  ).scopes.get("s");
  assert.deepEqual(
    siteFilterSpecs(scope, "out").map((f) => f.name),
    ["R1", "R2"],
  );
  assert.deepEqual(
    siteFilterSpecs(scope, "in").map((f) => f.name),
    ["D", "R2"],
  );
  const chain = [mk("site-a", "site"), mk("site-b", "site"), mk("job-a", "job")];
  await applyFilterChain(chain, new FLModel({}), ctx);
  assert.deepEqual(order, ["site-a", "site-b", "job-a"]);
  order.length = 0;
  await assert.rejects(
    applyFilterChain([mk("site-a", "site", true), mk("job-a", "job")], new FLModel({}), ctx),
    /site filter site-a refused the result of task train at site-1: refused/,
  );
  assert.deepEqual(order, ["site-a"]);
});

test("the budget ledger accumulates (basic composition), refuses beyond the budget and survives reopening", () => {
  const file = join(tempDir(), "workspace", "privacy_budget.json");
  const budget = { epsilon: 1, delta: 1e-4 };
  const l = PrivacyLedger.open(file);
  const spend = { filter: "GaussianPrivacy", epsilon: 0.4, delta: 4e-5 };
  assert.equal(l.charge("private", "job-1", spend, budget).allowed, true);
  assert.equal(l.charge("private", "job-2", spend, budget).allowed, true);
  const r = l.charge("private", "job-2", spend, budget);
  assert.equal(r.allowed, false);
  assert.match(!r.allowed ? r.reason : "", /privacy budget of scope 'private' exhausted: GaussianPrivacy needs ε=0\.4, δ=0\.00004; spent ε=0\.8 of 1/);
  assert.ok(existsSync(file));
  const again = PrivacyLedger.open(file);
  const s = again.summary().scopes["private"]!;
  assert.ok(Math.abs(s.total.epsilon - 0.8) < 1e-12);
  assert.equal(s.total.charges, 2);
  assert.equal(s.jobs["job-2"]!.charges, 1);
  assert.equal(again.charge("private", "job-3", spend, budget).allowed, false, "still refused after reopening");
  assert.equal(again.charge("private", "job-3", { ...spend, epsilon: 0.2, delta: 0 }, budget).allowed, true);
  assert.equal(again.charge("public", "job-3", { ...spend, epsilon: 50 }, undefined).allowed, true, "no budget: recorded only");
  writeFileSync(file, readFileSync(file, "utf8").slice(0, 20));
  assert.throws(() => PrivacyLedger.open(file), /privacy ledger is damaged/);
});

test("a broken privacy.json lists every problem once, in one error", () => {
  assert.throws(
    () =>
      parsePrivacyPolicy(
        {
          scopes: [
            { name: "a", task_result_filter: [] },
            { name: "a", budget: { epsilon: -1 } },
          ],
          default_scope: "b",
          extra: 1,
        },
        F,
      ),
    (e: unknown) => {
      assert.ok(e instanceof CohortError && e.code === "ERR_PRIVACY_POLICY");
      assert.match(e.message, /^5 problems in local\/privacy\.json:\n/);
      for (const re of [
        /\$: .*\["extra"\]/,
        /\$\.scopes\[0\]: .*\["task_result_filter"\]/,
        /\$\.scopes\[1\]\.budget\.epsilon: .*\(got -1\)/,
        /\$\.scopes\[1\]\.name: duplicate scope name/,
        /\$\.default_scope: names no scope/,
      ])
        assert.equal(e.message.split("\n").filter((l) => re.test(l)).length, 1, String(re));
      return true;
    },
  );
});

test("a scope naming a filter Cohort lacks is not an error: the policy loads, that scope refuses jobs with the reason, the others work", () => {
  const p = parsePrivacyPolicy(
    {
      scopes: [
        {
          name: "public",
          task_result_filters: [{ name: "AddNoiseToMinMax" }, { name: "PercentilePrivacy" }],
          task_data_filters: [{ path: "x.BadModelDetector" }],
        },
        { name: "ok", task_result_filters: [{ name: "PercentilePrivacy" }] },
      ],
      default_scope: "public",
    },
    F,
    (f) => ["GaussianPrivacy", "PercentilePrivacy"].includes(f),
  );
  assert.deepEqual([...p.unavailable.keys()], ["public"]);
  assert.equal(resolveScope(p, "ok", "site-1")?.name, "ok");
  for (const requested of ["public", undefined])
    assert.throws(
      () => resolveScope(p, requested, "site-1"),
      (e: unknown) =>
        e instanceof CohortError &&
        e.code === "ERR_PRIVACY_SCOPE_UNAVAILABLE" &&
        /privacy scope 'public' is not usable at site-1: local\/privacy\.json names filters Cohort does not implement: \$\.scopes\[0\]\.task_data_filters\[0\]\.path: "x\.BadModelDetector", \$\.scopes\[0\]\.task_result_filters\[0\]\.name: "AddNoiseToMinMax" .*usable: ok/.test(
          e.message,
        ),
    );
});

test(
  "FLARE's sample privacy.json loads unchanged: both its scopes refuse jobs (AddNoiseToMinMax, BadModelDetector), nothing else is wrong",
  requireFlareData(),
  () => {
    const dir = tempDir();
    writeFile(join(dir, "local", "privacy.json"), readFileSync(flareFile("nvflare", "lighter", "templates", "master_template.sample_privacy.json"), "utf8"));
    const p = loadPrivacyPolicy(dir, (f) => ["SVTPrivacy", "PercentilePrivacy"].includes(f));
    assert.ok(p);
    assert.equal(p.defaultScope, "public");
    assert.deepEqual([...p.unavailable.keys()], ["public", "private"]);
    assert.match(p.unavailable.get("public")?.join(" ") ?? "", /BadModelDetector.*AddNoiseToMinMax/);
    assert.doesNotMatch(p.unavailable.get("private")?.join(" ") ?? "", /SVTPrivacy/);
  },
);

test("hostile privacy.json: malformed JSON, a file over 1 MiB and a non-object are refused by name", () => {
  const dir = tempDir();
  writeFile(join(dir, "local", "privacy.json"), `{"scopes": [${"{},".repeat(400_000)}{}]}`);
  assert.throws(() => loadPrivacyPolicy(dir), /privacy\.json: \d+ bytes, more than a policy file may hold \(1048576\)/);
  writeFile(join(dir, "local", "privacy.json"), "[1,2]");
  assert.throws(() => loadPrivacyPolicy(dir), /privacy\.json: \$: /);
  writeFile(join(dir, "local", "privacy.json"), '{"scopes": [');
  assert.throws(() => loadPrivacyPolicy(dir), /privacy\.json: not valid JSON/);
});
