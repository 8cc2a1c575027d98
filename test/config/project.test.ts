/**
 * project.yml loading: accepted-with-warning keys still provision, include merging, name rules,
 * defaults and overrides of connection_security.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { checkName, loadProjectFile, loadYamlWithIncludes, SERVER_CN_MAX, type NameKind } from "../../src/config/index.js";
import { provision } from "../../src/provision/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { listDir, minimalProject, openssl, readJson, tempDir, writeFile } from "../helpers/index.js";

describe("ignored keys warn and still provision", () => {
  test("use_aio and type overseer: a warning each, the project provisions, no overseer kit", async () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        server: "  - name: server1\n    type: server\n    org: nvidia\n    use_aio: true",
        admins:
          "  - name: admin@nvidia.com\n    type: admin\n    org: nvidia\n    role: project_admin\n  - name: overseer.example.org\n    type: overseer\n    org: nvidia",
      }),
    );
    const loaded = loadProjectFile(file);
    assert.ok(
      loaded.warnings.some((w) => w.includes("participants[0].use_aio") && /ignored/.test(w)),
      loaded.warnings.join("\n"),
    );
    assert.ok(
      loaded.warnings.some((w) => w.includes("participants[3].type") && /overseer ignored/.test(w)),
      loaded.warnings.join("\n"),
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    assert.ok(r.warnings.some((w) => /use_aio/.test(w)));
    assert.ok(r.warnings.some((w) => /overseer/.test(w)));
    assert.deepEqual(r.kits.map((k) => k.name).sort(), ["admin@nvidia.com", "server1", "site-1"]);
    assert.equal(existsSync(join(r.prodDir, "overseer.example.org")), false);
  });

  test("a custom admin role is accepted with a warning and lands in the certificate", async () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({ admins: "  - name: auditor@nvidia.com\n    type: admin\n    org: nvidia\n    role: auditor" }),
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    assert.ok(
      r.warnings.some((w) => /custom role "auditor"/.test(w)),
      r.warnings.join("\n"),
    );
    const subject = openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", join(r.prodDir, "auditor@nvidia.com", "startup", "client.crt")]);
    assert.match(subject, /unstructuredName=auditor/);
  });

  test("a server name over 64 characters is truncated for the CN (warning) and the full name becomes default_host", async () => {
    const dir = tempDir();
    const long = "very-long-server-name-for-the-truncation-rule.hospital-network.example.org";
    assert.ok(long.length > SERVER_CN_MAX);
    const short = long.slice(0, SERVER_CN_MAX);
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({ server: `  - name: ${long}\n    type: server\n    org: nvidia\n    fed_learn_port: 8102` }),
    );
    const loaded = loadProjectFile(file);
    assert.equal(loaded.project.server.name, short);
    assert.equal(loaded.project.server.defaultHost, long);
    assert.ok(
      loaded.warnings.some(
        (w) => w.includes("participants[0].name") && /longer than 64 characters: truncated/.test(w) && w.includes("the full name becomes default_host"),
      ),
      loaded.warnings.join("\n"),
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    assert.ok(listDir(r.prodDir).includes(short));
    const cert = join(r.prodDir, short, "startup", "server.crt");
    assert.equal(openssl(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", cert]).trim(), `subject=O=nvidia,CN=${short}`);
    assert.match(openssl(["x509", "-noout", "-ext", "subjectAltName", "-in", cert]), new RegExp(`DNS:${long.replace(/\./g, "\\.")}`));
    const client = readJson<{ servers: Array<{ service: { target: string }; identity: string }> }>(join(r.prodDir, "site-1", "startup", "fed_client.json"));
    assert.equal(client.servers[0]?.service.target, `${long}:8102`);
    assert.equal(client.servers[0]?.identity, short);
  });

  test("a long server name with its own default_host keeps that default_host", () => {
    const dir = tempDir();
    const long = `${"x".repeat(40)}.${"y".repeat(40)}.org`;
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({ server: `  - name: ${long}\n    type: server\n    org: nvidia\n    default_host: fl.example.org` }),
    );
    const loaded = loadProjectFile(file);
    assert.equal(loaded.project.server.name, long.slice(0, 64));
    assert.equal(loaded.project.server.defaultHost, "fl.example.org");
    assert.ok(loaded.warnings.some((w) => /truncated/.test(w) && !w.includes("becomes default_host")));
  });
});

describe("connection_security: project default, participant override, connect_to, proxy warnings", () => {
  test("a tls client against an mtls server produces the proxy warning; matching modes do not", () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        clients:
          "  - name: site-1\n    type: client\n    org: nvidia\n    connect_to: {host: server1, port: 8443, connection_security: tls}\n  - name: site-2\n    type: client\n    org: nvidia",
      }),
    );
    const loaded = loadProjectFile(file);
    const proxy = loaded.warnings.filter((w) => /proxy/.test(w));
    assert.equal(proxy.length, 1, proxy.join("\n"));
    assert.match(proxy[0] ?? "", /participants\[1\]\.connection_security: site-1 connects with tls but the server listens with mtls/);
    const [site1, site2] = loaded.project.clients;
    assert.deepEqual(site1?.connectTo, { host: "server1", port: 8443, connectionSecurity: "tls" });
    assert.deepEqual(site2?.connectTo, { host: "server1", port: 8002, connectionSecurity: "mtls" });
  });

  test("project-level connection_security is the default; a participant value overrides it (case-insensitive)", () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        extraTop: "connection_security: clear",
        clients: "  - name: site-1\n    type: client\n    org: nvidia\n  - name: site-2\n    type: client\n    org: nvidia\n    connection_security: TLS",
      }),
    );
    const { project, warnings } = loadProjectFile(file);
    assert.equal(project.server.connectionSecurity, "clear");
    assert.equal(project.clients[0]?.connectTo.connectionSecurity, "clear");
    assert.equal(project.clients[1]?.connectTo.connectionSecurity, "tls");
    assert.equal(project.admins[0]?.connectTo.connectionSecurity, "clear");
    assert.ok(warnings.some((w) => /site-2 connects with tls but the server listens with clear/.test(w)));
  });

  test("defaults: mtls, port 8002, admin_port = fed_learn_port, default_host = server name", () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      "api_version: 3\nname: defaults\nparticipants:\n  - {name: server1, type: server, org: nvidia}\n  - {name: site-1, type: client, org: nvidia}\n  - {name: a@b.org, type: admin, org: nvidia, role: member}\n",
    );
    const { project } = loadProjectFile(file);
    assert.equal(project.server.fedLearnPort, 8002);
    assert.equal(project.server.adminPort, 8002);
    assert.equal(project.server.defaultHost, "server1");
    assert.equal(project.server.connectionSecurity, "mtls");
    assert.deepEqual(project.clients[0]?.connectTo, { host: "server1", port: 8002, connectionSecurity: "mtls" });
    assert.deepEqual(
      project.builders.map((b) => b.kind),
      ["workspace", "static_file", "cert", "signature"],
    );
  });
});

describe("include merging", () => {
  test("nested includes merge, relative to the including file; keys beside include win", () => {
    const dir = tempDir();
    writeFile(join(dir, "parts", "common.yml"), "description: from common\nconnection_security: tls\n");
    writeFile(join(dir, "parts", "base.yml"), "include: common.yml\napi_version: 3\ndescription: from base\n");
    writeFile(join(dir, "parts", "server.yml"), "name: server1\ntype: server\norg: nvidia\nfed_learn_port: 9000\n");
    writeFile(join(dir, "parts", "clients.yml"), "participants:\n  - {name: ignored, type: client, org: x}\n");
    const file = writeFile(
      join(dir, "project.yml"),
      `include: parts/base.yml
name: included
participants:
  - include: parts/server.yml
    fed_learn_port: 9100
  - {name: site-1, type: client, org: nvidia}
  - {name: admin@nvidia.com, type: admin, org: nvidia, role: lead}
`,
    );
    const data = loadYamlWithIncludes(file) as Record<string, unknown>;
    assert.equal(data["api_version"], 3);
    assert.equal(data["description"], "from base", "the including file's keys win over the included file's");
    assert.equal(data["connection_security"], "tls");
    assert.equal("include" in data, false);
    const { project } = loadProjectFile(file);
    assert.equal(project.name, "included");
    assert.equal(project.server.name, "server1");
    assert.equal(project.server.fedLearnPort, 9100, "a key beside include inside a participant entry wins");
    assert.equal(project.server.connectionSecurity, "tls");
    assert.equal(project.clients.length, 1);
  });

  test("include as a list; the later file wins", () => {
    const dir = tempDir();
    writeFile(join(dir, "a.yml"), "description: a\nname: from_a\n");
    writeFile(join(dir, "b.yml"), "description: b\n");
    const file = writeFile(join(dir, "project.yml"), "include: [a.yml, b.yml]\napi_version: 3\n");
    assert.deepEqual(loadYamlWithIncludes(file), { description: "b", name: "from_a", api_version: 3 });
  });

  test("an include cycle is refused", () => {
    const dir = tempDir();
    writeFile(join(dir, "a.yml"), "include: b.yml\nx: 1\n");
    writeFile(join(dir, "b.yml"), "include: a.yml\ny: 2\n");
    const file = writeFile(join(dir, "project.yml"), "include: a.yml\napi_version: 3\n");
    assert.throws(
      () => loadYamlWithIncludes(file),
      (err: unknown) => isCohortError(err, "ERR_CONFIG_INCLUDE_CYCLE") && /includes itself/.test(err.message),
    );
    const self = writeFile(join(dir, "self.yml"), "include: self.yml\n");
    assert.throws(
      () => loadYamlWithIncludes(self),
      (err: unknown) => isCohortError(err, "ERR_CONFIG_INCLUDE_CYCLE"),
    );
  });

  test("an include of a missing file, of a non-mapping, or escaping via a nested file is refused", () => {
    const dir = tempDir();
    writeFile(join(dir, "outside.yml"), "a: 1\n");
    writeFile(join(dir, "proj", "list.yml"), "- 1\n- 2\n");
    writeFile(join(dir, "proj", "sub", "nested.yml"), "include: ../../outside.yml\n");
    const missing = writeFile(join(dir, "proj", "m.yml"), "include: nope.yml\n");
    assert.throws(
      () => loadYamlWithIncludes(missing),
      (err: unknown) => isCohortError(err, "ERR_CONFIG_FILE_NOT_FOUND") && err.message.includes("nope.yml"),
    );
    const list = writeFile(join(dir, "proj", "l.yml"), "include: list.yml\n");
    assert.throws(
      () => loadYamlWithIncludes(list),
      (err: unknown) => isCohortError(err, "ERR_CONFIG_INVALID") && /must hold a mapping/.test(err.message),
    );
    const nested = writeFile(join(dir, "proj", "n.yml"), "include: sub/nested.yml\n");
    assert.throws(
      () => loadYamlWithIncludes(nested),
      (err: unknown) => isCohortError(err, "ERR_CONFIG_INCLUDE_ESCAPES") && err.message.includes("../../outside.yml"),
    );
    const abs = writeFile(join(dir, "proj", "abs.yml"), `include: ${join(dir, "outside.yml")}\n`);
    assert.throws(
      () => loadYamlWithIncludes(abs),
      (err: unknown) => isCohortError(err, "ERR_CONFIG_INCLUDE_ESCAPES"),
    );
  });
});

describe("checkName (FLARE's name rules)", () => {
  const cases: Record<NameKind, { ok: string[]; bad: string[] }> = {
    host: {
      ok: ["localhost", "server1", "fl.example.org", "a-b.c-d.org", "127.0.0.1", "::1", "fe80::1", "10.0.0.255"],
      bad: ["", "bad_host", "-start.org", "end-.org", "a..b", "host name", "server!", "a.", `${"a".repeat(250)}.example`],
    },
    site: { ok: ["site-1", "site_1", "SITE", "a", "s".repeat(63)], bad: ["", "site one", "site.1", "site/1", "s".repeat(64), "site@1"] },
    email: {
      ok: ["admin@nvidia.com", "first.last+tag@sub.example.org", "a_b@c.io"],
      bad: ["", "admin", "admin@", "admin@nvidia", "a b@c.com", "@c.com", "admin@c.c"],
    },
    org: { ok: ["nvidia", "hospital_a", "ORG1"], bad: ["", "hospital-a", "org one", "o".repeat(65), "org.a"] },
    simple: { ok: ["project_admin", "lead", "role1"], bad: ["", "lead role", "org-admin", "r".repeat(65)] },
  };
  for (const [kind, { ok, bad }] of Object.entries(cases) as Array<[NameKind, { ok: string[]; bad: string[] }]>) {
    test(kind, () => {
      for (const v of ok) assert.equal(checkName(kind, v), undefined, `${kind} accepts ${JSON.stringify(v)}`);
      for (const v of bad) {
        const rule = checkName(kind, v);
        assert.ok(rule, `${kind} refuses ${JSON.stringify(v)}`);
        assert.match(rule, /^must be /);
      }
    });
  }
});
