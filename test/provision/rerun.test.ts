/**
 * Issue 2 §2/§5: re-runs reuse state/ — a new prod_NN each time, every existing certificate
 * byte-identical, the root unchanged; --add-client/--add-user add participants signed by the same
 * root; an identity change is refused without --force (nothing written), re-issued with it.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision, ProvisionErrorCode, type ProvisionResult } from "../../src/provision/index.js";
import { verifyStartupKit } from "../../src/pki/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { freePorts, listDir, openssl, runCli, snapshotTree, tempDir, writeFile } from "../helpers/index.js";

const NAME = "rerun_project";

function projectYaml(flPort: number, adminPort: number, leadRole = "lead"): string {
  return `api_version: 3
name: ${NAME}
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${flPort}, admin_port: ${adminPort}, host_names: [127.0.0.1, "::1"]}
  - {name: site-1, type: client, org: hospital_a, connect_to: 127.0.0.1}
  - {name: site-2, type: client, org: hospital_b, connection_security: tls}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
  - {name: lead@hospital-b.org, type: admin, org: hospital_b, role: ${leadRole}}
`;
}

const CERT = (p: string, name: string): string => join(p, name, "startup", name === "localhost" ? "server.crt" : "client.crt");
const KEY = (p: string, name: string): string => join(p, name, "startup", name === "localhost" ? "server.key" : "client.key");
const ORIGINAL = ["localhost", "site-1", "site-2", "admin@nvidia.com", "lead@hospital-b.org"];

describe("re-running provision", () => {
  let dir = "";
  let ws = "";
  let projectDir = "";
  let file = "";
  let ports: [number, number] = [0, 0];
  let first: ProvisionResult;
  let rootPem: Buffer;
  let rootKey: Buffer;
  const prod = (n: number): string => join(projectDir, `prod_0${n}`);

  before(async () => {
    dir = tempDir();
    ws = join(dir, "ws");
    projectDir = join(ws, NAME);
    ports = (await freePorts(2)) as [number, number];
    file = writeFile(join(dir, "project.yml"), projectYaml(...ports));
    first = await provision({ projectFile: file, workspace: ws });
    rootPem = readFileSync(join(projectDir, "state", "rootCA.pem"));
    rootKey = readFileSync(join(projectDir, "state", "rootCA.key"));
  });

  test("a second run creates prod_01 with the same root and byte-identical certificates and keys", async () => {
    assert.equal(first.rootIsNew, true);
    const second = await provision({ projectFile: file, workspace: ws });
    assert.equal(second.prodDir, prod(1));
    assert.equal(second.rootIsNew, false);
    assert.equal(second.rootFingerprint, first.rootFingerprint);
    assert.deepEqual(listDir(projectDir), ["prod_00", "prod_01", "state"]);
    for (const n of ORIGINAL) {
      assert.deepEqual(readFileSync(CERT(prod(1), n)), readFileSync(CERT(prod(0), n)), `${n} cert byte-identical`);
      assert.deepEqual(readFileSync(KEY(prod(1), n)), readFileSync(KEY(prod(0), n)), `${n} key byte-identical`);
      assert.deepEqual(readFileSync(join(prod(1), n, "startup", "rootCA.pem")), rootPem);
    }
    assert.deepEqual(readFileSync(join(projectDir, "state", "rootCA.pem")), rootPem);
    assert.deepEqual(readFileSync(join(projectDir, "state", "rootCA.key")), rootKey);
    // The kits of prod_00 still verify (nothing about them changed).
    for (const n of ORIGINAL) assert.equal(verifyStartupKit(join(prod(0), n)).rootFingerprint, first.rootFingerprint);
  });

  test("cohort provision --add-client site.yml --add-user user.yml: prod_02, new participants chain to the same root", async () => {
    const site = writeFile(
      join(dir, "site.yml"),
      "name: site-3\norg: hospital_c\nconnect_to: {host: localhost, connection_security: mtls}\ncapacity: {num_of_gpus: 1}\n",
    );
    const user = writeFile(join(dir, "user.yml"), "name: member@hospital-c.org\norg: hospital_c\nrole: member\n");
    const r = await runCli(["provision", "-p", file, "-w", ws, "--add-client", site, "--add-user", user]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /reused the existing root CA/);
    assert.ok(first.rootFingerprint);
    assert.ok(r.stdout.includes(`root CA fingerprint: ${first.rootFingerprint}`));
    assert.deepEqual(listDir(projectDir), ["prod_00", "prod_01", "prod_02", "state"]);
    const p2 = prod(2);
    for (const n of ORIGINAL) {
      assert.deepEqual(readFileSync(CERT(p2, n)), readFileSync(CERT(prod(0), n)), `${n} cert byte-identical`);
      assert.deepEqual(readFileSync(join(p2, n, "startup", "rootCA.pem")), rootPem);
    }
    for (const n of ["site-3", "member@hospital-c.org"]) {
      assert.ok(listDir(p2).includes(`${n}.tgz`));
      const out = openssl(["verify", "-CAfile", join(prod(0), "site-1", "startup", "rootCA.pem"), CERT(p2, n)]);
      assert.match(out, /: OK\s*$/, `${n} chains to the original root`);
      assert.equal(verifyStartupKit(join(p2, n), { rootFingerprint: first.rootFingerprint }).name, n);
    }
    assert.match(
      openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", CERT(p2, "member@hospital-c.org")]),
      /unstructuredName=member,O=hospital_c,CN=member@hospital-c\.org/,
    );
    const fedClient = JSON.parse(readFileSync(join(p2, "site-3", "startup", "fed_client.json"), "utf8")) as { servers: Array<{ service: { target: string } }> };
    assert.equal(fedClient.servers[0]?.service.target, `localhost:${ports[0]}`);
    const fedAdmin = JSON.parse(readFileSync(join(p2, "member@hospital-c.org", "startup", "fed_admin.json"), "utf8")) as { admin: { port: number } };
    assert.equal(fedAdmin.admin.port, ports[1], "an added user connects to the admin port");
    assert.deepEqual(readFileSync(join(projectDir, "state", "rootCA.pem")), rootPem);
    assert.deepEqual(readFileSync(join(projectDir, "state", "rootCA.key")), rootKey);
    assert.match(readFileSync(join(projectDir, "state", "certs.json"), "utf8"), /site-3/);
  });

  test("changing an admin's role without --force is refused: no new prod_NN, no wip/, state/ unchanged", async () => {
    const stateBefore = snapshotTree(join(projectDir, "state"));
    const listingBefore = listDir(projectDir);
    writeFileSync(file, projectYaml(...ports, "member"));
    const r = await runCli(["provision", "-p", file, "-w", ws]);
    assert.notEqual(r.code, 0);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /error \[ERR_PROVISION_IDENTITY_CHANGED\]/);
    assert.match(r.stderr, /lead@hospital-b\.org/);
    assert.match(r.stderr, /role \(lead → member\)/);
    assert.match(r.stderr, /--force/);
    assert.deepEqual(listDir(projectDir), listingBefore);
    assert.equal(existsSync(join(projectDir, "wip")), false);
    assert.deepEqual(snapshotTree(join(projectDir, "state")), stateBefore);
    // The library reports the same code, also when new participants (keys being generated) are in the same run.
    const withNew = writeFile(
      join(dir, "with-new.yml"),
      projectYaml(...ports, "member") + Array.from({ length: 8 }, (_, i) => `  - {name: new-${i}, type: client, org: hospital_a}\n`).join(""),
    );
    await assert.rejects(provision({ projectFile: withNew, workspace: ws }), (e: unknown) => isCohortError(e, ProvisionErrorCode.IdentityChanged));
    await new Promise((r) => setTimeout(r, 300)); // let any pending key generation finish
    assert.deepEqual(listDir(projectDir), listingBefore);
    assert.equal(existsSync(join(projectDir, "wip")), false);
    assert.deepEqual(snapshotTree(join(projectDir, "state")), stateBefore);
  });

  test("with --force the changed admin gets a new certificate with the new role; the others and the root stay", async () => {
    const r = await runCli(["provision", "-p", file, "-w", ws, "--force"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /lead@hospital-b\.org: new certificate issued \(role \(lead → member\)\)/);
    const p3 = prod(3);
    assert.ok(existsSync(p3));
    const cert = CERT(p3, "lead@hospital-b.org");
    assert.notDeepEqual(readFileSync(cert), readFileSync(CERT(prod(0), "lead@hospital-b.org")));
    assert.match(openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", cert]), /unstructuredName=member,O=hospital_b,CN=lead@hospital-b\.org/);
    assert.match(openssl(["verify", "-CAfile", join(prod(0), "localhost", "startup", "rootCA.pem"), cert]), /: OK/);
    for (const n of ORIGINAL.filter((x) => x !== "lead@hospital-b.org")) {
      assert.deepEqual(readFileSync(CERT(p3, n)), readFileSync(CERT(prod(0), n)), `${n} unchanged`);
    }
    assert.deepEqual(readFileSync(join(projectDir, "state", "rootCA.pem")), rootPem);
    assert.equal(verifyStartupKit(join(p3, "lead@hospital-b.org")).role, "member");
    // The next plain run keeps the re-issued certificate.
    const again = await provision({ projectFile: file, workspace: ws });
    assert.deepEqual(readFileSync(CERT(again.prodDir, "lead@hospital-b.org")), readFileSync(cert));
  });

  test("changed server host_names re-issue only the server certificate, with a warning", async () => {
    const before = listDir(projectDir)
      .filter((n) => n.startsWith("prod_"))
      .sort()
      .at(-1);
    assert.ok(before);
    writeFileSync(file, projectYaml(...ports, "member").replace('host_names: [127.0.0.1, "::1"]', "host_names: [127.0.0.1, fl.example.org]"));
    const r = await provision({ projectFile: file, workspace: ws });
    assert.ok(
      r.warnings.some((w) => /localhost: new certificate issued \(host names changed/.test(w)),
      r.warnings.join("\n"),
    );
    const san = openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", CERT(r.prodDir, "localhost")]);
    assert.match(san, /DNS:localhost, IP Address:127\.0\.0\.1, DNS:fl\.example\.org/);
    assert.deepEqual(readFileSync(CERT(r.prodDir, "site-1")), readFileSync(CERT(prod(0), "site-1")));
    assert.deepEqual(readFileSync(join(r.prodDir, "localhost", "startup", "rootCA.pem")), rootPem);
  });
});
