/**
 * Files a project.yml points at (custom_ca_cert, cc_config) and the --add-client / --add-user
 * files, as the config loader and provision see them.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadProjectFile, type ConfigIssue } from "../../src/config/index.js";
import { provision } from "../../src/provision/index.js";
import { createRootCertificate, generateKeyPair, verifyStartupKit } from "../../src/pki/index.js";
import { isCohortError, type CohortError } from "../../src/errors/index.js";
import { listDir, minimalProject, readJson, tempDir, writeFile } from "../helpers/index.js";

function refusal(fn: () => unknown): CohortError {
  try {
    fn();
  } catch (err) {
    assert.ok(isCohortError(err), String(err));
    return err;
  }
  assert.fail("expected a refusal");
}

describe("custom_ca_cert and cc_config", () => {
  test("custom_ca_cert (participant and project level) is copied to startup/customRootCA.pem, named in the json and signed", async () => {
    const dir = tempDir();
    const keys = await generateKeyPair("ec-p256");
    const caPem = await createRootCertificate({ commonName: "proxy-ca", validDays: 30, privateKeyPem: keys.privateKeyPem, publicKeySpki: keys.publicKeySpki });
    writeFile(join(dir, "certs", "proxy-ca.pem"), caPem);
    writeFile(join(dir, "cc", "site.yml"), "compute_env: onprem_cvm\n");
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({
        extraTop: "custom_ca_cert: certs/proxy-ca.pem",
        clients:
          "  - name: site-1\n    type: client\n    org: nvidia\n    cc_config: cc/site.yml\n  - name: site-2\n    type: client\n    org: nvidia\n    custom_ca_cert: certs/proxy-ca.pem",
      }),
    );
    const { project } = loadProjectFile(file);
    assert.equal(project.clients[0]?.ccConfig, join(dir, "cc", "site.yml"));
    assert.equal(project.clients[0]?.customCaCert, join(dir, "certs", "proxy-ca.pem"), "project-level default");
    assert.equal(project.admins[0]?.customCaCert, join(dir, "certs", "proxy-ca.pem"));
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    for (const n of ["site-1", "site-2", "admin@nvidia.com"]) {
      const startup = join(r.prodDir, n, "startup");
      assert.equal(readFileSync(join(startup, "customRootCA.pem"), "utf8"), caPem, n);
      assert.ok(verifyStartupKit(join(r.prodDir, n)).signedFiles.includes("customRootCA.pem"), n);
    }
    assert.equal(
      readJson<{ client: Record<string, unknown> }>(join(r.prodDir, "site-2", "startup", "fed_client.json")).client["custom_ca_cert"],
      "customRootCA.pem",
    );
    assert.equal(
      readJson<{ admin: Record<string, unknown> }>(join(r.prodDir, "admin@nvidia.com", "startup", "fed_admin.json")).admin["custom_ca_cert"],
      "customRootCA.pem",
    );
    assert.equal(listDir(join(r.prodDir, "server1", "startup")).includes("customRootCA.pem"), false, "the server gets none");
  });

  test("a custom_ca_cert that is not a PEM certificate is refused", () => {
    const dir = tempDir();
    writeFile(join(dir, "not-a-cert.pem"), "hello\n");
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({ clients: "  - name: site-1\n    type: client\n    org: nvidia\n    custom_ca_cert: not-a-cert.pem" }),
    );
    const err = refusal(() => loadProjectFile(file));
    const issue = (err.details["issues"] as ConfigIssue[]).find((i) => i.field === "participants[1].custom_ca_cert");
    assert.ok(issue);
    assert.match(issue.message, /is not a PEM X\.509 certificate/);
  });

  test("a project name that could escape the workspace is refused", () => {
    const dir = tempDir();
    for (const name of ['"../evil"', '"a/b"', '".."']) {
      const file = writeFile(join(dir, "project.yml"), minimalProject({ name }));
      const err = refusal(() => loadProjectFile(file));
      assert.ok(
        (err.details["issues"] as ConfigIssue[]).some((i) => i.field === "name"),
        name,
      );
    }
  });

  test("connect_to a host the server certificate does not carry warns (fine behind a proxy)", () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({ clients: "  - name: site-1\n    type: client\n    org: nvidia\n    connect_to: proxy.example.org" }),
    );
    const { warnings } = loadProjectFile(file);
    assert.ok(
      warnings.some((w) => /participants\[1\]\.connect_to: proxy\.example\.org is not one of the server's names/.test(w)),
      warnings.join("\n"),
    );
  });
});

describe("--add-client / --add-user files", () => {
  test("entries are added with their type forced; a valid site.yml and user.yml load", () => {
    const dir = tempDir();
    const file = writeFile(join(dir, "project.yml"), minimalProject());
    const site = writeFile(join(dir, "site.yml"), "name: site-9\norg: nvidia\ntype: admin\n");
    const user = writeFile(join(dir, "user.yml"), "name: bob@nvidia.com\norg: nvidia\nrole: member\n");
    const { project } = loadProjectFile(file, { addClients: [site], addUsers: [user] });
    assert.deepEqual(
      project.clients.map((c) => c.name),
      ["site-1", "site-9"],
    );
    assert.deepEqual(
      project.admins.map((a) => [a.name, a.role]),
      [
        ["admin@nvidia.com", "project_admin"],
        ["bob@nvidia.com", "member"],
      ],
    );
  });

  test("a site.yml that is not a mapping is refused naming site.yml", () => {
    const dir = tempDir();
    const file = writeFile(join(dir, "project.yml"), minimalProject());
    const site = writeFile(join(dir, "site.yml"), "- site-9\n");
    const err = refusal(() => loadProjectFile(file, { addClients: [site] }));
    assert.ok(err.message.includes(site), err.message);
  });

  test("an error inside an --add-client / --add-user file names that file (and its field), not project.yml", () => {
    const dir = tempDir();
    const file = writeFile(join(dir, "project.yml"), minimalProject());
    const site = writeFile(join(dir, "site.yml"), "name: site 9\norg: nvidia\nconnection_security: ssl\n");
    const user = writeFile(join(dir, "user.yml"), "name: bob@nvidia.com\norg: nvidia\n");
    const err = refusal(() => loadProjectFile(file, { addClients: [site], addUsers: [user] }));
    const issues = err.details["issues"] as ConfigIssue[];
    for (const [f, field] of [
      [site, "name"],
      [site, "connection_security"],
      [user, "role"],
    ] as const) {
      const issue = issues.find((i) => i.file === f && i.field.endsWith(field));
      assert.ok(issue, `an issue in ${f} for ${field}; got ${issues.map((i) => `${i.file}: ${i.field}`).join("; ")}`);
      assert.ok(err.message.includes(f));
    }
  });
});
