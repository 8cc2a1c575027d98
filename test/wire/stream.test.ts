import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StreamReceiver, chunkPayload, concatParts, decode, encodeParts, needsStreaming, CHUNK_HEADER_BYTES, type WireError } from "../../src/wire/index.js";
import { throwsWire } from "./helpers.js";

const KiB = 1024;

function chunksOf(payload: Uint8Array | Uint8Array[], chunkBytes = 4 * KiB): { streamId: string; chunks: Uint8Array[] } {
  const out = chunkPayload(payload, { chunkBytes });
  return { streamId: out.streamId, chunks: [...out.chunks].map(concatParts) };
}

function payload(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff);
}

function feed(receiver: StreamReceiver, chunks: Uint8Array[], peer = "site-1"): ReturnType<StreamReceiver["accept"]> {
  let done: ReturnType<StreamReceiver["accept"]>;
  for (const c of chunks) done = receiver.accept(peer, c);
  return done;
}

test("a streamed encodeParts payload reassembles and decodes, with one SHA-256 pass", () => {
  const model = { w: new Float32Array(50_000).map((_, i) => i), round: 3 };
  const parts = encodeParts(model);
  const { chunks } = chunksOf(parts, 16 * KiB);
  assert.ok(needsStreaming(concatParts(parts).byteLength, 16 * KiB));
  assert.equal(chunks.length, Math.ceil(concatParts(parts).byteLength / (16 * KiB)) + 1);
  const receiver = new StreamReceiver();
  const done = feed(receiver, chunks);
  assert.ok(done && done.location === "memory");
  assert.deepEqual(decode(done.read()), model);
  assert.equal(done.sha256.length, 64);
  assert.deepEqual(receiver.usage("site-1"), { streams: 0, reservedBytes: 0 });
  receiver.close();
});

test("an empty payload is one END chunk", () => {
  const { chunks } = chunksOf(new Uint8Array(0));
  assert.equal(chunks.length, 1);
  const done = feed(new StreamReceiver(), chunks);
  assert.equal(done?.byteLength, 0);
});

test("large streams spill to a private file, which dispose removes", () => {
  const parent = mkdtempSync(join(tmpdir(), "wire-test-"));
  try {
    const data = payload(100 * KiB);
    const receiver = new StreamReceiver({ memoryThresholdBytes: 10 * KiB, spillDir: parent });
    const done = feed(receiver, chunksOf(data).chunks);
    assert.ok(done && done.location === "file" && done.path);
    assert.equal(statSync(done.path).mode & 0o777, 0o600);
    assert.deepEqual(done.read(), data);
    done.dispose();
    assert.ok(!existsSync(done.path));
    receiver.close();
    assert.deepEqual(readdirSync(parent), []);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test("a declared size above the peer quota is refused before anything is allocated", () => {
  const receiver = new StreamReceiver({ peerQuotaBytes: 10 * KiB });
  const { chunks } = chunksOf(payload(11 * KiB));
  const err = throwsWire(() => receiver.accept("site-1", chunks[0] as Uint8Array), "ERR_WIRE_STREAM_QUOTA");
  assert.equal(err.details.declaredBytes, 11 * KiB);
  assert.deepEqual(receiver.usage("site-1"), { streams: 0, reservedBytes: 0 });
});

test("the quota is per peer and counts every open stream", () => {
  const receiver = new StreamReceiver({ peerQuotaBytes: 20 * KiB });
  const a = chunksOf(payload(12 * KiB)).chunks;
  const b = chunksOf(payload(12 * KiB)).chunks;
  receiver.accept("site-1", a[0] as Uint8Array);
  assert.equal(receiver.usage("site-1").reservedBytes, 12 * KiB);
  throwsWire(() => receiver.accept("site-1", b[0] as Uint8Array), "ERR_WIRE_STREAM_QUOTA");
  receiver.accept("site-2", b[0] as Uint8Array); // another peer has its own quota
  assert.ok(feed(receiver, a.slice(1)));
  assert.equal(receiver.usage("site-1").reservedBytes, 0);
  receiver.close();
});

test("too many open streams from one peer are refused", () => {
  const receiver = new StreamReceiver({ maxStreamsPerPeer: 2 });
  receiver.accept("p", chunksOf(payload(9 * KiB)).chunks[0] as Uint8Array);
  receiver.accept("p", chunksOf(payload(9 * KiB)).chunks[0] as Uint8Array);
  throwsWire(() => receiver.accept("p", chunksOf(payload(9 * KiB)).chunks[0] as Uint8Array), "ERR_WIRE_STREAM_QUOTA");
  receiver.close();
});

function refusedAndFreed(mutate: (chunks: Uint8Array[]) => Uint8Array[], code: WireError["code"]): void {
  const receiver = new StreamReceiver();
  const { streamId, chunks } = chunksOf(payload(20 * KiB));
  const sent = mutate(chunks);
  let error: unknown;
  try {
    feed(receiver, sent);
  } catch (err) {
    error = err;
  }
  throwsWire(() => {
    if (error) throw error;
  }, code);
  assert.deepEqual(receiver.usage("site-1"), { streams: 0, reservedBytes: 0 }, "the failed stream is freed");
  // Whatever the peer sends next for that stream is refused, not silently restarted.
  throwsWire(() => receiver.accept("site-1", chunks[1] as Uint8Array), "ERR_WIRE_STREAM_UNKNOWN");
  assert.ok(streamId.length === 32);
}

test("out-of-order chunks are refused and the stream freed", () => {
  refusedAndFreed((c) => [c[0], c[2], c[1]] as Uint8Array[], "ERR_WIRE_STREAM_ORDER");
});

test("duplicate chunks are refused", () => {
  refusedAndFreed((c) => [c[0], c[1], c[1]] as Uint8Array[], "ERR_WIRE_STREAM_ORDER");
});

test("a missing chunk is refused", () => {
  refusedAndFreed((c) => [c[0], ...c.slice(2)] as Uint8Array[], "ERR_WIRE_STREAM_ORDER");
});

test("a stream that ends early is refused as incomplete", () => {
  const receiver = new StreamReceiver();
  const { chunks } = chunksOf(payload(20 * KiB));
  const end = chunks[chunks.length - 1] as Uint8Array;
  // An END chunk claiming index 2 after two DATA chunks: the stream is short of its declared size.
  const early = end.slice();
  new DataView(early.buffer).setUint32(24, 2, true);
  receiver.accept("site-1", chunks[0] as Uint8Array);
  receiver.accept("site-1", chunks[1] as Uint8Array);
  throwsWire(() => receiver.accept("site-1", early), "ERR_WIRE_STREAM_INCOMPLETE");
  assert.deepEqual(receiver.usage("site-1"), { streams: 0, reservedBytes: 0 });
});

test("chunks beyond the declared size or the chunk limit are refused", () => {
  refusedAndFreed((c) => {
    const first = c[0] as Uint8Array;
    const lying = first.slice();
    new DataView(lying.buffer).setUint32(32, 1 * KiB, true); // declares 1 KiB, carries 4 KiB
    return [lying];
  }, "ERR_WIRE_STREAM_SIZE");
  const receiver = new StreamReceiver({ maxChunkBytes: 1 * KiB });
  throwsWire(() => receiver.accept("p", chunksOf(payload(8 * KiB)).chunks[0] as Uint8Array), "ERR_WIRE_STREAM_SIZE");
  assert.deepEqual(receiver.usage("p"), { streams: 0, reservedBytes: 0 });
});

test("a corrupted byte fails the integrity check at the end", () => {
  refusedAndFreed((c) => {
    const bad = (c[2] as Uint8Array).slice();
    bad[CHUNK_HEADER_BYTES + 100] = (bad[CHUNK_HEADER_BYTES + 100] as number) ^ 0x01;
    return [c[0], c[1], bad, ...c.slice(3)] as Uint8Array[];
  }, "ERR_WIRE_STREAM_INTEGRITY");
});

test("a chunk whose length disagrees with its header is refused", () => {
  const receiver = new StreamReceiver();
  const { chunks } = chunksOf(payload(9 * KiB));
  throwsWire(() => receiver.accept("p", (chunks[0] as Uint8Array).subarray(0, 100)), "ERR_WIRE_TRUNCATED");
  throwsWire(() => receiver.accept("p", new Uint8Array(10)), "ERR_WIRE_TRUNCATED");
  throwsWire(() => receiver.accept("p", new Uint8Array(CHUNK_HEADER_BYTES)), "ERR_WIRE_MALFORMED");
});

test("idle streams time out and are freed, including their spill file", () => {
  const parent = mkdtempSync(join(tmpdir(), "wire-test-"));
  try {
    let now = 1_000;
    const failures: string[] = [];
    const receiver = new StreamReceiver({
      idleTimeoutMs: 500,
      now: () => now,
      memoryThresholdBytes: 4 * KiB,
      spillDir: parent,
      onStreamFailed: ({ error }) => failures.push(error.code),
    });
    const { chunks } = chunksOf(payload(20 * KiB));
    receiver.accept("site-1", chunks[0] as Uint8Array);
    const spill = readdirSync(parent)[0] as string;
    assert.equal(readdirSync(join(parent, spill)).length, 1);
    now += 400;
    assert.equal(receiver.sweep(), 0);
    receiver.accept("site-1", chunks[1] as Uint8Array);
    now += 501;
    assert.equal(receiver.sweep(), 1);
    assert.deepEqual(failures, ["ERR_WIRE_STREAM_TIMEOUT"]);
    assert.deepEqual(receiver.usage("site-1"), { streams: 0, reservedBytes: 0 });
    assert.equal(readdirSync(join(parent, spill)).length, 0);
    throwsWire(() => receiver.accept("site-1", chunks[2] as Uint8Array), "ERR_WIRE_STREAM_UNKNOWN");
    receiver.close();
    throwsWire(() => receiver.accept("site-1", chunks[0] as Uint8Array), "ERR_WIRE_STREAM_CLOSED");
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test("streams of different peers with the same id do not interfere", () => {
  const id = new Uint8Array(16).fill(7);
  const a = [...chunkPayload(payload(9 * KiB), { chunkBytes: 4 * KiB, streamId: id }).chunks].map(concatParts);
  const b = [...chunkPayload(payload(5 * KiB), { chunkBytes: 4 * KiB, streamId: id }).chunks].map(concatParts);
  const receiver = new StreamReceiver();
  receiver.accept("site-1", a[0] as Uint8Array);
  assert.equal(feed(receiver, b, "site-2")?.byteLength, 5 * KiB);
  assert.equal(feed(receiver, a.slice(1), "site-1")?.byteLength, 9 * KiB);
});
