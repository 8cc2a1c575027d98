/**
 * The documented install (README.md, docs/provisioning.md): `npm pack` of a fresh build makes the
 * release artefact, `npm install -g ./<artefact>.tgz` installs it with no network (every runtime
 * dependency is bundled in it), and the installed `cohort` provisions, verifies a kit, and runs a
 * server and a site through their kits' start.sh (real processes, found on PATH as a site has it).
 *
 * Skipped, with the reason, only when npm or tar is not on this machine.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { installCommand } from "../../src/provision/templates/scripts.js";
import { freePort, REPO_ROOT, tempDir, writeFile, type CliResult } from "../helpers/index.js";

const missingTool = ["npm", "tar"].find((t) => spawnSync(t, ["--version"], { stdio: "ignore" }).status !== 0);
const skip = missingTool ? { skip: `${missingTool} is not on PATH: the packed artefact cannot be built and installed here` } : {};

/** Files a fresh build and `npm pack` read (package.json's "files" and the build's inputs). */
const SOURCES = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "README.md",
  "src",
  "scripts",
  "python",
  "examples",
  "docs",
  "job_templates",
];

let dir = "";
let prefix = "";
let artefact = "";
const kits: string[] = [];

/** The environment of a site shell: no npm settings of the test runner's own npm, the install's bin first on PATH. */
function siteEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^npm_/i.test(k) && !["COHORT_BIN", "COHORT_CA_PASSPHRASE", "NODE_TEST_CONTEXT"].includes(k)) env[k] = v;
  }
  return { ...env, PATH: `${join(prefix, "bin")}:${process.env["PATH"] ?? ""}`, HOME: dir, npm_config_update_notifier: "false", ...extra };
}

function sh(file: string, args: readonly string[], cwd: string, timeoutMs = 120_000, env = siteEnv()): Promise<CliResult> {
  return new Promise((resolveRun) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : null) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

before(async () => {
  if (missingTool) return;
  dir = tempDir("cohort-install-");
  prefix = join(dir, "prefix");
  // A fresh build: the sources copied, the checkout's node_modules (build tools, the packages to bundle) beside them.
  const build = join(dir, "build");
  for (const s of SOURCES) cpSync(join(REPO_ROOT, s), join(build, s), { recursive: true, filter: (p) => !p.includes("__pycache__") });
  // A real folder, not a link: npm pack bundles only the direct dependencies of a linked node_modules
  // (their own dependencies go missing from the artefact). Hard links cost nothing; a copy where they cannot be made.
  const linked = spawnSync("cp", ["-al", realpathSync(join(REPO_ROOT, "node_modules")), join(build, "node_modules")]);
  if (linked.status !== 0) cpSync(join(REPO_ROOT, "node_modules"), join(build, "node_modules"), { recursive: true, dereference: true });
  const out = join(dir, "out");
  mkdirSync(out);
  const pack = await sh("npm", ["pack", "--pack-destination", out, "--cache", join(dir, "pack-cache")], build, 240_000);
  assert.equal(pack.code, 0, pack.stdout + pack.stderr);
  const made = readdirSync(out).filter((f) => f.endsWith(".tgz"));
  assert.equal(made.length, 1, made.join(", "));
  artefact = join(out, made[0] ?? "");
});

after(async () => {
  for (const kit of kits) await sh(join(kit, "startup", "stop_fl.sh"), [], kit, 30_000);
});

test("every package the runtime imports is a dependency, and every dependency is bundled in the artefact", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    name: string;
    private?: boolean;
    dependencies: Record<string, string>;
    bundleDependencies: string[];
  };
  assert.equal(pkg.name, "@cohort-fl/cohort");
  assert.equal(pkg.private, true, "handed out as an artefact, never published");
  assert.deepEqual([...pkg.bundleDependencies].sort(), Object.keys(pkg.dependencies).sort());
  const src = join(REPO_ROOT, "src");
  const imported = new Set<string>();
  for (const f of readdirSync(src, { recursive: true, encoding: "utf8" })) {
    if (!f.endsWith(".ts") || !statSync(join(src, f)).isFile()) continue;
    for (const m of readFileSync(join(src, f), "utf8").matchAll(/(?:from |import\(|require\(|^import )"([^".][^"]*)"/gm)) {
      const spec = m[1] ?? "";
      if (spec.startsWith("node:")) continue;
      imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec));
    }
  }
  // esbuild bundles the job child only when Cohort runs from its TypeScript sources (a checkout).
  imported.delete("esbuild");
  assert.ok(imported.size >= 8, [...imported].join(", "));
  assert.deepEqual(
    [...imported].filter((p) => !(p in pkg.dependencies)),
    [],
    "imported by src/ but not a dependency (a site install would lack it)",
  );
});

test("the artefact carries the built CLI, the Python shim and the runtime dependencies, and no build tools", skip, async () => {
  // The artefact's name is the one the docs and every kit's start.sh tell a site to install.
  assert.equal(`npm install -g ./${artefact.split("/").pop()}`, installCommand());
  const list = await sh("tar", ["tzf", artefact], dir);
  assert.equal(list.code, 0, list.stderr);
  const files = new Set(list.stdout.split("\n"));
  for (const f of [
    "package/dist/cli/main.js",
    "package/dist/cli/commands/admin.js",
    "package/python/cohort_flare/api.py",
    "package/python/flare_shim/nvflare/client/__init__.py",
    "package/examples/project.yml",
    "package/job_templates/fedavg_np/config_fed_server.conf",
    "package/examples/template-scripts/numpy/client.py",
    "package/node_modules/zod/package.json",
    "package/node_modules/node-seal/package.json",
    "package/node_modules/@grpc/grpc-js/package.json",
    // dependencies of dependencies too (a linked node_modules once left these out)
    "package/node_modules/@peculiar/asn1-schema/package.json",
  ])
    assert.ok(files.has(f), `${f} is not in the artefact`);
  for (const prefixOf of [
    "package/src/",
    "package/test/",
    "package/python/tests/",
    "package/node_modules/typescript/",
    "package/node_modules/esbuild/",
    "package/node_modules/tsx/",
  ])
    assert.ok(![...files].some((f) => f.startsWith(prefixOf)), `${prefixOf} must not be in the artefact`);
});

test("installed offline from the artefact: cohort --help, provision, kit verify, and start.sh runs a server and a site", {
  ...skip,
  timeout: 300_000,
}, async () => {
  const emptyCache = join(dir, "empty-cache");
  mkdirSync(emptyCache);
  // --offline with an empty cache and an unreachable registry: everything must come from the artefact.
  const install = await sh(
    "npm",
    ["install", "-g", "--offline", "--cache", emptyCache, "--prefix", prefix, "--registry", "http://127.0.0.1:9/", `./${artefact.split("/").pop()}`],
    join(dir, "out"),
    240_000,
  );
  assert.equal(install.code, 0, install.stdout + install.stderr);
  const cohort = join(prefix, "bin", "cohort");
  assert.ok(realpathSync(cohort).startsWith(realpathSync(prefix)), "the installed cohort, not the checkout's");

  const help = await sh("cohort", ["--help"], dir);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: cohort/);
  // Cohort's job templates come with the install (cohort job create -w <name>).
  const templates = await sh("cohort", ["job", "list_templates"], dir);
  assert.equal(templates.code, 0, templates.stderr);
  assert.match(templates.stdout, /fedavg_np/);

  const port = await freePort();
  const project = writeFile(
    join(dir, "site", "project.yml"),
    `api_version: 3\nname: installed\nparticipants:\n  - {name: localhost, type: server, org: o, fed_learn_port: ${port}, host_names: [127.0.0.1]}\n  - {name: site-1, type: client, org: o, connect_to: 127.0.0.1}\n  - {name: admin@o.org, type: admin, org: o, role: project_admin}\n`,
  );
  const prov = await sh("cohort", ["provision", "-p", project, "-w", "ws"], join(dir, "site"));
  assert.equal(prov.code, 0, prov.stdout + prov.stderr);
  const fingerprint = /root CA fingerprint: (SHA256:[0-9A-F:]+)/.exec(prov.stdout)?.[1];
  assert.ok(fingerprint, prov.stdout);
  const prod = join(dir, "site", "ws", "installed", "prod_00");

  const verify = await sh("cohort", ["kit", "verify", join(prod, "site-1"), "--root-fingerprint", fingerprint], dir);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /kit OK: site-1 .*\n.*\(matches\)/);

  for (const name of ["localhost", "site-1"]) {
    const kit = join(prod, name);
    kits.push(kit);
    // One second is enough to see a supervisor that stopped at once (start-script.test.ts covers that case).
    const start = await sh(join(kit, "startup", "start.sh"), ["--verify", fingerprint], kit, 120_000, siteEnv({ COHORT_START_WAIT: "1" }));
    assert.equal(start.code, 0, start.stdout + start.stderr);
    assert.match(start.stdout, new RegExp(`started ${name} supervisor`));
  }
  const serverLog = join(prod, "localhost", "supervisor.log");
  const deadline = Date.now() + 60_000;
  while (!(existsSync(serverLog) && /client site-1 \(o\) logged in/.test(readFileSync(serverLog, "utf8"))) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 250));
  assert.match(readFileSync(serverLog, "utf8"), /client site-1 \(o\) logged in/, "the site started by start.sh logged in to the server");
});
