/**
 * Issue 2 §5: provision a FLARE-format project (mixed connection_security, host_names with an IP
 * literal and ::1, default_host, connect_to as string and mapping, all four admin roles) on free
 * 127.0.0.1 ports, then check every kit with the system openssl.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provision } from "../../src/provision/index.js";
import { verifyStartupKit } from "../../src/pki/index.js";
import { freePorts, listDir, openssl, readJson, runCli, snapshotTree, tempDir, writeFile, type CliResult } from "../helpers/index.js";

const PROJECT = "fixture_project";
const SERVER = "server.example.org";
const ADMINS = {
  "admin@nvidia.com": { org: "nvidia", role: "project_admin" },
  "orgadmin@hospital-a.org": { org: "hospital_a", role: "org_admin" },
  "lead@hospital-b.org": { org: "hospital_b", role: "lead" },
  "member@hospital-c.org": { org: "hospital_c", role: "member" },
} as const;
const CLIENTS = { "site-a": "hospital_a", "site-b": "hospital_b", "site-c": "hospital_c" } as const;

const SERVER_STARTUP = ["fed_server.json", "rootCA.pem", "server.crt", "server.key", "signature.json", "start.sh", "stop_fl.sh", "sub_start.sh"];
const CLIENT_STARTUP = ["client.crt", "client.key", "fed_client.json", "rootCA.pem", "signature.json", "start.sh", "stop_fl.sh", "sub_start.sh"];
const ADMIN_STARTUP = ["client.crt", "client.key", "fed_admin.json", "fl_admin.sh", "rootCA.pem", "signature.json"];
const SITE_LOCAL = ["authorization.json.default", "log_config.json.default", "privacy.json.sample", "resources.json.default"];

function fixtureYaml(port: number): string {
  return `# FLARE project.yml (api_version 3) written by the test
api_version: 3
name: ${PROJECT}
description: fixture for issue 2
connection_security: tls          # project-level default, overridden per participant below
participants:
  - name: ${SERVER}
    type: server
    org: nvidia
    connection_security: mtls
    fed_learn_port: ${port}
    host_names: [127.0.0.1, "::1", ${SERVER}]
    default_host: localhost
  - name: site-a
    type: client
    org: hospital_a
    connection_security: mtls
    connect_to: 127.0.0.1
    capacity: {num_of_gpus: 2, mem_per_gpu_in_GiB: 16}
  - name: site-b
    type: client
    org: hospital_b
    connect_to: {host: localhost, port: ${port}, connection_security: tls}
  - name: site-c
    type: client
    org: hospital_c
    connection_security: clear
    allow_log_streaming: false
  - name: admin@nvidia.com
    type: admin
    org: nvidia
    role: project_admin
    connection_security: mtls
  - name: orgadmin@hospital-a.org
    type: admin
    org: hospital_a
    role: org_admin
    connect_to: {host: 127.0.0.1, connection_security: mtls}
  - name: lead@hospital-b.org
    type: admin
    org: hospital_b
    role: lead
  - name: member@hospital-c.org
    type: admin
    org: hospital_c
    role: member
builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args:
      config_folder: config
      scheme: grpc
  - path: nvflare.lighter.impl.cert.CertBuilder
    args:
      root_valid_days: 360
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`;
}

describe("provisioning a FLARE-format fixture project (CLI), checked with openssl", () => {
  let dir = "";
  let ws = "";
  let prod = "";
  let port = 0;
  let cli: CliResult = { code: null, stdout: "", stderr: "" };
  const kit = (name: string): string => join(prod, name);
  const startup = (name: string): string => join(prod, name, "startup");
  const all = [SERVER, ...Object.keys(CLIENTS), ...Object.keys(ADMINS)];

  before(async () => {
    dir = tempDir();
    ws = join(dir, "ws");
    [port] = (await freePorts(1)) as [number];
    writeFile(join(dir, "project.yml"), fixtureYaml(port));
    cli = await runCli(["provision", "-p", join(dir, "project.yml"), "-w", ws]);
    prod = join(ws, PROJECT, "prod_00");
  });

  test("cohort provision exits 0, writes prod_00 with every kit and its .tgz, and prints the root fingerprint openssl computes", () => {
    assert.equal(cli.code, 0, cli.stderr);
    const expected = [...all.flatMap((n) => [n, `${n}.tgz`])].sort();
    assert.deepEqual(listDir(prod), expected);
    assert.deepEqual(listDir(join(ws, PROJECT)), ["prod_00", "state"]);
    const fp = openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", join(startup(SERVER), "rootCA.pem")]).trim();
    const hex = fp.split("=")[1];
    assert.ok(hex && /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(hex), fp);
    assert.match(cli.stdout, new RegExp(`root CA fingerprint: SHA256:${hex}`));
    for (const n of all) assert.match(readFileSync(join(kit(n), "readme.txt"), "utf8"), new RegExp(`SHA256:${hex}`));
  });

  test("the tls and clear clients against the mtls server get the proxy warning", () => {
    assert.match(cli.stderr, /warning: .*participants\[2\]\.connection_security: site-b connects with tls but the server listens with mtls: .*proxy/);
    assert.match(cli.stderr, /warning: .*participants\[3\]\.connection_security: site-c connects with clear but the server listens with mtls: .*proxy/);
    assert.doesNotMatch(cli.stderr, /site-a connects/);
  });

  test("openssl verify -CAfile startup/rootCA.pem passes for every kit's certificate", () => {
    const rootBytes = readFileSync(join(startup(SERVER), "rootCA.pem"));
    for (const n of all) {
      const cert = n === SERVER ? "server.crt" : "client.crt";
      assert.deepEqual(readFileSync(join(startup(n), "rootCA.pem")), rootBytes, `${n} carries the same root`);
      const out = openssl(["verify", "-CAfile", join(startup(n), "rootCA.pem"), join(startup(n), cert)]);
      assert.match(out, /: OK\s*$/, `${n}: ${out}`);
    }
  });

  test("the root is a self-signed CA (CA:TRUE, keyCertSign) with CN=<project>, identical to state/rootCA.pem", () => {
    const root = join(startup(SERVER), "rootCA.pem");
    const ext = openssl(["x509", "-noout", "-ext", "basicConstraints,keyUsage", "-in", root]);
    assert.match(ext, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(ext, /Certificate Sign/);
    assert.match(ext, /CRL Sign/);
    assert.equal(openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", root]).trim(), `subject=CN=${PROJECT}`);
    assert.equal(openssl(["x509", "-noout", "-issuer", "-nameopt", "RFC2253", "-in", root]).trim(), `issuer=CN=${PROJECT}`);
    assert.deepEqual(readFileSync(root), readFileSync(join(ws, PROJECT, "state", "rootCA.pem")));
    assert.match(openssl(["verify", "-CAfile", root, root]), /OK/);
  });

  test("leaf subjects: CN=<name>, O=<org>, and admins carry their role in unstructuredName", () => {
    const subject = (n: string, cert: string): string =>
      openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", join(startup(n), cert)])
        .trim()
        .replace(/^subject=/, "");
    assert.equal(subject(SERVER, "server.crt"), `O=nvidia,CN=${SERVER}`);
    for (const [n, org] of Object.entries(CLIENTS)) assert.equal(subject(n, "client.crt"), `O=${org},CN=${n}`);
    for (const [n, a] of Object.entries(ADMINS)) {
      assert.equal(subject(n, "client.crt"), `unstructuredName=${a.role},O=${a.org},CN=${n}`);
      assert.equal(openssl(["x509", "-noout", "-issuer", "-nameopt", "RFC2253", "-in", join(startup(n), "client.crt")]).trim(), `issuer=CN=${PROJECT}`);
    }
  });

  test("server SANs: default_host first, then host_names, IP literals (127.0.0.1, ::1) as IP Address SANs; EKU serverAuth", () => {
    const out = openssl(["x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", join(startup(SERVER), "server.crt")]);
    const san = /X509v3 Subject Alternative Name:\s*\n\s*(.+)/.exec(out)?.[1]?.trim();
    assert.equal(san, `DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:${SERVER}`);
    assert.match(out, /TLS Web Server Authentication/);
    const client = openssl(["x509", "-noout", "-ext", "extendedKeyUsage,basicConstraints", "-in", join(startup("site-a"), "client.crt")]);
    assert.match(client, /TLS Web Client Authentication/);
    assert.match(client, /CA:FALSE/);
  });

  test("leaf keys are ECDSA P-256 signed with SHA-256 by default", () => {
    const text = openssl(["x509", "-noout", "-text", "-in", join(startup("site-b"), "client.crt")]);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /NIST CURVE: P-256|prime256v1/);
  });

  test("every private key file is mode 0600 (kits and state/)", () => {
    const mode = (p: string): number => statSync(p).mode & 0o777;
    for (const n of all) {
      const key = join(startup(n), n === SERVER ? "server.key" : "client.key");
      assert.equal(mode(key), 0o600, key);
      assert.match(readFileSync(key, "utf8"), /BEGIN PRIVATE KEY/);
    }
    const state = join(ws, PROJECT, "state");
    assert.equal(mode(join(state, "rootCA.key")), 0o600);
    assert.ok(existsSync(join(state, "certs.json")));
    // Whatever the state layout (keys/<name>.key or keys.json), every file holding a private key is 0600.
    const keyFiles = [...snapshotTree(state)].filter(([, bytes]) => bytes.includes("PRIVATE KEY"));
    assert.ok(keyFiles.length >= 2, "root key and participant keys are kept in state/");
    for (const [rel] of keyFiles) assert.equal(mode(join(state, rel)), 0o600, rel);
    const stateText = keyFiles.map(([, b]) => b.toString()).join("\n");
    for (const n of all) {
      const kitKey = readFileSync(join(startup(n), n === SERVER ? "server.key" : "client.key"), "utf8").trim();
      assert.ok(stateText.includes(kitKey.split("\n")[1] ?? "-"), `state/ keeps ${n}'s key`);
    }
  });

  test("FLARE's file names per kit type in startup/ and local/, plus readme.txt and transfer/", () => {
    for (const n of all) {
      assert.deepEqual(listDir(kit(n)), ["local", "readme.txt", "startup", "transfer"], n);
      assert.deepEqual(listDir(join(kit(n), "transfer")), [], n);
    }
    assert.deepEqual(listDir(startup(SERVER)), SERVER_STARTUP);
    assert.deepEqual(listDir(join(kit(SERVER), "local")), SITE_LOCAL);
    for (const n of Object.keys(CLIENTS)) {
      assert.deepEqual(listDir(startup(n)), CLIENT_STARTUP, n);
      assert.deepEqual(listDir(join(kit(n), "local")), SITE_LOCAL, n);
    }
    for (const n of Object.keys(ADMINS)) {
      assert.deepEqual(listDir(startup(n)), ADMIN_STARTUP, n);
      assert.deepEqual(listDir(join(kit(n), "local")), ["resources.json.default"], n);
    }
    for (const f of ["start.sh", "sub_start.sh", "stop_fl.sh"]) {
      assert.ok((statSync(join(startup("site-a"), f)).mode & 0o100) !== 0, `${f} is executable`);
      assert.match(readFileSync(join(startup("site-a"), f), "utf8"), /\$\{COHORT_BIN:-cohort\}/);
    }
    assert.match(readFileSync(join(startup("admin@nvidia.com"), "fl_admin.sh"), "utf8"), /\$\{COHORT_BIN:-cohort\}/);
    const sig = readJson<Record<string, string>>(join(startup("site-a"), "signature.json"));
    assert.deepEqual(
      Object.keys(sig).sort(),
      CLIENT_STARTUP.filter((f) => f !== "signature.json"),
    );
  });

  test("fed_server.json reflects the project: port, admin port = fed_learn_port, mtls, host names, scheme", () => {
    const j = readJson<{ format_version: number; servers: Array<Record<string, unknown>> }>(join(startup(SERVER), "fed_server.json"));
    assert.equal(j.format_version, 2);
    const s = j.servers[0];
    assert.ok(s);
    assert.deepEqual(s["service"], { target: `localhost:${port}`, scheme: "grpc" });
    assert.equal(s["name"], PROJECT);
    assert.equal(s["admin_port"], port);
    assert.equal(s["connection_security"], "mtls");
    assert.equal(s["ssl_cert"], "server.crt");
    assert.equal(s["ssl_private_key"], "server.key");
    assert.equal(s["ssl_root_cert"], "rootCA.pem");
    assert.deepEqual(s["host_names"], ["localhost", "127.0.0.1", "::1", SERVER]);
  });

  test("fed_client.json: target host:port and connection_security per client (participant override, connect_to mapping, clear)", () => {
    const expect: Record<string, { target: string; cs: string }> = {
      "site-a": { target: `127.0.0.1:${port}`, cs: "mtls" },
      "site-b": { target: `localhost:${port}`, cs: "tls" },
      "site-c": { target: `localhost:${port}`, cs: "clear" },
    };
    for (const [n, e] of Object.entries(expect)) {
      const j = readJson<{ servers: Array<{ service: { target: string; scheme: string }; identity: string }>; client: Record<string, unknown> }>(
        join(startup(n), "fed_client.json"),
      );
      assert.equal(j.servers[0]?.service.target, e.target, n);
      assert.equal(j.servers[0]?.service.scheme, "grpc", n);
      assert.equal(j.servers[0]?.identity, SERVER, n);
      assert.equal(j.client["connection_security"], e.cs, n);
      assert.equal(j.client["ssl_cert"], "client.crt");
      assert.equal(j.client["ssl_private_key"], "client.key");
      assert.equal(j.client["ssl_root_cert"], "rootCA.pem");
    }
    const resA = readFileSync(join(kit("site-a"), "local", "resources.json.default"), "utf8");
    assert.match(resA, /"num_of_gpus": 2/);
    assert.match(resA, /"mem_per_gpu_in_GiB": 16/);
    assert.match(readFileSync(join(kit("site-c"), "local", "resources.json.default"), "utf8"), /"allow_log_streaming": false/);
    const authz = readJson<{ permissions: Record<string, unknown> }>(join(kit("site-a"), "local", "authorization.json.default"));
    assert.deepEqual(Object.keys(authz.permissions).sort(), ["lead", "member", "org_admin", "project_admin"]);
  });

  test("fed_admin.json: admin port, host, the project-level default (tls) or the admin's override (mtls)", () => {
    const expect: Record<string, { host: string; cs: string }> = {
      "admin@nvidia.com": { host: "localhost", cs: "mtls" },
      "orgadmin@hospital-a.org": { host: "127.0.0.1", cs: "mtls" },
      "lead@hospital-b.org": { host: "localhost", cs: "tls" },
      "member@hospital-c.org": { host: "localhost", cs: "tls" },
    };
    for (const [n, e] of Object.entries(expect)) {
      const j = readJson<{ format_version: number; admin: Record<string, unknown> }>(join(startup(n), "fed_admin.json"));
      assert.equal(j.format_version, 1);
      assert.equal(j.admin["username"], n);
      assert.equal(j.admin["project_name"], PROJECT);
      assert.equal(j.admin["host"], e.host, n);
      assert.equal(j.admin["port"], port, n);
      assert.equal(j.admin["connection_security"], e.cs, n);
      assert.equal(j.admin["client_cert"], "client.crt");
      assert.equal(j.admin["client_key"], "client.key");
      assert.equal(j.admin["ca_cert"], "rootCA.pem");
    }
  });

  test("<participant>.tgz lists the whole kit and keeps the private key -rw-------", () => {
    for (const n of [SERVER, "site-b", "lead@hospital-b.org"]) {
      const listing = execFileSync("tar", ["-tzvf", join(prod, `${n}.tgz`)], { encoding: "utf8" });
      const keyName = n === SERVER ? "server.key" : "client.key";
      const files = n === SERVER ? SERVER_STARTUP : n.includes("@") ? ADMIN_STARTUP : CLIENT_STARTUP;
      for (const f of files) assert.match(listing, new RegExp(`${n.replace(/\./g, "\\.")}/startup/${f.replace(/\./g, "\\.")}\\s*$`, "m"), `${n}.tgz has ${f}`);
      assert.match(listing, new RegExp(`${n.replace(/\./g, "\\.")}/readme\\.txt\\s*$`, "m"));
      const keyLine = listing.split("\n").find((l) => l.endsWith(`/startup/${keyName}`));
      assert.ok(keyLine, listing);
      assert.match(keyLine, /^-rw------- /);
      const certLine = listing.split("\n").find((l) => l.endsWith(`/startup/rootCA.pem`));
      assert.match(certLine ?? "", /^-rw-r--r-- /);
    }
  });

  test("an ECDSA signature in signature.json verifies with openssl dgst against the root public key", () => {
    const tmp = tempDir();
    const pub = join(tmp, "pub.pem");
    writeFileSync(pub, openssl(["x509", "-noout", "-pubkey", "-in", join(startup("site-a"), "rootCA.pem")]));
    const sig = readJson<Record<string, string>>(join(startup("site-a"), "signature.json"));
    for (const f of ["fed_client.json", "client.crt"]) {
      const b64 = sig[f];
      assert.ok(b64, f);
      writeFileSync(join(tmp, "sig.bin"), Buffer.from(b64, "base64"));
      assert.match(openssl(["dgst", "-sha256", "-verify", pub, "-signature", join(tmp, "sig.bin"), join(startup("site-a"), f)]), /Verified OK/);
    }
  });

  test("every kit passes verifyStartupKit with the printed fingerprint", () => {
    const printed = /root CA fingerprint: (SHA256:[0-9A-F:]+)/.exec(cli.stdout)?.[1];
    assert.ok(printed, cli.stdout);
    for (const n of all) {
      const v = verifyStartupKit(kit(n), { rootFingerprint: printed });
      assert.equal(v.rootFingerprint, printed);
      assert.equal(v.name, n);
      assert.equal(v.type, n === SERVER ? "server" : n.includes("@") ? "admin" : "client");
      if (n in ADMINS) assert.equal(v.role, ADMINS[n as keyof typeof ADMINS].role);
    }
  });
});

describe("a server with a distinct admin_port (library call)", () => {
  test("fed_server.json and fed_admin.json carry admin_port; clients keep fed_learn_port", async () => {
    const dir = tempDir();
    const [flPort, adminPort] = (await freePorts(2)) as [number, number];
    assert.notEqual(flPort, adminPort);
    const file = writeFile(
      join(dir, "project.yml"),
      `api_version: 3
name: twoports
participants:
  - {name: localhost, type: server, org: nvidia, fed_learn_port: ${flPort}, admin_port: ${adminPort}}
  - {name: site-1, type: client, org: nvidia}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: project_admin}
`,
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    assert.equal(r.prodDir, join(dir, "ws", "twoports", "prod_00"));
    const server = readJson<{ servers: Array<Record<string, unknown>> }>(join(r.prodDir, "localhost", "startup", "fed_server.json")).servers[0];
    assert.deepEqual(server?.["service"], { target: `localhost:${flPort}`, scheme: "http" });
    assert.equal(server?.["admin_port"], adminPort);
    const admin = readJson<{ admin: Record<string, unknown> }>(join(r.prodDir, "admin@nvidia.com", "startup", "fed_admin.json")).admin;
    assert.equal(admin["port"], adminPort);
    assert.equal(admin["host"], "localhost");
    assert.equal(admin["connection_security"], "mtls");
    const client = readJson<{ servers: Array<{ service: { target: string } }>; client: Record<string, unknown> }>(
      join(r.prodDir, "site-1", "startup", "fed_client.json"),
    );
    assert.equal(client.servers[0]?.service.target, `localhost:${flPort}`);
    assert.equal(client.client["connection_security"], "mtls");
    assert.match(readFileSync(join(r.prodDir, "localhost", "readme.txt"), "utf8"), new RegExp(`admin port ${adminPort}`));
    const san = openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", join(r.prodDir, "localhost", "startup", "server.crt")]);
    assert.match(san, /DNS:localhost\s*$/m);
  });
});
