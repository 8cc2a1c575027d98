/** The Client API channel framing (docs/protocol.md §3): test vectors, reassembly, refusals. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { concatParts, encode, FLModel } from "../../src/wire/index.js";
import { FrameReader, frameParts, parseFromScript } from "../../src/runtime/client-api/channel.js";

const hx = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

const READY = hx("15 00 00 00 82 a4 74 79 70 65 a5 72 65 61 64 79 a7 76 65 72 73 69 6f 6e 01");
const LOG = hx("26 00 00 00 83 a4 74 79 70 65 a3 6c 6f 67 a3 6b 65 79 a8 61 63 63 75 72 61 63 79 a5 76 61 6c 75 65 cb 3f e0 00 00 00 00 00 00");
const TASK = hx(`99 00 00 00 85 a4 74 79 70 65 a4 74 61 73 6b a7 74 61 73 6b 5f 69 64 a1 31 a9 74 61 73 6b 5f 6e
61 6d 65 a5 74 72 61 69 6e a4 6b 69 6e 64 a5 74 72 61 69 6e a5 6d 6f 64 65 6c c7 60 08 92 ae 63
6f 68 6f 72 74 2e 46 4c 4d 6f 64 65 6c 86 a6 70 61 72 61 6d 73 81 a1 62 c7 05 01 07 00 00 00 3f
ab 70 61 72 61 6d 73 5f 74 79 70 65 a4 46 55 4c 4c a7 6d 65 74 72 69 63 73 c0 a4 6d 65 74 61 80
ad 63 75 72 72 65 6e 74 5f 72 6f 75 6e 64 00 ac 74 6f 74 61 6c 5f 72 6f 75 6e 64 73 02`);

test("docs/protocol.md §3.4 vectors", () => {
  assert.deepEqual(concatParts(frameParts({ type: "ready", version: 1 })), READY);
  assert.deepEqual(concatParts(frameParts({ type: "log", key: "accuracy", value: 0.5 })), LOG);
  const model = new FLModel({ params: { b: new Float32Array([0.5]) }, paramsType: "FULL", currentRound: 0, totalRounds: 2, meta: {} });
  assert.deepEqual(concatParts(frameParts({ type: "task", task_id: "1", task_name: "train", kind: "train", model })), TASK);
  assert.deepEqual(parseFromScript(READY.subarray(4)), { type: "ready", version: 1 });
  assert.deepEqual(parseFromScript(LOG.subarray(4)), { type: "log", key: "accuracy", value: 0.5 });
});

test("frames are reassembled from any split, several per chunk, large ones included", () => {
  const big = concatParts(frameParts({ type: "result", task_id: "7", model: new FLModel({ params: { w: new Float32Array(100_000).fill(2) } }) }));
  const stream = new Uint8Array([...READY, ...big, ...LOG]);
  for (const step of [1, 3, 4096, stream.length]) {
    const r = new FrameReader();
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += step) out.push(...r.push(stream.subarray(i, i + step)));
    assert.equal(out.length, 3);
    assert.equal(r.partial, false);
    const m = parseFromScript(out[1] as Uint8Array);
    assert.equal(m.type, "result");
    if (m.type === "result") assert.equal((m.model.params["w"] as Float32Array)[99_999], 2);
  }
});

test("a length beyond the limit, garbage and invalid messages are refused with ERR_CLIENT_API_PROTOCOL", () => {
  assert.throws(() => new FrameReader(1024).push(hx("01 04 00 00")), /ERR_CLIENT_API_PROTOCOL|announced a message of 1025 bytes/);
  assert.throws(() => new FrameReader().push(hx("00 00 00 00")), /announced a message of 0 bytes/);
  assert.throws(() => parseFromScript(new TextEncoder().encode("hello")), /not a Cohort wire message/);
  assert.throws(() => parseFromScript(encode({ type: "result", task_id: "1", model: { params: {} } })), /invalid Client API message: model/);
  assert.throws(() => parseFromScript(encode({ type: "exec", cmd: "rm" })), /invalid Client API message/);
});
