/**
 * The Python Client API module (python/cohort_flare): its own unit tests, and wire interop with
 * the TypeScript reference (messages written by one side are read exactly by the other).
 * Skipped, naming the packages to install, where /usr/bin/python3 with numpy and msgpack is not
 * available (a failure under CI=true).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { decode, encode, FLModel, Tensor } from "../../src/wire/index.js";
import { REPO_ROOT } from "../helpers/index.js";
import { PYTHON, requireSystem } from "../helpers/requirements.js";

const PY_DIR = join(REPO_ROOT, "python");
const needsPython = requireSystem("python3");

function python(code: string, input: Uint8Array): Buffer {
  const r = spawnSync(PYTHON, ["-c", code], {
    input,
    env: { PYTHONPATH: PY_DIR, PATH: "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1" },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

test("python/tests pass under /usr/bin/python3 -m unittest", { ...needsPython, timeout: 60_000 }, () => {
  const r = spawnSync(PYTHON, ["-m", "unittest", "discover", "-s", "tests", "-t", "."], {
    cwd: PY_DIR,
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1" },
    timeout: 50_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /Ran \d+ tests[\s\S]*OK/);
});

test("a model written by TypeScript is read by Python, changed, and read back by TypeScript", { ...needsPython, timeout: 30_000 }, () => {
  const big = new Float32Array(50_000).map((_, i) => i / 7);
  const sent = encode(
    new FLModel({
      params: { w: big, b: new Float32Array([1, -2]), t: new Tensor(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]), i: new Int32Array([7, 8]) },
      paramsType: "FULL",
      metrics: { accuracy: 0.5 },
      meta: { round: 3, name: "x", when: new Date(0), nested: { list: [1, "a", null] } },
      currentRound: 2,
      totalRounds: 5,
    }),
  );
  const out = python(
    `import sys, numpy as np
from cohort_flare.wire import decode, encode
from cohort_flare import FLModel
m = decode(bytearray(sys.stdin.buffer.read()))
assert isinstance(m, FLModel) and m.current_round == 2 and m.total_rounds == 5 and m.params_type == "FULL"
assert m.params["w"].dtype == np.float32 and m.params["w"].shape == (50000,)
assert m.params["t"].shape == (2, 3) and m.params["t"][1, 2] == 6.0
assert m.params["i"].dtype == np.int32 and m.meta["nested"] == {"list": [1, "a", None]}
assert m.meta["when"].timestamp() == 0
m.params["w"] *= 2
m.params["t"] = m.params["t"].T.copy()
m.metrics["accuracy"] = 0.75
sys.stdout.buffer.write(encode(m))`,
    sent,
  );
  const back = decode(new Uint8Array(out));
  assert.ok(back instanceof FLModel);
  assert.equal(back.currentRound, 2);
  assert.deepEqual(back.metrics, { accuracy: 0.75 });
  const w = back.params["w"] as Float32Array;
  assert.ok(w instanceof Float32Array);
  assert.equal(w[700], Math.fround(Math.fround(700 / 7) * 2));
  const t = back.params["t"] as Tensor;
  assert.ok(t instanceof Tensor);
  assert.deepEqual(t.shape, [3, 2]);
  assert.deepEqual([...t.data], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...(back.params["i"] as Int32Array)], [7, 8]);
  assert.deepEqual((back.meta["when"] as Date).getTime(), 0);
});
