/**
 * Large stream chunks placed by the tcp framing straight into the stream's buffer: the payload
 * arrives intact, the first chunk (which opens the stream) and anything not authentic take the
 * whole-frame path, where they are checked and refused as before.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { SecureChannel, type Refusal } from "../../src/transport/channel.js";
import { StreamReceiver } from "../../src/wire/index.js";
import { FrameDecoder, frameHeader } from "../../src/transport/drivers/framing.js";
import { decodeEnvelope } from "../../src/transport/envelope.js";
import type { Connection, FramePlacer } from "../../src/transport/driver.js";

const MiB = 1024 * 1024;

function fakeConnection(onSend: (parts: readonly Uint8Array[]) => void, onPlacer?: (p: FramePlacer) => void): Connection {
  return {
    id: "fake",
    scheme: "tcp",
    security: "mtls",
    remoteAddress: "127.0.0.1",
    peerCertificate: undefined,
    closed: false,
    send: async (parts) => onSend(parts),
    onFrame: () => undefined,
    onClose: () => undefined,
    close: () => undefined,
    ...(onPlacer ? { placeLargeFrames: onPlacer } : {}),
  };
}

async function run(tamper?: (frames: Buffer[]) => void): Promise<{ placed: number; refusals: Refusal[]; received: Uint8Array | undefined; payload: Buffer }> {
  const keys = { clientToServer: randomBytes(32), serverToClient: randomBytes(32) };
  const frames: Buffer[] = [];
  const sender = new SecureChannel({
    connection: fakeConnection((parts) => frames.push(Buffer.concat(parts))),
    role: "server",
    selfName: "localhost",
    peerName: "site-1",
    keys,
    streams: new StreamReceiver(),
  });
  const payload = randomBytes(5 * MiB + 123);
  await sender.sendStream("tensor", payload);
  tamper?.(frames);
  let placer: FramePlacer | undefined;
  let receiver: SecureChannel | undefined;
  const streams = new StreamReceiver({ digestFor: () => (receiver as SecureChannel).incomingStreamDigest() });
  const refusals: Refusal[] = [];
  receiver = new SecureChannel({
    connection: fakeConnection(
      () => undefined,
      (p) => (placer = p),
    ),
    role: "client",
    selfName: "site-1",
    peerName: "localhost",
    keys,
    streams,
    onRefusal: (r) => refusals.push(r),
  });
  let received: Uint8Array | undefined;
  receiver.onStream("tensor", (s) => (received = s.read()));
  let placed = 0;
  const decoder = new FrameDecoder(64 * MiB, {
    place: (head, n) => {
      const p = placer?.place(head, n);
      if (p) placed++;
      return p;
    },
    placer: () => placer,
  });
  // As TLS delivers them: 16 KiB reads.
  const wire = Buffer.concat(frames.flatMap((f) => [frameHeader(f.length), f]));
  for (let o = 0; o < wire.length; o += 16384) decoder.push(wire.subarray(o, o + 16384), (f) => (receiver as SecureChannel).handleFrame(f));
  await new Promise((r) => setImmediate(r));
  return { placed, refusals, received, payload };
}

test("DATA chunks after the first are placed and the payload arrives intact", async () => {
  const r = await run();
  assert.equal(r.placed, 4); // 5 DATA chunks of 1 MiB (the first opens the stream) and a small last one
  assert.deepEqual(r.refusals, []);
  assert.ok(r.received && Buffer.from(r.received).equals(r.payload));
});

test("a chunk whose payload was altered is placed, and the stream digest refuses the stream", async () => {
  const r = await run((frames) => {
    const f = frames[2] as Buffer;
    f[f.length - 1] = (f[f.length - 1] as number) ^ 1;
  });
  assert.equal(r.received, undefined);
  assert.ok(r.refusals.some((x) => x.code === "ERR_WIRE_STREAM_INTEGRITY"));
});

test("a chunk whose header was altered is not placed: the whole-frame path refuses it (bad MAC)", async () => {
  const r = await run((frames) => {
    const f = frames[3] as Buffer;
    const headerLength = f.readUInt32BE(0);
    f[4 + headerLength + 24] = (f[4 + headerLength + 24] as number) ^ 0x80; // chunk index
  });
  assert.equal(r.placed, 2); // chunks 1 and 2: chunk 3 is refused, later chunks are out of order
  assert.equal(r.received, undefined);
  assert.equal(r.refusals[0]?.code, "ERR_AUTH_BAD_MAC");
});

test("a chunk whose MAC was altered (payload and chunk header intact) is not placed: the whole-frame path refuses it", async () => {
  const r = await run((frames) => {
    const f = frames[3] as Buffer;
    const headerLength = f.readUInt32BE(0);
    const mac = decodeEnvelope(f).header.mac;
    assert.ok(mac, "precondition: the chunk carries a MAC");
    const at = f.subarray(0, 4 + headerLength).indexOf(Buffer.from(mac));
    assert.ok(at > 0, "precondition: the MAC is found in the frame header");
    f[at] = (f[at] as number) ^ 1;
  });
  assert.equal(r.placed, 2, "chunks 1 and 2 placed; chunk 3 is not, so later chunks are out of order");
  assert.equal(r.received, undefined);
  assert.equal(r.refusals[0]?.code, "ERR_AUTH_BAD_MAC");
});
