/**
 * Site plugins with real processes: the server's registration allow-list refuses a site, and a
 * site protected by its identity provider (OIDC/JWT, checked with its own JWKS) refuses admin
 * commands without a valid token and accepts them with one.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { provision } from "../../src/provision/index.js";
import { freePort, runCli, tempDir, writeFile } from "../helpers/index.js";
import { stopFederation } from "../helpers/federation.js";
import { startParticipantProcess, type CohortProcess } from "../helpers/processes.js";

let dir = "";
let prodDir = "";
let server: CohortProcess;
const sites: CohortProcess[] = [];
let signToken: (claims: { aud: string; expSeconds: number }) => Promise<string>;
const kit = (n: string): string => join(prodDir, n);

function addResources(participant: string, extra: Record<string, unknown>): void {
  const res = JSON.parse(readFileSync(join(kit(participant), "local", "resources.json.default"), "utf8")) as Record<string, unknown>;
  writeFile(join(kit(participant), "local", "resources.json"), JSON.stringify({ ...res, ...extra }));
}

before(async () => {
  dir = tempDir("cohort-plugins-");
  const port = await freePort();
  const file = writeFile(
    join(dir, "project.yml"),
    `api_version: 3
name: plugins_test
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${port}, host_names: [127.0.0.1]}
  - {name: site-1, type: client, org: org_a, connect_to: 127.0.0.1}
  - {name: site-2, type: client, org: org_b, connect_to: 127.0.0.1}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
`,
  );
  prodDir = (await provision({ projectFile: file, workspace: join(dir, "ws") })).prodDir;
  // The identity provider: a key pair whose public half site-1 trusts through a JWKS file.
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  writeFile(join(kit("site-1"), "local", "idp-jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }] }));
  signToken = ({ aud, expSeconds }) =>
    new SignJWT({ email: "admin@nvidia.com" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer("https://idp.hospital-a.example")
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
      .sign(privateKey);
  addResources("localhost", { plugins: [{ path: "cohort.RegistrationAllowList", args: { orgs: ["org_a"] } }] });
  addResources("site-1", {
    plugins: [{ path: "cohort.OidcCommandCheck", args: { issuer: "https://idp.hospital-a.example", jwks_file: "idp-jwks.json", user_claim: "email" } }],
  });
  server = startParticipantProcess(kit("localhost"), { server: true });
  await server.waitFor(/listening on/);
  sites.push(startParticipantProcess(kit("site-1")), startParticipantProcess(kit("site-2")));
});

after(() => stopFederation(server, sites));

test("the server's registration plugin refuses a site of another organisation", { timeout: 60_000 }, async () => {
  await server.waitFor(/client site-1 .* logged in/);
  await server.waitFor(
    /refused login\.refused from site-2 .*ERR_AUTH_PLUGIN_REFUSED.*organisation org_b of site-2 is not on this server's registration allow-list/,
  );
  const audit = readFileSync(join(kit("localhost"), "audit.log"), "utf8");
  assert.match(audit, /"code":"ERR_AUTH_PLUGIN_REFUSED"/);
  await sites[1]?.waitFor(/ERR_AUTH_PLUGIN_REFUSED/, 20_000);
});

test("an OIDC-protected site refuses a command without a valid token and accepts one with it", { timeout: 60_000 }, async () => {
  const admin = kit("admin@nvidia.com");
  const none = await runCli(["admin", admin, "-c", "sys_info site-1"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /NOT_AUTHORIZED by site-1: site-1 requires a token from its identity provider/);
  const expiredFile = writeFile(join(dir, "expired.jwt"), await signToken({ aud: "site-1", expSeconds: -600 }));
  const expired = await runCli(["admin", admin, "-c", "sys_info site-1", "--oidc-token-file", expiredFile]);
  assert.equal(expired.code, 1);
  assert.match(expired.stderr, /identity token was refused: .*exp/);
  const wrongAud = writeFile(join(dir, "wrong.jwt"), await signToken({ aud: "site-9", expSeconds: 600 }));
  assert.equal((await runCli(["admin", admin, "-c", "sys_info site-1", "--oidc-token-file", wrongAud])).code, 1);
  const goodFile = writeFile(join(dir, "good.jwt"), await signToken({ aud: "site-1", expSeconds: 600 }));
  const good = await runCli(["admin", admin, "-c", "sys_info site-1", "--json", "--oidc-token-file", goodFile]);
  assert.equal(good.code, 0, good.stderr);
  assert.equal((JSON.parse(good.stdout) as Record<string, { site: string }>)["site-1"]?.site, "site-1");
  const audit = readFileSync(join(kit("site-1"), "audit.log"), "utf8");
  assert.match(audit, /"action":"admin.sys_info","outcome":"denied"/);
  assert.match(audit, /"action":"admin.sys_info","outcome":"ok"/);
});
