/**
 * FLARE's NPModelPersistor: the initial model from the config as float32 with its shape, saved as a
 * .npy file numpy.load reads (checked with Debian's numpy), read back on resume; bad models and
 * files refused with the field or file named.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NPModelPersistor, npPersistorArgs, tensorFromNested } from "../../src/runtime/components/np-persistor.js";
import { decodeNpy, encodeNpy } from "../../src/runtime/components/npy.js";
import { Tensor } from "../../src/wire/index.js";
import { tempDir } from "../helpers/index.js";
import { PYTHON, requireSystem } from "../helpers/requirements.js";

test("the initial model is FLARE's default or the config's nested list, as float32 with its shape", () => {
  const dir = tempDir();
  const fallback = new NPModelPersistor(npPersistorArgs.parse({}), dir).load(false).params["numpy_key"] as Tensor;
  assert.deepEqual(
    [fallback.shape, [...fallback.data]],
    [
      [3, 3],
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    ],
  );
  const given = new NPModelPersistor(
    npPersistorArgs.parse({
      initial_model: [
        [0.5, 1],
        [2, 3],
        [4, 5],
      ],
    }),
    dir,
  ).load(false).params["numpy_key"] as Tensor;
  assert.deepEqual(
    [given.shape, [...given.data]],
    [
      [3, 2],
      [0.5, 1, 2, 3, 4, 5],
    ],
  );
  assert.throws(() => tensorFromNested([[1, 2], [3]], "f"), /f\[1\] must be a list of 2 \(the model must be rectangular\)/);
  assert.throws(() => tensorFromNested([[1, "x"]], "f"), /f\[0\]\[1\] is "x", not a finite number/);
  assert.throws(() => npPersistorArgs.parse({ model_name: "../../startup/client.key" }), /must be a file or folder name, not a path/);
});

test("saved as models/server.npy that numpy.load reads; read back when the job resumes", (t) => {
  const dir = tempDir();
  const p = new NPModelPersistor(npPersistorArgs.parse({}), dir);
  p.save(0, { numpy_key: new Tensor(Float32Array.from([4, 5, 6, 7, 8, 9, 10, 11, 12.5]), [3, 3]) });
  const file = join(dir, "models", "server.npy");
  const back = decodeNpy(readFileSync(file), file);
  assert.deepEqual(
    [back.shape, [...back.data]],
    [
      [3, 3],
      [4, 5, 6, 7, 8, 9, 10, 11, 12.5],
    ],
  );
  const resumed = p.load(true).params["numpy_key"] as Tensor;
  assert.deepEqual([...resumed.data], [...back.data]);
  const py = requireSystem("python3");
  if (py.skip) {
    t.diagnostic(`numpy check skipped: ${py.skip}`);
    return;
  }
  const out = execFileSync(PYTHON, ["-c", `import numpy as np; a = np.load(${JSON.stringify(file)}); print(a.dtype, a.shape, a.tolist())`], {
    encoding: "utf8",
  });
  assert.equal(out.trim(), "float32 (3, 3) [[4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.5]]");
  // And a float64 file written by numpy reads as float32.
  const f64 = join(dir, "f64.npy");
  execFileSync(PYTHON, ["-c", `import numpy as np; np.save(${JSON.stringify(f64)}, np.arange(6, dtype=np.float64).reshape(2, 3))`]);
  const read = decodeNpy(readFileSync(f64), f64);
  assert.deepEqual(
    [read.shape, [...read.data]],
    [
      [2, 3],
      [0, 1, 2, 3, 4, 5],
    ],
  );
});

test("files that are not float .npy arrays are refused with the file named", () => {
  const dir = tempDir();
  const file = join(dir, "bad.npy");
  const good = encodeNpy(Float32Array.from([1, 2]), [2]);
  for (const [bytes, why] of [
    [Buffer.from("not numpy at all"), /no NUMPY magic/],
    [Buffer.concat([good.subarray(0, good.length - 4)]), /2 elements need 8 bytes, the file has 4/],
    [Buffer.from(good.toString("latin1").replace("<f4", "<i4"), "latin1"), /dtype <i4/],
  ] as const) {
    writeFileSync(file, bytes);
    assert.throws(
      () => decodeNpy(readFileSync(file), file),
      (err: Error) => err.message.includes(file) && why.test(err.message),
    );
  }
});
