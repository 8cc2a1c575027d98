/**
 * Certificate roles at login and tokens, checked directly (mutants that slipped past the
 * federation tests, `npm run mutate -- auth`): a server certificate cannot log in as a site, a
 * site's certificate or another server's cannot pass as the server, and a token issued in the
 * future or written non-canonically is refused, and a command signed with a site's key is refused.
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { issueToken, NonceCache, signCommand, verifyCommand, verifyPeerCertificate, verifyServerCertificate, verifyToken } from "../../src/auth/index.js";
import { testPki, type LinkCerts } from "../helpers/transport-certs.js";

let ours: LinkCerts;
before(async () => {
  ({ ours } = await testPki());
});

test("a server certificate (serverAuth only) cannot log in as a site", () => {
  assert.throws(() => verifyPeerCertificate(ours.server.certPem ?? "", ours.server.rootCaPem ?? "", { name: ours.serverName, type: "client" }), {
    code: "ERR_AUTH_WRONG_TYPE",
    message: /not for client authentication/,
  });
  // The site's own certificate is accepted as that site (the check is not refusing everything).
  assert.equal(verifyPeerCertificate(ours.client.certPem ?? "", ours.client.rootCaPem ?? "", { name: ours.clientName, type: "client" }).name, ours.clientName);
});

test("the server's identity: another CN, or a site's certificate (no serverAuth), is refused", () => {
  const root = ours.server.rootCaPem ?? "";
  assert.doesNotThrow(() => verifyServerCertificate(ours.server.certPem ?? "", root, ours.serverName));
  assert.throws(() => verifyServerCertificate(ours.server.certPem ?? "", root, "other-server"), { code: "ERR_AUTH_SERVER_IDENTITY" });
  assert.throws(() => verifyServerCertificate(ours.client.certPem ?? "", root, ours.clientName), {
    code: "ERR_AUTH_SERVER_IDENTITY",
    message: /not a server certificate/,
  });
});

test("tokens: one issued in the future is refused; a non-canonical spelling of a valid one is refused", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: "site-1", typ: "client" as const, sid: "s1", prj: "p", iat: now, exp: now + 3600 };
  const good = issueToken(claims, privateKey);
  assert.equal(verifyToken(good, publicKey, now).sub, "site-1");
  const future = issueToken({ ...claims, iat: now + 3600, exp: now + 7200 }, privateKey);
  assert.throws(() => verifyToken(future, publicKey, now, 60), { code: "ERR_AUTH_TOKEN_INVALID", message: /issued in the future/ });
  // A character base64url decoders skip, inserted in the signature: the same bytes, another string.
  const dot = good.indexOf(".");
  const spelled = `${good.slice(0, dot + 5)}!${good.slice(dot + 5)}`;
  assert.deepEqual(Buffer.from(spelled.slice(dot + 1), "base64url"), Buffer.from(good.slice(dot + 1), "base64url"), "the decoder skips it");
  assert.throws(() => verifyToken(spelled, publicKey, now), { code: "ERR_AUTH_TOKEN_INVALID", message: /canonical/ });
});

test("a command signed with a site's key under the site's own name is refused (no admin role)", () => {
  const root = ours.server.rootCaPem ?? "";
  const nonces = new NonceCache(60_000);
  const bySite = signCommand({
    user: ours.clientName,
    target: "server",
    cmd: "list_jobs",
    args: [],
    certPem: ours.client.certPem ?? "",
    keyPem: ours.client.keyPem ?? "",
  });
  assert.throws(() => verifyCommand(bySite, { rootPem: root, nonces, skewMs: 60_000 }), { code: "ERR_AUTH_WRONG_TYPE", message: /not an admin certificate/ });
  // The admin's own command passes the same check.
  const byAdmin = signCommand({
    user: "admin@nvidia.com",
    target: "server",
    cmd: "list_jobs",
    args: [],
    certPem: ours.admin.certPem ?? "",
    keyPem: ours.admin.keyPem ?? "",
  });
  assert.equal(verifyCommand(byAdmin, { rootPem: root, nonces, skewMs: 60_000 }).issuer.name, "admin@nvidia.com");
});
