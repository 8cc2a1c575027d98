/** prod_NN numbering and limits, serial numbers, certs.json state. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { provision, ProvisionErrorCode } from "../../src/provision/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { listDir, minimalProject, openssl, snapshotTree, tempDir, writeFile } from "../helpers/index.js";

test("prod_NN continues after the highest existing number, and a workspace at prod_99 is refused untouched", async () => {
  const dir = tempDir();
  const file = writeFile(join(dir, "project.yml"), minimalProject({ name: "numbered" }));
  const ws = join(dir, "ws");
  const projectDir = join(ws, "numbered");
  mkdirSync(join(projectDir, "prod_07"), { recursive: true });
  const r = await provision({ projectFile: file, workspace: ws });
  assert.equal(r.prodDir, join(projectDir, "prod_08"));

  mkdirSync(join(projectDir, "prod_99"));
  const stateBefore = snapshotTree(join(projectDir, "state"));
  const listing = listDir(projectDir);
  await assert.rejects(
    provision({ projectFile: file, workspace: ws }),
    (e: unknown) => isCohortError(e, ProvisionErrorCode.WorkspaceFull) && /prod_99/.test(e.message),
  );
  assert.deepEqual(listDir(projectDir), listing);
  assert.deepEqual(snapshotTree(join(projectDir, "state")), stateBefore);
});

test("serial numbers are random and distinct; state/certs.json records every issued certificate", async () => {
  const dir = tempDir();
  const file = writeFile(
    join(dir, "project.yml"),
    minimalProject({
      name: "serials",
      clients: "  - {name: site-1, type: client, org: a}\n  - {name: site-2, type: client, org: a}\n  - {name: site-3, type: client, org: a}",
    }),
  );
  const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
  const serials = r.kits.map((k) =>
    openssl(["x509", "-noout", "-serial", "-in", join(k.dir, "startup", k.type === "server" ? "server.crt" : "client.crt")]).trim(),
  );
  serials.push(openssl(["x509", "-noout", "-serial", "-in", join(r.prodDir, "server1", "startup", "rootCA.pem")]).trim());
  assert.equal(new Set(serials).size, serials.length);
  for (const s of serials) assert.ok(s.replace(/^serial=/, "").length >= 16, `at least 64 random bits: ${s}`);
  const certs = JSON.parse(readFileSync(join(dir, "ws", "serials", "state", "certs.json"), "utf8")) as { participants: Record<string, { certPem: string }> };
  assert.deepEqual(Object.keys(certs.participants).sort(), r.kits.map((k) => k.name).sort());
  for (const k of r.kits) {
    assert.equal(certs.participants[k.name]?.certPem, readFileSync(join(k.dir, "startup", k.type === "server" ? "server.crt" : "client.crt"), "utf8"));
  }
});

test("a re-run with another key_algorithm is refused (state conflict); a changed root_valid_days keeps the root with a warning", async () => {
  const dir = tempDir();
  const ws = join(dir, "ws");
  const builders = (args: string): string => `builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
  - path: nvflare.lighter.impl.cert.CertBuilder
    args: {${args}}
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`;
  const file = writeFile(join(dir, "project.yml"), minimalProject({ name: "algo", builders: builders("root_valid_days: 360") }));
  const first = await provision({ projectFile: file, workspace: ws });
  const projectDir = join(ws, "algo");
  const stateBefore = snapshotTree(join(projectDir, "state"));

  writeFile(file, minimalProject({ name: "algo", builders: builders("key_algorithm: rsa-2048") }));
  await assert.rejects(
    provision({ projectFile: file, workspace: ws }),
    (e: unknown) => isCohortError(e, ProvisionErrorCode.StateConflict) && /key_algorithm/.test(e.message),
  );
  assert.deepEqual(listDir(projectDir), ["prod_00", "state"]);
  assert.deepEqual(snapshotTree(join(projectDir, "state")), stateBefore);

  writeFile(file, minimalProject({ name: "algo", builders: builders("root_valid_days: 720") }));
  const third = await provision({ projectFile: file, workspace: ws });
  assert.equal(third.rootFingerprint, first.rootFingerprint);
  assert.ok(
    third.warnings.some((w) => /root_valid_days is 720 but the existing root CA was made with 360/.test(w)),
    third.warnings.join("\n"),
  );
});
