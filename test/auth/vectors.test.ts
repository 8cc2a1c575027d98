// The session test vectors of docs/protocol.md §2: if the format changes, the document must too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { computeMac, transcript } from "../../src/auth/index.js";
import { encodeEnvelope } from "../../src/transport/envelope.js";
import { REPO_ROOT } from "../helpers/index.js";

const doc = readFileSync(join(REPO_ROOT, "docs", "protocol.md"), "utf8").replace(/\s+/g, " ");
const spaced = (b: Uint8Array): string => Buffer.from(b).toString("hex").replace(/(..)(?!$)/g, "$1 ");

test("frame vector", () => {
  const bytes = Buffer.concat(encodeEnvelope({ k: "ping", id: "00112233445566778899aabbccddeeff" }, []));
  assert.ok(doc.includes(spaced(bytes)), spaced(bytes));
});

test("transcript vector", () => {
  const t = transcript("cohort-login-v1/server", ["p", "site-1", "client", Uint8Array.of(1, 2), Uint8Array.of(3), "srv", Uint8Array.of(4), Uint8Array.of(5)]);
  assert.ok(doc.includes(spaced(t)), spaced(t));
});

test("HKDF, MAC and stream-key vectors", () => {
  const okm = Buffer.from(hkdfSync("sha256", Buffer.alloc(32, 1), Buffer.concat([Buffer.alloc(32, 2), Buffer.alloc(32, 3)]), Buffer.from("info"), 64));
  assert.ok(doc.includes(okm.subarray(0, 32).toString("hex")));
  assert.ok(doc.includes(okm.subarray(32).toString("hex")));
  const key = Buffer.alloc(32, 0x0b);
  const mac = computeMac(key, { kind: "req", id: "00112233445566778899aabbccddeeff", replyTo: "", topic: "echo", sender: "site-1", timestamp: 1700000000000, seq: 1 }, [Buffer.from("hi")]);
  assert.ok(doc.includes(mac.toString("hex")));
  assert.ok(doc.includes(createHmac("sha256", key).update("cohort-stream-v1").digest("hex")));
});
