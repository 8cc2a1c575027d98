/**
 * FLARE's own sample project file (nvflare/lighter/dummy_project.yml, read from ../shared/data/flare)
 * provisions unchanged: WorkspaceBuilder's `template_file` as a list, and FLARE's obsolete
 * TemplateBuilder, are accepted with a warning naming them. An error in a builder's args is reported
 * once, never as a second "builder is missing" for the builder that is there.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { loadProjectFile } from "../../src/config/index.js";
import { isCohortError } from "../../src/errors/index.js";
import { verifyStartupKit } from "../../src/pki/index.js";
import { provision } from "../../src/provision/index.js";
import { flareFile, requireFlareData } from "../helpers/flare-data.js";
import { DEFAULT_BUILDERS_YAML, minimalProject, tempDir, writeFile } from "../helpers/index.js";

/** The messages of a refused project file (fails the test when the file is accepted). */
function problems(file: string): string[] {
  try {
    loadProjectFile(file);
  } catch (err) {
    assert.ok(isCohortError(err), String(err));
    const issues = (err.details as { issues?: { field: string; message: string }[] }).issues ?? [];
    return issues.map((i) => `${i.field}: ${i.message}`);
  }
  assert.fail(`${file} was accepted`);
}

describe("FLARE's dummy_project.yml", () => {
  test("provisions unchanged: template_file as a list is named in a warning, every kit verifies", requireFlareData(), async () => {
    const file = flareFile("nvflare", "lighter", "dummy_project.yml");
    const dir = tempDir();
    const { project, warnings } = loadProjectFile(file);
    assert.deepEqual(
      project.builders.map((b) => b.kind),
      ["workspace", "static_file", "cert", "signature"],
    );
    assert.ok(
      warnings.some((w) => w.includes("builders[0].args.template_file") && w.includes("ignored")),
      warnings.join("\n"),
    );
    // Every other key of the file is accepted silently: a warning names only template_file.
    assert.deepEqual(
      warnings.filter((w) => !w.includes("template_file")),
      [],
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    const raw = parse(readFileSync(file, "utf8")) as { participants: { name: string }[] };
    assert.deepEqual(r.kits.map((k) => k.name).sort(), raw.participants.map((p) => p.name).sort());
    for (const kit of r.kits) verifyStartupKit(join(r.prodDir, kit.name), { rootFingerprint: r.rootFingerprint ?? "" });
  });
});

describe("builders FLARE knows", () => {
  test("TemplateBuilder (obsolete in FLARE) is accepted with a warning naming it and runs nothing", async () => {
    const dir = tempDir();
    const builders = DEFAULT_BUILDERS_YAML.replace(
      "  - path: nvflare.lighter.impl.static_file.StaticFileBuilder",
      "  - path: nvflare.lighter.impl.template.TemplateBuilder\n  - path: nvflare.lighter.impl.static_file.StaticFileBuilder",
    );
    const file = writeFile(join(dir, "project.yml"), minimalProject({ builders }));
    const { project, warnings } = loadProjectFile(file);
    assert.ok(
      warnings.some((w) => w.includes("builders[1].path") && /TemplateBuilder|obsolete/.test(w)),
      warnings.join("\n"),
    );
    assert.deepEqual(
      project.builders.map((b) => b.kind),
      ["workspace", "static_file", "cert", "signature"],
    );
    const r = await provision({ projectFile: file, workspace: join(dir, "ws") });
    assert.equal(r.kits.length, 3);
  });

  test("template_file as one name is accepted too; a number is refused naming the field", () => {
    const dir = tempDir();
    const one = writeFile(
      join(dir, "one.yml"),
      minimalProject({ builders: DEFAULT_BUILDERS_YAML.replace("WorkspaceBuilder\n", "WorkspaceBuilder\n    args: {template_file: master_template.yml}\n") }),
    );
    assert.ok(loadProjectFile(one).warnings.some((w) => w.includes("template_file")));
    const bad = writeFile(
      join(dir, "bad.yml"),
      minimalProject({ builders: DEFAULT_BUILDERS_YAML.replace("WorkspaceBuilder\n", "WorkspaceBuilder\n    args: {template_file: 5}\n") }),
    );
    const found = problems(bad);
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0] ?? "", /builders\[0\]\.args\.template_file: must be a file name or a list of file names/);
  });

  test("an error in a present builder's args never comes with a 'builder is missing' for it", () => {
    const dir = tempDir();
    const cases: [string, string, RegExp][] = [
      ["WorkspaceBuilder\n", "WorkspaceBuilder\n    args: {nonsense: 1}\n", /builders\[0\]\.args/],
      ["CertBuilder\n", "CertBuilder\n    args: {root_valid_days: -1}\n", /builders\[2\]\.args\.root_valid_days/],
      ["config_folder: config\n", "config_folder: config\n      scheme: carrier-pigeon\n", /builders\[1\]\.args\.scheme/],
    ];
    for (const [from, to, field] of cases) {
      const file = writeFile(join(dir, `${cases.findIndex((c) => c[0] === from)}.yml`), minimalProject({ builders: DEFAULT_BUILDERS_YAML.replace(from, to) }));
      const found = problems(file);
      assert.equal(found.length, 1, found.join("\n"));
      assert.match(found[0] ?? "", field);
      assert.ok(!found.some((p) => /is missing/.test(p)), found.join("\n"));
    }
  });

  test("a builder that really is missing is still reported", () => {
    const dir = tempDir();
    const file = writeFile(
      join(dir, "project.yml"),
      minimalProject({ builders: DEFAULT_BUILDERS_YAML.replace("  - path: nvflare.lighter.impl.cert.CertBuilder\n", "") }),
    );
    assert.ok(problems(file).some((p) => /the cert builder is missing/.test(p)));
  });

  test("the builders of FLARE's HA sample project: each key named in a warning or refused by name, never 'unknown'", () => {
    // FLARE's nvflare/lighter/ha_project.yml builders section (its participants need FLARE's HA,
    // two servers and an overseer, which Cohort does not run): the StaticFileBuilder's HA args
    // warn by name, Docker and Helm builders are refused by name.
    const dir = tempDir();
    const builders = `builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
    args:
      template_file:
        - master_template.yml
        - aws_template.yml
        - azure_template.yml
  - path: nvflare.lighter.impl.template.TemplateBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args:
      config_folder: config
      overseer_agent:
        path: nvflare.ha.overseer_agent.HttpOverseerAgent
        overseer_exists: true
      snapshot_persistor:
        path: nvflare.app_common.state_persistors.storage_state_persistor.StorageStatePersistor
        args: {uri_root: /, storage: {path: nvflare.app_common.storages.filesystem_storage.FilesystemStorage, args: {root_dir: /tmp/nvflare/snapshot-storage, uri_root: /}}}
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
`;
    const { warnings } = loadProjectFile(writeFile(join(dir, "ha.yml"), minimalProject({ builders })));
    for (const field of ["builders[0].args.template_file", "builders[1].path", "builders[2].args.overseer_agent", "builders[2].args.snapshot_persistor"])
      assert.ok(
        warnings.some((w) => w.includes(field)),
        `${field}:\n${warnings.join("\n")}`,
      );
    const withDocker = builders.replace(
      "  - path: nvflare.lighter.impl.static_file.StaticFileBuilder",
      "  - path: nvflare.lighter.impl.docker.DockerBuilder\n    args: {base_image: python:3.8, requirements_file: docker_compose_requirements.txt}\n  - path: nvflare.lighter.impl.helm_chart.HelmChartBuilder\n    args: {docker_image: localhost:32000/nvfl-min:0.0.1}\n  - path: nvflare.lighter.impl.static_file.StaticFileBuilder",
    );
    const found = problems(writeFile(join(dir, "ha-docker.yml"), minimalProject({ builders: withDocker })));
    assert.equal(found.length, 2, found.join("\n"));
    assert.match(found[0] ?? "", /builders\[2\]\.path: not supported yet: docker/);
    assert.match(found[1] ?? "", /builders\[3\]\.path: not supported yet: Helm charts/);
  });
});
