import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { ReplayWindow, computeMac, issueToken, macMatches, transcript, verifyToken } from "../../src/auth/index.js";
import { backoffDelay } from "../../src/transport/backoff.js";

test("replay window: each sequence number once, reordering within the window, older refused", () => {
  const w = new ReplayWindow(8);
  assert.equal(w.check(1), undefined);
  assert.equal(w.check(3), undefined);
  assert.equal(w.check(2), undefined, "reordered within the window");
  assert.equal(w.check(2), "replayed");
  assert.equal(w.check(3), "replayed");
  assert.equal(w.check(20), undefined);
  assert.equal(w.check(12), "too-old");
  assert.equal(w.check(13), undefined, "just inside the window");
  assert.equal(w.check(0), "invalid");
  assert.equal(w.check(1.5), "invalid");
  // A jump larger than the window forgets everything older.
  assert.equal(w.check(1000), undefined);
  assert.equal(w.check(999), undefined);
  assert.equal(w.check(999), "replayed");
});

test("tokens: signed by the server key, expire, refuse tampering (EC and RSA keys)", () => {
  for (const [type, opts] of [
    ["ec", { namedCurve: "prime256v1" }],
    ["rsa", { modulusLength: 2048 }],
  ] as const) {
    const { privateKey, publicKey } = generateKeyPairSync(type as "ec", opts as { namedCurve: string });
    const claims = { sub: "site-1", typ: "client" as const, sid: "abc", iat: 1000, exp: 2000, prj: "p" };
    const tok = issueToken(claims, privateKey);
    assert.deepEqual(verifyToken(tok, publicKey, 1500), claims);
    assert.throws(() => verifyToken(tok, publicKey, 2100, 60), { code: "ERR_AUTH_TOKEN_EXPIRED" });
    assert.deepEqual(verifyToken(tok, publicKey, 2050, 60), claims, "within the skew");
    const [body = "", sig = ""] = tok.split(".");
    const altered = Buffer.from(JSON.stringify({ ...claims, sub: "site-2" })).toString("base64url");
    assert.throws(() => verifyToken(`${altered}.${sig}`, publicKey, 1500), { code: "ERR_AUTH_TOKEN_INVALID" });
    assert.throws(() => verifyToken(`${body}.${sig}x`, publicKey, 1500), { code: "ERR_AUTH_TOKEN_INVALID" });
    assert.throws(() => verifyToken("garbage", publicKey, 1500), { code: "ERR_AUTH_TOKEN_INVALID" });
    const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    assert.throws(() => verifyToken(tok, other.publicKey, 1500), { code: "ERR_AUTH_TOKEN_INVALID" });
  }
});

test("MAC covers every header field and the body, with body parts equal to the whole", () => {
  const key = new Uint8Array(32).fill(7);
  const f = { kind: "req", id: "a".repeat(32), replyTo: "", topic: "t", sender: "s", timestamp: 5, seq: 1 };
  const body = Buffer.from("hello world");
  const mac = computeMac(key, f, [body]);
  assert.ok(macMatches(mac, computeMac(key, f, [body.subarray(0, 3), body.subarray(3)])));
  for (const change of [{ kind: "msg" }, { id: "b".repeat(32) }, { replyTo: "x" }, { topic: "u" }, { sender: "z" }, { timestamp: 6 }, { seq: 2 }]) {
    assert.ok(!macMatches(mac, computeMac(key, { ...f, ...change }, [body])), JSON.stringify(change));
  }
  assert.ok(!macMatches(mac, computeMac(key, f, [Buffer.from("hello worle")])));
  assert.ok(!macMatches(mac, computeMac(new Uint8Array(32).fill(8), f, [body])));
  assert.ok(!macMatches(mac, mac.subarray(0, 16)));
});

test("transcript fields cannot run into each other", () => {
  assert.notDeepEqual(transcript("l", ["ab", "c"]), transcript("l", ["a", "bc"]));
  assert.deepEqual(transcript("l", ["x", 1]), transcript("l", ["x", "1"]));
});

test("backoff: exponential, capped, jittered within [ceiling/2, ceiling]", () => {
  assert.equal(
    backoffDelay(0, 500, 30_000, () => 0),
    250,
  );
  assert.equal(
    backoffDelay(0, 500, 30_000, () => 1),
    500,
  );
  assert.equal(
    backoffDelay(3, 500, 30_000, () => 1),
    4000,
  );
  assert.equal(
    backoffDelay(20, 500, 30_000, () => 1),
    30_000,
  );
  assert.equal(
    backoffDelay(1000, 500, 30_000, () => 0),
    15_000,
  );
});

test("nonce cache with a file: a nonce seen before a restart is still refused after it; old ones expire; damaged lines are skipped", async () => {
  const { NonceCache } = await import("../../src/auth/index.js");
  const { tempDir } = await import("../helpers/index.js");
  const { appendFileSync, statSync } = await import("node:fs");
  const { join } = await import("node:path");
  const file = join(tempDir("cohort-nonces-"), "workspace", "nonces.jsonl");
  const now = Date.now();
  const before = new NonceCache(60_000, file);
  assert.equal(before.remember("a", now), true);
  assert.equal(before.remember("old", now - 10 * 60_000), true);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  appendFileSync(file, '{"n": "half-writ');
  const after = new NonceCache(60_000, file);
  assert.equal(after.remember("a", now + 1000), false, "replayed after a restart");
  assert.equal(after.remember("old", now + 1000), true, "outside the window: forgotten");
  assert.equal(after.remember("b", now + 1000), true);
});
