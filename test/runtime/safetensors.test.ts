/**
 * The safetensors parser (src/runtime/components/safetensors.ts) against hostile files, and FLARE's
 * PTFileModelPersistor built on it: initial weights only from a file inside the app folder, the
 * global and best models saved as safetensors each round.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tensor } from "../../src/wire/index.js";
import "../../src/runtime/components/builtins.js";
import { componentFor } from "../../src/runtime/components/registry.js";
import { encodeSafetensors, MAX_SAFETENSORS_HEADER, parseSafetensors } from "../../src/runtime/components/safetensors.js";
import { PT_FILE_MODEL_PERSISTOR, type PTFileModelPersistor } from "../../src/runtime/components/pt-persistor.js";
import { PT_FILE_MODEL_LOCATOR, type PTFileModelLocator } from "../../src/runtime/components/pt-locator.js";
import { tempDir } from "../helpers/index.js";
import { testSiteContext } from "../helpers/job-contexts.js";

/** A file with `header` (JSON text or object) and `body` bytes; `declared` overrides the length field. */
function file(header: unknown, body: Uint8Array = new Uint8Array(0), declared?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + body.byteLength);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(text.byteLength), true);
  out.set(text, 8);
  out.set(body, 8 + text.byteLength);
  return out;
}
const f32 = (...v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
const refused = (bytes: Uint8Array, pattern: RegExp): void => {
  assert.throws(
    () => parseSafetensors(bytes, "app/custom/w.safetensors"),
    (e: Error & { code?: string }) => e.code === "ERR_WORKFLOW_BAD_MODEL" && /app\/custom\/w\.safetensors/.test(e.message) && pattern.test(e.message),
  );
};

describe("safetensors parser", () => {
  test("reads what it writes: names, shapes, float32 values and metadata", () => {
    const params = { "conv.weight": new Tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [1, 2, 3]), "fc.bias": new Float32Array([0.5, -1]) };
    const bytes = encodeSafetensors(params, { round: "2" });
    assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0, "data 8-byte aligned, as the library writes");
    const { params: back, metadata } = parseSafetensors(bytes, "m");
    assert.deepEqual(metadata, { round: "2" });
    const w = back["conv.weight"];
    assert.ok(w instanceof Tensor);
    assert.deepEqual([...w.shape], [1, 2, 3]);
    assert.deepEqual([...w.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(back["fc.bias"], new Float32Array([0.5, -1]), "1-D as a Float32Array, as the wire carries numpy vectors");
  });

  test("F64, F16 and BF16 are converted to float32", () => {
    const f64 = new Uint8Array(new Float64Array([1.5, -2]).buffer);
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer); // 1, -2
    const bf16 = new Uint8Array(new Uint16Array([0x3fc0]).buffer); // 1.5
    const body = new Uint8Array([...f64, ...f16, ...bf16]);
    const { params } = parseSafetensors(
      file(
        {
          a: { dtype: "F64", shape: [2], data_offsets: [0, 16] },
          b: { dtype: "F16", shape: [2], data_offsets: [16, 20] },
          c: { dtype: "BF16", shape: [1], data_offsets: [20, 22] },
        },
        body,
      ),
      "m",
    );
    assert.deepEqual(params["a"], new Float32Array([1.5, -2]));
    assert.deepEqual(params["b"], new Float32Array([1, -2]));
    assert.deepEqual(params["c"], new Float32Array([1.5]));
  });

  test("hostile lengths are refused before anything is read", () => {
    refused(new Uint8Array(5), /fewer than the 8/);
    refused(file({}, new Uint8Array(0), 1n << 62n), /header length .* outside/);
    refused(file({}, new Uint8Array(0), BigInt(MAX_SAFETENSORS_HEADER + 1)), /outside 2\.\./);
    refused(file({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, f32(1), 4000n), /runs past the file's end/);
    refused(file("{not json"), /not UTF-8 JSON/);
    refused(file("[1,2]"), /not a JSON object/);
    refused(file({}), /holds no tensors/);
  });

  test("offsets must tile the data: overlaps, gaps, short and trailing data are refused", () => {
    const two = f32(1, 2);
    refused(
      file(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        },
        two,
      ),
      /overlap or leave a gap/,
    );
    refused(file({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, two), /begins at 4, expected 0/);
    refused(file({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, two), /end at byte 4 of 8/);
    refused(file({ a: { dtype: "F32", shape: [3], data_offsets: [0, 12] } }, two), /end at byte 12 of 8|overlap/);
    refused(file({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, two), /needs 12/);
    refused(file({ a: { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, two), /begin <= end/);
    refused(file({ a: { dtype: "F32", shape: [2], data_offsets: [-1, 7] } }, two), /begin <= end/);
    refused(file({ a: { dtype: "F32", shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, two), /more elements than the file has bytes/);
    refused(file({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, two), /non-negative integers/);
    refused(file({ a: { dtype: "F32", shape: new Array(40).fill(1), data_offsets: [0, 4] } }, f32(1)), /at most 16/);
  });

  test("integer and unknown dtypes are refused, naming the tensor and what to do", () => {
    const eight = new Uint8Array(8);
    refused(
      file({ "bn.num_batches_tracked": { dtype: "I64", shape: [], data_offsets: [0, 8] } }, eight),
      /"bn\.num_batches_tracked" has dtype "I64".*num_batches_tracked/,
    );
    refused(file({ a: { dtype: "F8_E4M3", shape: [8], data_offsets: [0, 8] } }, eight), /dtype "F8_E4M3"/);
    refused(file({ a: "x" }, eight), /not described by an object/);
    refused(file({ __metadata__: { a: 1 }, b: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, eight), /__metadata__ must map names to strings/);
  });

  test("random bytes and truncations never crash the parser: each is parsed or refused with the reason", () => {
    const good = encodeSafetensors({ w: new Tensor(new Float32Array(12).fill(1), [3, 4]), b: new Float32Array(3) });
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 500; i++) {
      const bytes = good.slice(0, i % 3 === 0 ? rand() % good.byteLength : good.byteLength);
      for (let k = 0; k < 1 + (rand() % 4); k++) if (bytes.byteLength > 0) bytes[rand() % bytes.byteLength] = rand() & 0xff;
      try {
        parseSafetensors(bytes, "fuzz");
      } catch (e) {
        assert.equal((e as { code?: string }).code, "ERR_WORKFLOW_BAD_MODEL", String(e));
      }
    }
  });
});

describe("FLARE's PTFileModelPersistor", () => {
  const persistor = (args: Record<string, unknown>, app: string, run = tempDir()): PTFileModelPersistor => {
    const def = componentFor(PT_FILE_MODEL_PERSISTOR);
    assert.ok(def, "registered");
    return def.create(args, { ...testSiteContext({ runDir: run }), appDir: app }) as PTFileModelPersistor;
  };
  const app = (): string => {
    const dir = tempDir();
    mkdirSync(join(dir, "custom"));
    writeFileSync(
      join(dir, "custom", "init.safetensors"),
      encodeSafetensors({ "fc.weight": new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]), "fc.bias": new Float32Array([0, 1]) }),
    );
    return dir;
  };

  test("loads the initial weights from the app, saves the global and best models as safetensors", () => {
    const run = tempDir();
    const p = persistor({ model: { path: "model.SimpleNetwork" }, initial_weights_file: "custom/init.safetensors" }, app(), run);
    const { params } = p.load(false);
    assert.deepEqual(Object.keys(params).sort(), ["fc.bias", "fc.weight"]);
    p.save(0, params);
    const saved = join(run, "models", "FL_global_model.safetensors");
    assert.ok(existsSync(saved));
    p.noteMetrics(0, { accuracy: 0.5 });
    p.noteMetrics(1, { accuracy: 0.4 });
    assert.deepEqual(JSON.parse(readFileSync(join(run, "models", "best.json"), "utf8")), { round: 1, accuracy: 0.5 });
    assert.deepEqual(p.modelInventory(), ["best_model"]);
    p.finish(params, { accuracy: 0.6 });
    assert.deepEqual(p.modelInventory(), ["global_model", "best_model"]);
    assert.deepEqual(Object.keys(p.modelNamed("best_model")).sort(), ["fc.bias", "fc.weight"]);
    assert.deepEqual(parseSafetensors(readFileSync(saved), saved).params["fc.bias"], new Float32Array([0, 1]));
    assert.deepEqual(Object.keys(p.load(true).params).sort(), ["fc.bias", "fc.weight"], "a resumed job starts from the saved model");
  });

  test("PTFileModelLocator hands CrossSiteModelEval the persistor's saved models by FLARE's file names", () => {
    const p = persistor({ initial_weights_file: "custom/init.safetensors" }, app());
    const ctx = { ...testSiteContext({ runDir: tempDir() }), component: <T>(id: string): T => (id === "persistor" ? p : undefined) as T };
    const locator = componentFor(PT_FILE_MODEL_LOCATOR)?.create({ pt_persistor_id: "persistor" }, ctx) as PTFileModelLocator;
    assert.deepEqual(locator.getModelNames(), []);
    const { params } = p.load(false);
    p.save(0, params);
    p.noteMetrics(0, { accuracy: 0.7 });
    assert.deepEqual(locator.getModelNames(), ["FL_global_model.pt", "best_FL_global_model.pt"]);
    assert.deepEqual(locator.locateModel("best_FL_global_model.pt")["fc.bias"], new Float32Array([0, 1]));
    assert.throws(() => locator.locateModel("other.pt"), /saved no model "other\.pt"/);
    const wrong = componentFor(PT_FILE_MODEL_LOCATOR)?.create({ pt_persistor_id: "nope" }, ctx) as PTFileModelLocator;
    assert.throws(() => wrong.getModelNames(), /pt_persistor_id "nope" must name a PTFileModelPersistor/);
  });

  test("a Python model class alone is refused with how to give initial weights", () => {
    assert.throws(
      () => persistor({ model: { path: "net.Net" } }, app()),
      /"net\.Net".*names a Python model class, which Cohort cannot build: its server never runs Python.*initial_weights_file.*FedAvgRecipe/,
    );
    assert.throws(() => persistor({ initial_weights_file: "custom/init.safetensors", source_ckpt_file_full_name: "/ckpt/model.pt" }, app()), /never unpickles/);
    assert.throws(() => persistor({ initial_weights_file: "x", not_an_arg: 1 }, app()), /not_an_arg/);
  });

  test("initial_weights_file stays inside the app folder: absolute paths, .. and links out are refused", () => {
    const dir = app();
    const outside = join(tempDir(), "w.safetensors");
    writeFileSync(outside, readFileSync(join(dir, "custom", "init.safetensors")));
    symlinkSync(outside, join(dir, "custom", "link.safetensors"));
    for (const [file, pattern] of [
      [outside, /inside the app folder/],
      ["../x.safetensors", /no \.\./],
      ["custom/../../x", /no \.\./],
      ["custom/link.safetensors", /leads outside the app folder/],
      ["custom/missing.safetensors", /is not in the app folder/],
      ["custom", /is not a file/],
    ] as const)
      assert.throws(() => persistor({ initial_weights_file: file }, dir).load(false), pattern, file);
  });
});
