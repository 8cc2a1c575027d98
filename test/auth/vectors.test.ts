/**
 * The session test vectors of docs/protocol.md §2. Each vector is computed three ways: by the
 * project's own function (what the links run), independently (node:crypto, or the system openssl),
 * and read from the document. A change to the derivation (salt order, key halves, a label) fails
 * here even though both ends of a link would still agree with each other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { computeMac, sessionKeysFromSecret, transcript } from "../../src/auth/index.js";
import { SecureChannel, streamKey } from "../../src/transport/channel.js";
import { decodeEnvelope, encodeEnvelope } from "../../src/transport/envelope.js";
import { StreamReceiver } from "../../src/wire/index.js";
import { REPO_ROOT } from "../helpers/index.js";

const doc = readFileSync(join(REPO_ROOT, "docs", "protocol.md"), "utf8").replace(/\s+/g, " ");
const spaced = (b: Uint8Array): string =>
  Buffer.from(b)
    .toString("hex")
    .replace(/(..)(?!$)/g, "$1 ");
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
/** The 64-hex-digit value the document gives after `label` (within the same paragraph). */
function published(pattern: RegExp): string {
  const m = pattern.exec(doc);
  assert.ok(m?.[1], `docs/protocol.md publishes ${String(pattern)}`);
  return m[1];
}

test("frame vector", () => {
  const bytes = Buffer.concat(encodeEnvelope({ k: "ping", id: "00112233445566778899aabbccddeeff" }, []));
  assert.ok(doc.includes(spaced(bytes)), spaced(bytes));
});

test("transcript vector", () => {
  const t = transcript("cohort-login-v1/server", ["p", "site-1", "client", Uint8Array.of(1, 2), Uint8Array.of(3), "srv", Uint8Array.of(4), Uint8Array.of(5)]);
  const lp = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const independent = Buffer.concat(
    ["cohort-login-v1/server", "p", "site-1", "client", Buffer.from([1, 2]), Buffer.from([3]), "srv", Buffer.from([4]), Buffer.from([5])].map((x) =>
      lp(Buffer.from(x)),
    ),
  );
  assert.equal(hex(t), hex(independent));
  assert.ok(doc.includes(spaced(t)), spaced(t));
});

test("HKDF vector: the session keys the login derives (salt nonce_c ‖ nonce_s, c2s first)", () => {
  const ikm = Buffer.alloc(32, 1);
  const nonceC = Buffer.alloc(32, 2);
  const nonceS = Buffer.alloc(32, 3);
  const keys = sessionKeysFromSecret(ikm, nonceC, nonceS, Buffer.from("info"));
  const c2s = published(/HKDF vector: .*?`([0-9a-f]{64})` \(c2s\)/);
  const s2c = published(/HKDF vector: .*?`([0-9a-f]{64})` \(s2c\)/);
  assert.equal(hex(keys.clientToServer), c2s, "client → server key = okm[0:32] as published");
  assert.equal(hex(keys.serverToClient), s2c, "server → client key = okm[32:64] as published");
  const okm = Buffer.from(hkdfSync("sha256", ikm, Buffer.concat([nonceC, nonceS]), Buffer.from("info"), 64));
  assert.equal(hex(keys.clientToServer) + hex(keys.serverToClient), hex(okm), "node:crypto HKDF agrees");
  // And the system openssl, a third implementation.
  const out = execFileSync(
    "openssl",
    [
      "kdf",
      "-keylen",
      "64",
      "-kdfopt",
      "digest:SHA256",
      "-kdfopt",
      `hexkey:${hex(ikm)}`,
      "-kdfopt",
      `hexsalt:${hex(nonceC)}${hex(nonceS)}`,
      "-kdfopt",
      "info:info",
      "HKDF",
    ],
    { encoding: "utf8" },
  );
  assert.equal(out.trim().replace(/:/g, "").toLowerCase(), c2s + s2c, "openssl kdf HKDF agrees");
});

test("HKDF: only the first 1024 bytes of the transcript are the info", () => {
  const info = Buffer.alloc(1500, 7);
  const a = sessionKeysFromSecret(Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3), info);
  const okm = Buffer.from(hkdfSync("sha256", Buffer.alloc(32, 1), Buffer.concat([Buffer.alloc(32, 2), Buffer.alloc(32, 3)]), info.subarray(0, 1024), 64));
  assert.equal(hex(a.clientToServer) + hex(a.serverToClient), hex(okm));
});

test("MAC vector", () => {
  const key = Buffer.alloc(32, 0x0b);
  const fields = {
    kind: "req",
    id: "00112233445566778899aabbccddeeff",
    replyTo: "",
    topic: "echo",
    sender: "site-1",
    timestamp: 1700000000000,
    seq: 1,
  } as const;
  const mac = computeMac(key, fields, [Buffer.from("hi")]);
  const lp = (s: string): Buffer => {
    const b = Buffer.from(s, "utf8");
    const n = Buffer.alloc(4);
    n.writeUInt32BE(b.length);
    return Buffer.concat([n, b]);
  };
  const independent = createHmac("sha256", key)
    .update(Buffer.concat(["cohort-msg-v1", "req", fields.id, "", "echo", "site-1", "1700000000000", "1", "2"].map(lp)))
    .update("hi")
    .digest();
  assert.equal(hex(mac), hex(independent), "node:crypto HMAC over the documented layout agrees");
  assert.equal(hex(mac), published(/Vector: key = 32 × `0b`.*?→ `([0-9a-f]{64})`/));
});

test("stream-key vector: the key streams are digested with (label cohort-stream-v1)", () => {
  const key = Buffer.alloc(32, 0x0b);
  const k = streamKey(key);
  assert.equal(hex(k), published(/its stream key is `([0-9a-f]{64})`/));
  assert.equal(hex(k), createHmac("sha256", key).update("cohort-stream-v1").digest("hex"), "node:crypto agrees");
  const out = execFileSync("openssl", ["dgst", "-sha256", "-mac", "HMAC", "-macopt", `hexkey:${hex(key)}`], { input: "cohort-stream-v1", encoding: "utf8" });
  assert.equal(/= ([0-9a-f]{64})/.exec(out)?.[1], hex(k), "openssl agrees");
});

test("a channel MACs with its own direction's key and digests streams with the key derived from it (node:crypto alone)", async () => {
  const keys = { clientToServer: Buffer.alloc(32, 1), serverToClient: Buffer.alloc(32, 2) };
  for (const [role, own] of [
    ["server", keys.serverToClient],
    ["client", keys.clientToServer],
  ] as const) {
    const frames: Uint8Array[] = [];
    const channel = new SecureChannel({
      connection: {
        id: "capture",
        scheme: "tcp",
        security: "clear",
        remoteAddress: "127.0.0.1",
        peerCertificate: undefined,
        closed: false,
        send: async (parts) => void frames.push(Buffer.concat(parts)),
        onFrame: () => undefined,
        onClose: () => undefined,
        close: () => undefined,
      },
      role,
      selfName: "me",
      peerName: "peer",
      keys,
      streams: new StreamReceiver(),
    });
    const body = Buffer.from("hello");
    await channel.send("t", body);
    const payload = Buffer.from("a small stream");
    await channel.sendStream("s", payload);
    const msg = decodeEnvelope(frames[0] as Uint8Array);
    const h = msg.header;
    const independent = createHmac("sha256", own)
      .update(
        Buffer.concat(
          ["cohort-msg-v1", "msg", h.id, "", "t", "me", String(h.ts), String(h.sq), String(body.length)].map((s) => {
            const b = Buffer.from(s);
            return Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
          }),
        ),
      )
      .update(body)
      .digest();
    assert.equal(hex(h.mac ?? new Uint8Array()), hex(independent), `${role}: the frame's MAC uses the ${role}'s sending key`);
    const end = decodeEnvelope(frames[frames.length - 1] as Uint8Array).body;
    const digest = createHmac("sha256", createHmac("sha256", own).update("cohort-stream-v1").digest()).update(payload).digest();
    assert.equal(hex(end.subarray(end.byteLength - 32)), hex(digest), `${role}: the stream digest uses the stream key derived from the sending key`);
  }
});
