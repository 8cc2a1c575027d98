/**
 * Task names matched as FLARE's client matches them (src/runtime/jobs/task-patterns.ts): fnmatch
 * semantics (the expected answers are Python's fnmatch.fnmatchcase), exact names first, then the
 * first pattern; duplicates and ambiguous patterns refused; no user text reaches a RegExp. Then the
 * job child (job-host.ts) and the site process (gate.ts) route tasks and filters the same way.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { isCohortError } from "../../../src/errors/index.js";
import { clientConfigSchema } from "../../../src/runtime/jobs/definition.js";
import { RuntimeErrorCode } from "../../../src/runtime/jobs/errors.js";
import { isTaskPattern, matchesTaskPattern, overlapOf, taskRouter } from "../../../src/runtime/jobs/task-patterns.js";
import { buildSiteJob } from "../../../src/runtime/sandbox/job-host.js";
import { SiteJobGate } from "../../../src/runtime/site/gate.js";
import { decode, encode, FLModel } from "../../../src/wire/index.js";
import { tempDir } from "../../helpers/index.js";

describe("fnmatch", () => {
  test("matches as Python's fnmatch does (case-sensitive, whole name)", () => {
    // [pattern, name, fnmatch.fnmatchcase(name, pattern)]
    const cases: [string, string, boolean][] = [
      ["swarm_*", "swarm_learn", true],
      ["swarm_*", "swarm_", true],
      ["swarm_*", "swarm", false],
      ["swarm_*", "Swarm_learn", false],
      ["*", "", true],
      ["*", "any thing/at all\n", true],
      ["a?c", "abc", true],
      ["a?c", "ac", false],
      ["a?c", "a/c", true],
      ["[ab]x", "bx", true],
      ["[!ab]x", "bx", false],
      ["[!ab]x", "cx", true],
      ["[a-c]", "b", true],
      ["[a-c]", "d", false],
      ["[z-a]", "a", false],
      ["[!z-a]", "q", true],
      ["[-a]", "-", true],
      ["[a-]", "-", true],
      ["[]]", "]", true],
      ["[]-a]", "_", true],
      ["[!]]", "x", true],
      ["[!]]", "]", false],
      ["[", "[", true],
      ["[abc", "[abc", true],
      ["x[!]", "x[!]", true],
      ["*a*b", "xxaxxb", true],
      ["*a*b", "xxbxxa", false],
      ["a.b", "a.b", true],
      ["a.b", "axb", false],
      ["a+", "aa", false],
      ["(a|b)*", "(a|b)x", true],
      ["(a|b)*", "a", false],
      ["^a$*", "^a$z", true],
      ["\\*", "\\x", true],
      ["é*", "été", true],
      ["?", "😀", true],
      ["??", "😀", false],
    ];
    for (const [pattern, name, want] of cases)
      assert.equal(matchesTaskPattern(pattern, name), want, `fnmatch(${JSON.stringify(name)}, ${JSON.stringify(pattern)})`);
  });

  test("FLARE's rule: only a name with '*' is a pattern", () => {
    assert.equal(isTaskPattern("swarm_*"), true);
    assert.equal(isTaskPattern("train?"), false);
    assert.equal(isTaskPattern("[ab]"), false);
    const r = taskRouter([{ tasks: ["train?", "[ab]"], value: 1 }], { list: "executors" });
    assert.equal(r.route("train?"), 1);
    assert.equal(r.route("trainX"), undefined);
    assert.equal(r.route("a"), undefined);
  });

  test("a name without specials matches only itself; '*' matches everything; quick on long names", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 12 }).filter((s) => !/[*?[]/.test(s)),
        fc.string({ maxLength: 12 }),
        (p, name) => {
          assert.equal(matchesTaskPattern(p, name), p === name);
          assert.equal(matchesTaskPattern("*", name), true);
          assert.equal(matchesTaskPattern(`${p}*`, name), name.startsWith(p));
        },
      ),
      { numRuns: 500 },
    );
    const started = performance.now();
    assert.equal(matchesTaskPattern("*a*a*a*a*a*a*a*a*b", "a".repeat(5000)), false);
    assert.ok(performance.now() - started < 2000);
  });

  test("overlapOf: the example task matches both patterns; none is found only when none exists", () => {
    const token = fc.constantFrom("a", "b", "*", "?", "[ab]", "[!a]", "[b-c]");
    const pattern = fc.array(token, { minLength: 1, maxLength: 4 }).map((t) => t.join(""));
    const names = ["", ..."abcz"].flatMap((x) => ["", ..."abcz"].flatMap((y) => ["", ..."abcz"].map((z) => x + y + z)));
    fc.assert(
      fc.property(pattern, pattern, (p, q) => {
        const example = overlapOf(p, q);
        if (example !== undefined) {
          assert.ok(matchesTaskPattern(p, example) && matchesTaskPattern(q, example), `${JSON.stringify(example)} for ${p} and ${q}`);
        } else
          assert.equal(
            names.find((n) => matchesTaskPattern(p, n) && matchesTaskPattern(q, n)),
            undefined,
            `${p} and ${q}`,
          );
      }),
      { numRuns: 1000 },
    );
  });
});

describe("routing", () => {
  test("exact names win, then the first pattern that matches, as FLARE's TaskRouter", () => {
    const r = taskRouter(
      [
        { tasks: ["swarm_*"], value: "swarm" },
        { tasks: ["swarm_report", "train"], value: "exact" },
        { tasks: ["cse_*", "v?lidate"], value: "cse" },
        { tasks: ["*"], value: "any" },
      ],
      { list: "executors" },
    );
    assert.equal(r.route("swarm_report"), "exact");
    assert.equal(r.route("swarm_learn"), "swarm");
    assert.equal(r.route("train"), "exact");
    assert.equal(r.route("cse_eval"), "cse");
    assert.equal(r.route("validate"), "any", "v?lidate has no '*': it is an exact name");
    assert.equal(r.route("anything"), "any");
    assert.equal(taskRouter([{ tasks: ["train"], value: 1 }], { list: "executors" }).route("validate"), undefined);
  });

  test("a name listed twice and ambiguous patterns are refused, naming the file and fields", () => {
    const refusedWith = (entries: { tasks: string[]; value: number }[], re: RegExp) =>
      assert.throws(
        () => taskRouter(entries, { file: "my_job/app/config/config_fed_client.conf", list: "executors" }),
        (e: unknown) =>
          isCohortError(e, RuntimeErrorCode.TaskRouting) && re.test(e.message) && e.message.startsWith("my_job/app/config/config_fed_client.conf: "),
      );
    refusedWith(
      [
        { tasks: ["a"], value: 1 },
        { tasks: ["a"], value: 2 },
      ],
      /executors\[1\]\.tasks\[0\]: task "a" is already listed at executors\[0\]\.tasks\[0\]/,
    );
    refusedWith(
      [
        { tasks: ["*"], value: 1 },
        { tasks: ["*"], value: 2 },
      ],
      /task "\*" is already listed/,
    );
    refusedWith(
      [
        { tasks: ["t*"], value: 1 },
        { tasks: ["*n"], value: 2 },
      ],
      /the pattern "\*n" and "t\*" \(executors\[0\]\.tasks\[0\]\) both match a task such as "tn"/,
    );
    refusedWith(
      [
        { tasks: ["[ab]*"], value: 1 },
        { tasks: ["?b*"], value: 2 },
      ],
      /both match a task such as "ab"/,
    );
    // Disjoint patterns, one entry's own patterns, and a catch-all last are fine.
    taskRouter(
      [
        { tasks: ["swarm_*", "sw*"], value: 1 },
        { tasks: ["cse_*"], value: 2 },
        { tasks: ["[!sc]*"], value: 3 },
        { tasks: ["*"], value: 4 },
      ],
      { list: "executors" },
    );
  });
});

const model = (params: Record<string, Float32Array>) => new FLModel({ params, paramsType: "FULL", meta: {} });

describe("the job child and the site route tasks the same way", () => {
  test("job-host: executors and the job's filters by exact name, then pattern", async () => {
    const appDir = join(tempDir("cohort-routing-"), "app");
    mkdirSync(join(appDir, "custom"), { recursive: true });
    writeFileSync(
      join(appDir, "custom", "probe.js"),
      "export class Probe {\n  constructor(args) { this.tag = args.tag; }\n  async execute(task, payload, ctx) {\n    const m = ctx.wire.decode(payload);\n    return ctx.wire.encode(new ctx.wire.FLModel({ params: m.params, paramsType: 'FULL', meta: { tag: this.tag, task } }));\n  }\n}\n",
    );
    const probe = (tag: string, tasks: string[]) => ({ tasks, executor: { path: "probe.Probe", args: { tag } } });
    const exclude = (vars: string[], tasks: string[]) => ({ tasks, filters: [{ name: "ExcludeVars", args: { exclude_vars: vars } }] });
    const client = clientConfigSchema.parse({
      executors: [probe("swarm", ["swarm_*"]), probe("exact", ["train", "swarm_report"]), probe("any", ["*"])],
      task_result_filters: [exclude(["a"], ["val*"]), exclude(["b"], ["train"])],
    });
    const abort = new AbortController();
    const host = await buildSiteJob(
      {
        jobId: "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69",
        jobName: "routing",
        site: "site-1",
        sites: ["site-1"],
        appDir,
        runDir: tempDir("cohort-routing-run-"),
        role: "client",
        resume: false,
        client,
      },
      { signal: abort.signal, log: () => undefined, warn: () => undefined },
    );
    try {
      const run = async (task: string) => decode(await host.ctx.runTask(task, encode(model({ a: new Float32Array(2), b: new Float32Array(2) })))) as FLModel;
      const seen = async (task: string) => {
        const m = await run(task);
        return { tag: m.meta["tag"], params: Object.keys(m.params).sort() };
      };
      assert.deepEqual(await seen("swarm_learn"), { tag: "swarm", params: ["a", "b"] });
      assert.deepEqual(await seen("swarm_report"), { tag: "exact", params: ["a", "b"] });
      assert.deepEqual(await seen("train"), { tag: "exact", params: ["a"] });
      assert.deepEqual(await seen("validate"), { tag: "any", params: ["b"] });
      assert.deepEqual(await seen("other"), { tag: "any", params: ["a", "b"] });
    } finally {
      abort.abort("test over");
    }
  });

  test("gate: the control-only executor is found by pattern; duplicates are refused when the gate is built", async () => {
    const gate = (executors: unknown[]) =>
      SiteJobGate.build({
        site: "site-1",
        jobId: "00000000-0000-4000-8000-000000000000",
        app: clientConfigSchema.parse({ executors }),
        scope: undefined,
        he: undefined,
        charge: async () => undefined,
        log: () => undefined,
        onMetricsDropped: () => undefined,
      });
    const g = gate([
      { tasks: ["train"], executor: { path: "cohort.NoOpTrainer" } },
      { tasks: ["swarm_*"], executor: { path: "cohort.SwarmClientController" } },
    ]);
    const ok = encode({ role: "trainer", metrics: { loss: 0.1 } });
    assert.deepEqual(await g.resultOut("swarm_learn", ok, undefined), ok);
    await assert.rejects(g.resultOut("swarm_learn", encode(model({ w: new Float32Array(4) })), undefined), (e: unknown) =>
      isCohortError(e, RuntimeErrorCode.ResultRefused),
    );
    assert.throws(
      () =>
        gate([
          { tasks: ["*"], executor: { path: "cohort.NoOpTrainer" } },
          { tasks: ["swarm_*"], executor: { path: "cohort.SwarmClientController" } },
        ]),
      (e: unknown) => isCohortError(e, RuntimeErrorCode.TaskRouting),
    );
  });
});
