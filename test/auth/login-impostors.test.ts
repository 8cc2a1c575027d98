/**
 * The login protocol (docs/protocol.md §2) attacked directly: an impostor server holding only the
 * server's public certificate, a man in the middle swapping the ephemeral key, a copied site
 * certificate without its key, a TLS client certificate that is not the login identity; and the
 * signatures and the sealed peer envelope checked against the documented transcripts with
 * node:crypto alone, so a change to what is signed or derived fails here even when both ends
 * of a link would still agree with each other (survivors of `npm run mutate -- auth`).
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, sign, verify, X509Certificate } from "node:crypto";
import { ClientLogin, ServerLogin, sealPeerMessage, transcript, type ChallengeMessage } from "../../src/auth/index.js";
import { decode } from "../../src/wire/index.js";
import { testPki, type LinkCerts } from "../helpers/transport-certs.js";

const PROJECT = "p";
let ours: LinkCerts;
let foreign: LinkCerts;
before(async () => {
  ({ ours, foreign } = await testPki());
});

const text = (s: string | undefined): string => s ?? "";
function parties() {
  const client = new ClientLogin({
    name: ours.clientName,
    type: "client",
    project: PROJECT,
    certPem: text(ours.client.certPem),
    keyPem: text(ours.client.keyPem),
    rootPem: text(ours.client.rootCaPem),
    serverName: ours.serverName,
  });
  const server = new ServerLogin({
    name: ours.serverName,
    project: PROJECT,
    certPem: text(ours.server.certPem),
    keyPem: text(ours.server.keyPem),
    rootPem: text(ours.server.rootCaPem),
  });
  return { client, server };
}
/** An EC key that is nobody's kit key: what an impostor holds. */
const impostorKey = (): string => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const serverFields = (h: ReturnType<ClientLogin["hello"]>, c: Omit<ChallengeMessage, "sig" | "cert">) => [
  h.project,
  h.name,
  h.type,
  h.nonce,
  h.eph,
  c.name,
  c.nonce,
  c.eph,
];

test("a login between the real kits works, and both signatures verify over the documented transcripts (node:crypto alone)", () => {
  const { client, server } = parties();
  const hello = client.hello();
  const pending = server.challenge(hello);
  const { login, keys } = client.answer(pending.challenge);
  const done = server.finish(pending, login, undefined);
  assert.equal(done.identity.name, ours.clientName);
  assert.deepEqual(done.keys, keys, "both ends derive the same session keys");
  const c = pending.challenge;
  // §2.2: sig_s = Sign_server(T_s), T_s over hello and challenge (including both ephemeral keys).
  const ts = transcript("cohort-login-v1/server", serverFields(hello, c));
  assert.ok(verify("sha256", ts, new X509Certificate(text(ours.server.certPem)).publicKey, Buffer.from(c.sig, "base64")), "sig_s covers T_s");
  // sig_c = Sign_client(T_c), T_c = T_s's fields plus sig_s (the transcript is chained).
  const tc = transcript("cohort-login-v1/client", [...serverFields(hello, c), c.sig]);
  assert.ok(verify("sha256", tc, new X509Certificate(text(ours.client.certPem)).publicKey, Buffer.from(login.sig, "base64")), "sig_c covers T_c with sig_s");
});

test("an impostor server holding only the server's (public) certificate is refused by the client", () => {
  const { client, server } = parties();
  const hello = client.hello();
  const real = server.challenge(hello).challenge;
  const unsigned = { name: real.name, nonce: real.nonce, eph: real.eph };
  const forged = {
    ...real,
    sig: sign("sha256", transcript("cohort-login-v1/server", serverFields(hello, unsigned)), createPrivateKey(impostorKey())).toString("base64"),
  };
  assert.throws(() => client.answer(forged), { code: "ERR_AUTH_BAD_SIGNATURE", message: /man in the middle/ });
});

test("a man in the middle replacing the server's ephemeral key (keeping its signature) is refused by the client", () => {
  const { client, server } = parties();
  const real = server.challenge(client.hello()).challenge;
  const mitmEph = new Uint8Array(generateKeyPairSync("x25519").publicKey.export({ type: "spki", format: "der" }));
  assert.throws(() => client.answer({ ...real, eph: mitmEph }), { code: "ERR_AUTH_BAD_SIGNATURE" });
});

test("a copied site certificate without its key cannot log in; a login signed over another server signature is refused", () => {
  const { client, server } = parties();
  const hello = client.hello();
  const pending = server.challenge(hello);
  const c = pending.challenge;
  const tc = transcript("cohort-login-v1/client", [...serverFields(hello, c), c.sig]);
  const copied = { cert: text(ours.client.certPem), sig: sign("sha256", tc, createPrivateKey(impostorKey())).toString("base64") };
  assert.throws(() => server.finish(pending, copied, undefined), { code: "ERR_AUTH_BAD_SIGNATURE", message: /not the holder of its kit key/ });
  // The real key, but a transcript that is not chained to this challenge's signature.
  const unchained = transcript("cohort-login-v1/client", serverFields(hello, c));
  const replayed = { cert: text(ours.client.certPem), sig: sign("sha256", unchained, createPrivateKey(text(ours.client.keyPem))).toString("base64") };
  assert.throws(() => server.finish(pending, replayed, undefined), { code: "ERR_AUTH_BAD_SIGNATURE" });
});

test("on mTLS the TLS client certificate must be the login identity: another CN, or the same CN from another root, is refused", () => {
  const tryWith = (tlsPeerPem: string) => {
    const { client, server } = parties();
    const pending = server.challenge(client.hello());
    const { login } = client.answer(pending.challenge);
    return () => server.finish(pending, login, new X509Certificate(tlsPeerPem));
  };
  assert.doesNotThrow(tryWith(text(ours.client.certPem)), "the site's own certificate on the TLS link is accepted");
  assert.throws(tryWith(text(ours.admin.certPem)), { code: "ERR_AUTH_TLS_PEER_MISMATCH" });
  assert.equal(/CN=([^\n]*)/.exec(new X509Certificate(text(foreign.client.certPem)).subject)?.[1], ours.clientName, "precondition: same CN");
  assert.throws(tryWith(text(foreign.client.certPem)), { code: "ERR_AUTH_TLS_PEER_MISMATCH" });
});

test("sealed peer envelope: opened independently with the documented ECIES derivation (salt = id, info = label + header)", () => {
  const payload = Buffer.from("the documented derivation, nothing else");
  const env = decode(
    sealPeerMessage({
      job: "job-1",
      from: "site-1",
      to: "site-2",
      topic: "t",
      payload,
      senderKey: text(ours.client.keyPem),
      recipientCertPem: text(ours.admin.certPem),
    }),
  ) as { h: Uint8Array; alg: string; k: Uint8Array; iv: Uint8Array; tag: Uint8Array; ct: Uint8Array };
  assert.equal(env.alg, "ecdh-hkdf-sha256", "precondition: the recipient's kit key is EC");
  const header = decode(env.h) as { id: string };
  const secret = diffieHellman({
    privateKey: createPrivateKey(text(ours.admin.keyPem)),
    publicKey: createPublicKey({ key: Buffer.from(env.k), format: "der", type: "spki" }),
  });
  const key = Buffer.from(hkdfSync("sha256", secret, Buffer.from(header.id, "hex"), transcript("cohort peer message v1", [env.h]), 32));
  const decipher = createDecipheriv("aes-256-gcm", key, env.iv);
  decipher.setAAD(env.h);
  decipher.setAuthTag(env.tag);
  assert.deepEqual(Buffer.concat([decipher.update(env.ct), decipher.final()]), payload);
});
