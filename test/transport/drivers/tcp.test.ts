/** tcp driver: the shared compliance suite and refusals, plus frame-decoder unit tests. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { tcpDriver } from "../../../src/transport/drivers/index.js";
import { FrameDecoder, frameHeader } from "../../../src/transport/drivers/framing.js";
import { linkCompliance, linkRefusals } from "../../helpers/transport-compliance.js";

describe("FrameDecoder", () => {
  test("frames within one chunk are views (no copy); split frames are copied once", () => {
    const d = new FrameDecoder(100);
    const chunk = Buffer.concat([frameHeader(3), Buffer.from("abc"), frameHeader(0), frameHeader(4), Buffer.from("de")]);
    const out: Uint8Array[] = [];
    d.push(chunk, (f) => out.push(f));
    assert.equal(out.length, 2);
    assert.equal(out[0]?.buffer, chunk.buffer, "a view of the chunk");
    d.push(Buffer.from("fg"), (f) => out.push(f));
    assert.deepEqual(
      out.map((f) => Buffer.from(f).toString()),
      ["abc", "", "defg"],
    );
  });

  test("a header split across chunks, byte by byte", () => {
    const d = new FrameDecoder(100);
    const bytes = Buffer.concat([frameHeader(5), Buffer.from("hello"), frameHeader(1), Buffer.from("!")]);
    const out: string[] = [];
    for (const b of bytes) d.push(Buffer.from([b]), (f) => out.push(Buffer.from(f).toString()));
    assert.deepEqual(out, ["hello", "!"]);
  });

  test("a length above the limit throws before allocating and stops the decoder", () => {
    const d = new FrameDecoder(10);
    assert.throws(() => d.push(frameHeader(0xffffffff), () => undefined), { code: "ERR_LINK_FRAME_TOO_LARGE" });
    const out: Uint8Array[] = [];
    d.push(Buffer.concat([frameHeader(1), Buffer.from("x")]), (f) => out.push(f));
    assert.equal(out.length, 0);
  });
});

linkCompliance(tcpDriver);
linkRefusals(tcpDriver);

describe("dial errors", () => {
  test("TLS material that cannot be used is reported as itself (not masked by the cleanup)", async () => {
    const { testPki } = await import("../../helpers/transport-certs.js");
    const { harness } = await import("../../helpers/transport-links.js");
    const pki = await testPki();
    const h = await harness(tcpDriver, "mtls", pki.ours);
    try {
      const bad = { ...pki.ours.client, keyPem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" };
      const err = await h.dial({ tls: bad }).then(
        () => assert.fail("dialed with an unusable key"),
        (e: Error) => e,
      );
      assert.ok(!(err instanceof TypeError), `got ${err.name}: ${err.message}`);
      assert.doesNotMatch(err.message, /Cannot read properties of undefined/);
    } finally {
      await h.close();
    }
  });
});
