/**
 * docs/privacy.md "Filters": a filter that throws, or returns something that is not an FLModel,
 * stops the task with ERR_PRIVACY_FILTER; later filters do not run and nothing unfiltered comes out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyFilterChain, type ChainedFilter } from "../../src/privacy/index.js";
import type { FilterContext } from "../../src/privacy/index.js";
import { FLModel } from "../../src/wire/index.js";

const ctx: FilterContext = { site: "site-1", jobId: "j", taskName: "train", direction: "out", charge: async () => undefined, log: () => undefined };
const model = new FLModel({ params: { w: new Float32Array([1, 2, 3]) }, paramsType: "DIFF", meta: {} });

function chain(first: (m: FLModel) => unknown): { chain: ChainedFilter[]; laterRan: () => boolean } {
  let ran = false;
  return {
    chain: [
      { label: "first", source: "job", filter: { filter: (m: FLModel) => first(m) as FLModel } },
      {
        label: "later",
        source: "site",
        filter: {
          filter: (m: FLModel) => {
            ran = true;
            return m;
          },
        },
      },
    ],
    laterRan: () => ran,
  };
}

test("a filter returning something other than an FLModel stops the task; later filters do not run", async () => {
  const cases: [string, (m: FLModel) => unknown][] = [
    ["a plain object with the same fields", (m) => ({ params: m.params, paramsType: m.paramsType, meta: m.meta })],
    ["undefined", () => undefined],
    ["the params alone", (m) => m.params],
    ["a promise of a plain object", async (m) => ({ params: m.params })],
  ];
  for (const [what, f] of cases) {
    const c = chain(f);
    await assert.rejects(
      applyFilterChain(c.chain, model, ctx),
      (e: { code?: string; message: string }) =>
        e.code === "ERR_PRIVACY_FILTER" && /job filter first returned something that is not an FLModel \(task train at site-1\)/.test(e.message),
      what,
    );
    assert.equal(c.laterRan(), false, `${what}: the chain stops`);
  }
});

test("a filter that throws stops the task with its reason", async () => {
  const c = chain(() => {
    throw new Error("no");
  });
  await assert.rejects(
    applyFilterChain(c.chain, model, ctx),
    (e: { code?: string; message: string }) =>
      e.code === "ERR_PRIVACY_FILTER" && /job filter first refused the result of task train at site-1: no/.test(e.message),
  );
  assert.equal(c.laterRan(), false);
});

test("control: filters returning FLModels run in order", async () => {
  const c = chain((m) => new FLModel({ params: { w: new Float32Array([0, 0, 0]) }, paramsType: m.paramsType, meta: m.meta }));
  const out = await applyFilterChain(c.chain, model, ctx);
  assert.deepEqual([...(out.params["w"] as Float32Array)], [0, 0, 0]);
  assert.ok(c.laterRan());
});
