/**
 * Sealed peer messages (swarm learning): opened only by the recipient, only if the named sender
 * sealed it for this job, unaltered, fresh and never seen; EC and RSA kit keys.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NonceCache, openPeerMessage, peekPeerMessageHeader, sealPeerMessage } from "../../src/auth/index.js";
import { decode, encode } from "../../src/wire/index.js";
import { createRootCertificate, generateKeyPair, issueCertificate, loadIssuer } from "../../src/pki/index.js";
import { testPki } from "../helpers/transport-certs.js";

const JOB = "0b6c2c55-5a4f-4a43-8f8e-1f2d3c4b5a69";
const payload = new Uint8Array(Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i)).buffer);

async function parties() {
  const { ours, foreign } = await testPki();
  // site-1 seals for a second site (here the admin's EC kit: any kit certificate works).
  const kit = (m: { certPem?: string; keyPem?: string }) => ({ certPem: m.certPem ?? "", keyPem: m.keyPem ?? "" });
  return { sender: kit(ours.client), recipient: kit(ours.admin), stranger: kit(foreign.client) };
}

function opener(o: { senderCertPem: string; recipientKey: string }, nonces = new NonceCache(60_000)) {
  return (envelope: Uint8Array, over: Partial<Parameters<typeof openPeerMessage>[1]> = {}) =>
    openPeerMessage(envelope, {
      job: JOB,
      me: "site-2",
      from: "site-1",
      senderCertPem: o.senderCertPem,
      recipientKey: o.recipientKey,
      nonces,
      skewMs: 60_000,
      ...over,
    });
}

test("EC kit keys: the recipient opens it; the header names job, sender, recipient, topic", async () => {
  const { sender, recipient } = await parties();
  const env = sealPeerMessage({
    job: JOB,
    from: "site-1",
    to: "site-2",
    topic: "swarm.model.0.0",
    payload,
    senderKey: sender.keyPem,
    recipientCertPem: recipient.certPem,
  });
  const h = peekPeerMessageHeader(env);
  assert.deepEqual([h.job, h.from, h.to, h.topic], [JOB, "site-1", "site-2", "swarm.model.0.0"]);
  const opened = opener({ senderCertPem: sender.certPem, recipientKey: recipient.keyPem })(env);
  assert.deepEqual(new Uint8Array(opened.payload), payload);
  assert.equal(Buffer.from(env).indexOf(Buffer.from(payload.subarray(0, 64))), -1, "the plaintext is not in the envelope");
});

test("refused: another key, another job, another recipient, a relay naming another sender, a replay, a stale message", async () => {
  const { sender, recipient, stranger } = await parties();
  const seal = (now?: number) =>
    sealPeerMessage({
      job: JOB,
      from: "site-1",
      to: "site-2",
      topic: "t",
      payload,
      senderKey: sender.keyPem,
      recipientCertPem: recipient.certPem,
      ...(now ? { now } : {}),
    });
  const open = opener({ senderCertPem: sender.certPem, recipientKey: recipient.keyPem });
  assert.throws(() => opener({ senderCertPem: sender.certPem, recipientKey: stranger.keyPem })(seal()), { code: "ERR_AUTH_BAD_MAC" });
  assert.throws(
    () => opener({ senderCertPem: sender.certPem, recipientKey: sender.keyPem })(seal()),
    { code: "ERR_AUTH_BAD_MAC" },
    "not even the sender opens it",
  );
  assert.throws(() => open(seal(), { job: "11111111-1111-4111-8111-111111111111" }), /sealed for job/);
  assert.throws(() => open(seal(), { me: "site-3" }), /sealed for site-2, not for site-3/);
  assert.throws(() => open(seal(), { from: "site-3" }), { code: "ERR_AUTH_NAME_MISMATCH" });
  const once = seal();
  open(once);
  assert.throws(() => open(once), { code: "ERR_AUTH_REPLAY" });
  assert.throws(() => open(seal(Date.now() - 10 * 60_000)), { code: "ERR_AUTH_STALE" });
});

test("refused: a stranger's signature, and any byte changed on the way", async () => {
  const { sender, recipient, stranger } = await parties();
  // A stranger (or the server) seals a message claiming to be site-1: the signature is not site-1's.
  const forged = sealPeerMessage({
    job: JOB,
    from: "site-1",
    to: "site-2",
    topic: "t",
    payload,
    senderKey: stranger.keyPem,
    recipientCertPem: recipient.certPem,
  });
  const open = opener({ senderCertPem: sender.certPem, recipientKey: recipient.keyPem });
  assert.throws(() => open(forged), { code: "ERR_AUTH_BAD_SIGNATURE" });
  const env = sealPeerMessage({ job: JOB, from: "site-1", to: "site-2", topic: "t", payload, senderKey: sender.keyPem, recipientCertPem: recipient.certPem });
  const fields = decode(env) as Record<string, Uint8Array | string | number>;
  for (const field of ["h", "k", "iv", "tag", "ct"]) {
    const v = Uint8Array.from(fields[field] as Uint8Array);
    v[v.length >> 1] = (v[v.length >> 1] as number) ^ 1;
    assert.throws(
      () => open(encode({ ...fields, [field]: v })),
      (e: { code?: string }) => e.code === "ERR_AUTH_BAD_SIGNATURE" || e.code === "ERR_AUTH_MALFORMED",
      `changed ${field}`,
    );
  }
  assert.throws(() => open(encode({ ...fields, alg: "rsa-oaep-sha256" })), { code: "ERR_AUTH_BAD_SIGNATURE" });
  assert.throws(() => open(new Uint8Array([1, 2, 3])), { code: "ERR_AUTH_MALFORMED" });
  assert.throws(() => peekPeerMessageHeader(encode({ v: 1 })), { code: "ERR_AUTH_MALFORMED" });
});

test("RSA kit keys: the AES key is wrapped with RSA-OAEP and the sender signs with RSA-PSS", async () => {
  const rootKeys = await generateKeyPair("rsa-2048");
  const rootPem = await createRootCertificate({
    commonName: "rsa_project",
    privateKeyPem: rootKeys.privateKeyPem,
    publicKeySpki: rootKeys.publicKeySpki,
    validDays: 1,
  });
  const issuer = await loadIssuer(rootPem, rootKeys.privateKeyPem);
  const leaf = async (name: string) => {
    const k = await generateKeyPair("rsa-2048");
    return {
      keyPem: k.privateKeyPem,
      certPem: await issueCertificate({
        subject: { commonName: name, organization: "o" },
        subjectPublicKeySpki: k.publicKeySpki,
        subjectAltNames: [],
        extendedKeyUsages: ["clientAuth"],
        validDays: 1,
        issuer,
      }),
    };
  };
  const [s1, s2] = await Promise.all([leaf("site-1"), leaf("site-2")]);
  const env = sealPeerMessage({ job: JOB, from: "site-1", to: "site-2", topic: "t", payload, senderKey: s1.keyPem, recipientCertPem: s2.certPem });
  assert.equal((decode(env) as { alg: string }).alg, "rsa-oaep-sha256");
  assert.deepEqual(new Uint8Array(opener({ senderCertPem: s1.certPem, recipientKey: s2.keyPem })(env).payload), payload);
  assert.throws(() => opener({ senderCertPem: s1.certPem, recipientKey: s1.keyPem })(env), { code: "ERR_AUTH_BAD_MAC" });
});

test("property: any byte flipped, cut or appended anywhere in a sealed message is refused with a typed error, never opened", async () => {
  const { sender, recipient } = await parties();
  const { default: fc } = await import("fast-check");
  const env = sealPeerMessage({
    job: JOB,
    from: "site-1",
    to: "site-2",
    topic: "t",
    payload: payload.subarray(0, 256),
    senderKey: sender.keyPem,
    recipientCertPem: recipient.certPem,
  });
  const codes = new Set(["ERR_AUTH_MALFORMED", "ERR_AUTH_BAD_SIGNATURE", "ERR_AUTH_BAD_MAC", "ERR_AUTH_NAME_MISMATCH", "ERR_AUTH_STALE", "ERR_AUTH_REPLAY"]);
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat({ max: env.length - 1 }), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat({ max: env.length - 1 }) }),
    fc.record({ kind: fc.constant("append" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );
  fc.assert(
    fc.property(mutation, (m) => {
      const bad =
        m.kind === "flip"
          ? Uint8Array.from(env, (b, i) => (i === m.at ? b ^ (1 << m.bit) : b))
          : m.kind === "cut"
            ? env.subarray(0, m.at)
            : Uint8Array.from([...env, ...m.extra]);
      try {
        opener({ senderCertPem: sender.certPem, recipientKey: recipient.keyPem })(bad);
      } catch (e) {
        assert.ok(codes.has((e as { code?: string }).code ?? ""), `untyped refusal: ${(e as Error).message}`);
        return;
      }
      assert.fail(`a ${m.kind} mutation opened`);
    }),
    { numRuns: 300 },
  );
});
