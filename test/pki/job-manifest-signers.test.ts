/**
 * The job manifest's three signers (docs/protocol.md §5.4): the console (src/pki/job-manifest.ts),
 * Python tooling (python/cohort_flare/job_manifest.py) and a browser (src/pki/job-manifest-web.ts,
 * bundled for the browser and run with a browser's globals only). All three give the documented
 * vector's bytes and agree byte for byte on random file names; what Python and the browser sign,
 * the console's real verifier accepts, and refuses once a file changes.
 * The Python parts need /usr/bin/python3 with cryptography (skipped naming the package; a failure
 * under CI=true).
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, webcrypto } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { buildJobManifest, JOB_MANIFEST_FILE, manifestCanonicalBytes, scanJobFolder, signJob, verifyJobManifest } from "../../src/pki/index.js";
import { badJobPathSegment } from "../../src/pki/job-manifest-format.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { PYTHON, requireSystem } from "../helpers/requirements.js";
import { issueSigningProject, loadWebSigner, VECTOR, vectorBlock, writeJobFiles, type TestKit, type WebSigner } from "../helpers/job-signers.js";

const PY_DIR = join(REPO_ROOT, "python");
const needsPython = requireSystem("python3", "python3-cryptography");

function runPython(args: readonly string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, args, {
    input,
    encoding: "utf8",
    env: { PYTHONPATH: PY_DIR, PATH: "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1", PYTHONIOENCODING: "utf-8" },
    cwd: PY_DIR,
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface PythonJob {
  readonly dir: string;
  readonly certPem: string;
  readonly jobName: string;
  readonly nonce: string;
  readonly at: string;
}

/** Python's manifest (canonical bytes) of each folder, or its refusal, from one process. */
function pythonManifests(jobs: readonly PythonJob[]): Array<{ bytes: Buffer } | { code: string; reason: string | undefined }> {
  const code = `import base64, datetime, json, sys
from cohort_flare import job_manifest as jm
out = []
for j in json.load(sys.stdin):
    at = datetime.datetime.fromisoformat(j["at"].replace("Z", "+00:00"))
    try:
        m = jm.build_manifest(j["dir"], j["certPem"], j["jobName"], j["nonce"], at)
        out.append({"bytes": base64.b64encode(jm.canonical_bytes(m)).decode()})
    except jm.JobManifestError as e:
        out.append({"code": e.code, "reason": e.details.get("reason")})
print(json.dumps(out))`;
  const r = runPython(["-c", code], JSON.stringify(jobs));
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ bytes?: string; code?: string; reason?: string }>).map((o) =>
    o.bytes !== undefined ? { bytes: Buffer.from(o.bytes, "base64") } : { code: o.code ?? "", reason: o.reason },
  );
}

/** A job folder as a folder picker gives it: (path, bytes) entries, the manifest file left out by the signer. */
function entriesOf(dir: string): Array<{ path: string; bytes: Uint8Array }> {
  return Object.keys(scanJobFolder(dir).files).map((path) => ({ path, bytes: new Uint8Array(readFileSync(join(dir, ...path.split("/")))) }));
}

const refusal =
  (code: string, reason?: string) =>
  (e: unknown): boolean => {
    const err = e as { code?: string; details?: Record<string, unknown>; message?: string };
    assert.equal(err.code, code, err.message);
    if (reason) assert.equal(err.details?.["reason"], reason, err.message);
    return true;
  };

let web: WebSigner;
let bundle: { modules: string[]; packages: string[]; code: string };
before(async () => {
  const loaded = await loadWebSigner();
  web = loaded.signer;
  bundle = loaded;
});

describe("job manifest signers: the test vector (docs/protocol.md §5.4)", () => {
  test("the console, Python and the browser signer produce the documented canonical bytes", { ...needsPython, timeout: 60_000 }, async () => {
    const want = Buffer.from(vectorBlock("vector-canonical"), "utf8");
    assert.equal(want.byteLength, 1151);
    const d = join(tempDir("cohort-signers-"), "job");
    writeJobFiles(d, VECTOR.files);
    const certPem = VECTOR.certPem();
    const console_ = manifestCanonicalBytes(buildJobManifest(d, certPem, { jobName: VECTOR.jobName, nonce: VECTOR.nonce, at: VECTOR.at }));
    assert.deepEqual(console_, want, "console");
    const [py] = pythonManifests([{ dir: d, certPem, jobName: VECTOR.jobName, nonce: VECTOR.nonce, at: VECTOR.at.toISOString() }]);
    assert.ok(py && "bytes" in py, JSON.stringify(py));
    assert.deepEqual(py.bytes, want, "Python");
    const files = Object.entries(VECTOR.files).map(([path, text]) => ({ path, bytes: new TextEncoder().encode(text) }));
    const browser = web.canonicalManifestBytes(
      await web.buildManifest({ files, certificatePem: certPem, jobName: VECTOR.jobName, nonce: VECTOR.nonce, at: VECTOR.at }),
    );
    assert.deepEqual(Buffer.from(browser), want, "browser");
  });

  test("the browser signer imports nothing from Node: its browser bundle holds only src/ modules, shares the console's encoder and runs with a browser's globals alone", () => {
    assert.deepEqual(bundle.packages, [], "no package or Node built-in is imported");
    assert.ok(
      bundle.modules.every((m) => m.startsWith("src/")),
      bundle.modules.join(", "),
    );
    assert.ok(bundle.modules.includes("src/pki/job-manifest-format.ts"), "the canonical encoder is the console's (job-manifest-format.ts)");
    assert.ok(!bundle.modules.includes("src/pki/job-manifest.ts"), "the console's node:fs/node:crypto module is not in the bundle");
    assert.doesNotMatch(bundle.code, /\b(Buffer|process|require|__dirname|__filename|setImmediate)\b/);
    // The console's module imports the same encoder rather than keeping one of its own.
    assert.match(readFileSync(join(REPO_ROOT, "src", "pki", "job-manifest.ts"), "utf8"), /from "\.\/job-manifest-format\.js"/);
  });
});

describe("job manifest signers: what Python and the browser sign, the console verifies", () => {
  let project: Awaited<ReturnType<typeof issueSigningProject>>;
  let ec: TestKit;
  let rsa: TestKit;
  before(async () => {
    project = await issueSigningProject();
    ec = await project.admin("ec-p256");
    rsa = await project.admin("rsa-2048");
  });

  function exampleJob(): string {
    const d = join(tempDir("cohort-signers-"), "job");
    writeJobFiles(d, { ...VECTOR.files, "app/custom/filter.py": "def f(x):\n    return x\n", "données/∑.bin": new Uint8Array([0, 255, 7]) }, ["app/empty"]);
    return d;
  }
  function kitFiles(kit: TestKit): { cert: string; key: string; root: string } {
    const d = tempDir("cohort-signers-kit-");
    const files = { cert: join(d, "client.crt"), key: join(d, "client.key"), root: join(d, "rootCA.pem") };
    writeFileSync(files.cert, kit.certPem);
    writeFileSync(files.key, kit.keyPem, { mode: 0o600 });
    writeFileSync(files.root, project.rootPem);
    return files;
  }

  test("a job signed by Python's CLI (EC and RSA kits) is accepted by verifyJobManifest; a file changed afterwards: ERR_JOB_TAMPERED", {
    ...needsPython,
    timeout: 60_000,
  }, () => {
    for (const kit of [ec, rsa]) {
      const d = exampleJob();
      const k = kitFiles(kit);
      const r = runPython(["-m", "cohort_flare.job_manifest", "sign", d, "--cert", k.cert, "--key", k.key]);
      assert.equal(r.status, 0, r.stderr);
      const v = verifyJobManifest(d, project.rootPem);
      assert.equal(v.signer.name, "admin@example.org");
      assert.equal(v.signer.role, "project_admin");
      assert.equal(v.manifest.job_name, "vector-job");
      assert.deepEqual(v.manifest.folders, ["app", "app/config", "app/custom", "app/empty", "data", "données"]);
      writeFileSync(join(d, "app", "custom", "filter.py"), "def f(x):\n    return 0\n");
      assert.throws(
        () => verifyJobManifest(d, project.rootPem),
        (e: unknown) => refusal("ERR_JOB_TAMPERED", "changed")(e) && /app\/custom\/filter\.py was changed after signing/.test((e as Error).message),
      );
    }
  });

  test("Python's verifier accepts a job the console signed, and refuses it once a file is added", { ...needsPython, timeout: 60_000 }, () => {
    const d = exampleJob();
    signJob(d, ec, { jobName: "vector-job" });
    const k = kitFiles(ec);
    const ok = runPython(["-m", "cohort_flare.job_manifest", "verify", d, "--root", k.root]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /signed by admin@example\.org \(example, project_admin\)/);
    writeFileSync(join(d, "data", "extra.txt"), "x");
    const bad = runPython(["-m", "cohort_flare.job_manifest", "verify", d, "--root", k.root]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /ERR_JOB_TAMPERED: job file data\/extra\.txt was added after signing/);
  });

  test("a job signed by the browser signer (PKCS#8 PEM EC key; RSA-PSS CryptoKey) is accepted by verifyJobManifest; changed afterwards: ERR_JOB_TAMPERED", async () => {
    const rsaKey = await webcrypto.subtle.importKey(
      "pkcs8",
      createPrivateKey(rsa.keyPem).export({ type: "pkcs8", format: "der" }),
      { name: "RSA-PSS", hash: "SHA-256" },
      false,
      ["sign"],
    );
    for (const [kit, key] of [
      [ec, ec.keyPem],
      [rsa, rsaKey],
    ] as const) {
      const d = exampleJob();
      const signed = await web.signManifest({ files: entriesOf(d), emptyFolders: ["app/empty"], certificatePem: kit.certPem, key, jobName: "vector-job" });
      assert.equal(signed.fileName, JOB_MANIFEST_FILE);
      writeFileSync(join(d, signed.fileName), signed.fileText);
      const v = verifyJobManifest(d, project.rootPem);
      assert.equal(v.signer.name, "admin@example.org");
      assert.deepEqual(Buffer.from(signed.bytes), manifestCanonicalBytes(v.manifest));
      writeFileSync(join(d, "meta.json"), '{"name":"other"}');
      assert.throws(() => verifyJobManifest(d, project.rootPem), refusal("ERR_JOB_TAMPERED", "changed"));
    }
    // A site's kit (no role) signs, but is not a job signer.
    const site = await project.site();
    const d = exampleJob();
    writeFileSync(
      join(d, JOB_MANIFEST_FILE),
      (await web.signManifest({ files: entriesOf(d), emptyFolders: ["app/empty"], certificatePem: site.certPem, key: site.keyPem, jobName: "vector-job" }))
        .fileText,
    );
    assert.throws(() => verifyJobManifest(d, project.rootPem), refusal("ERR_JOB_BAD_SIGNER"));
  });

  test("the browser signer refuses bad input naming the field, the value and the fix", async () => {
    const base = { files: [{ path: "meta.json", bytes: new Uint8Array([123, 125]) }], certificatePem: ec.certPem, key: ec.keyPem, jobName: "j" };
    const refused = async (o: Parameters<WebSigner["signManifest"]>[0], code: string, re: RegExp): Promise<void> => {
      await assert.rejects(web.signManifest(o), (e: { code?: string; message: string }) => e.code === code && re.test(e.message));
    };
    await refused(
      { ...base, files: [...base.files, { path: "meta.json", bytes: new Uint8Array() }] },
      "ERR_JOB_BAD_MANIFEST",
      /files\[1\]\.path \("meta\.json"\) is listed twice/,
    );
    await refused(
      { ...base, files: [{ path: "/etc/x", bytes: new Uint8Array() }] },
      "ERR_JOB_BAD_MANIFEST",
      /must be relative to the job root: remove the leading "\/"/,
    );
    await refused({ ...base, files: [{ path: "a/../b", bytes: new Uint8Array() }] }, "ERR_JOB_TAMPERED", /job file "a\/..\/b": the name ".." is empty/);
    await refused(
      {
        ...base,
        files: [
          { path: "a", bytes: new Uint8Array() },
          { path: "a/b", bytes: new Uint8Array() },
        ],
      },
      "ERR_JOB_BAD_MANIFEST",
      /files\[0\]\.path \("a"\) is also a folder of another entry/,
    );
    await refused({ ...base, nonce: "XYZ" }, "ERR_JOB_BAD_MANIFEST", /nonce must be 64 lowercase hex digits/);
    const encrypted = createPrivateKey(ec.keyPem).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" }).toString();
    await refused({ ...base, key: encrypted }, "ERR_JOB_BAD_MANIFEST", /key must be a PEM "PRIVATE KEY" \(unencrypted PKCS#8\): decrypt it first/);
    const hmac = await webcrypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    await refused({ ...base, key: hmac }, "ERR_JOB_BAD_MANIFEST", /key cannot sign a job manifest; give the kit's client\.key/);
  });
});

describe("job manifest signers: the three encoders agree", () => {
  const BAD_NAMES = ["back\\slash", "tab\there", "new\nline", "del\u007f", "__proto__"];

  test("names the console refuses, Python and the browser signer refuse too (bad_name)", { ...needsPython, timeout: 60_000 }, async () => {
    const dirs = BAD_NAMES.map((name) => {
      const d = join(tempDir("cohort-signers-bad-"), "job");
      writeJobFiles(d, { "meta.json": "{}", [`app/${name}`]: "x" });
      assert.throws(() => buildJobManifest(d, VECTOR.certPem(), { jobName: "j" }), refusal("ERR_JOB_TAMPERED", "bad_name"), `console: ${JSON.stringify(name)}`);
      return d;
    });
    const py = pythonManifests(dirs.map((dir) => ({ dir, certPem: VECTOR.certPem(), jobName: "j", nonce: VECTOR.nonce, at: VECTOR.at.toISOString() })));
    py.forEach((r, i) => assert.deepEqual(r, { code: "ERR_JOB_TAMPERED", reason: "bad_name" }, `Python: ${JSON.stringify(BAD_NAMES[i])}`));
    for (const name of BAD_NAMES) {
      await assert.rejects(
        web.buildManifest({ files: [{ path: `app/${name}`, bytes: new Uint8Array() }], certificatePem: VECTOR.certPem(), jobName: "j" }),
        refusal("ERR_JOB_TAMPERED", "bad_name"),
        `browser: ${JSON.stringify(name)}`,
      );
    }
  });

  // Names that tell orderings apart (UTF-16 puts U+1F600 before U+FF5E and U+E000; code points do
  // not), decompose differently (é vs e + U+0301), or need escaping in JSON.
  const TRICKY = [
    "a",
    "A",
    "é",
    "e\u0301",
    "\uff5e",
    "\u{1F600}",
    "\ue000",
    "~",
    "a b",
    '"q"',
    "\u2028",
    "\u0085",
    "x.y",
    "...",
    ".hidden",
    "Ω",
    "日本",
    "constructor",
  ];
  const segment = fc
    .oneof(fc.constantFrom(...TRICKY), fc.string({ unit: "binary", minLength: 1, maxLength: 10 }))
    .filter((s) => badJobPathSegment(s) === undefined && Buffer.byteLength(s) <= 200 && s !== JOB_MANIFEST_FILE);
  const item = fc.record({ path: fc.array(segment, { minLength: 1, maxLength: 3 }), folder: fc.boolean(), bytes: fc.uint8Array({ maxLength: 32 }) });
  /** A job: files and (possibly empty) folders, no path both a file and a folder. */
  const job = fc.array(item, { minLength: 1, maxLength: 10 }).map((items) => {
    const files: Record<string, Uint8Array> = {};
    const folders = new Set<string>();
    for (const it of items) {
      const path = it.path.join("/");
      const parents = it.path.slice(0, -1).map((_, i) => it.path.slice(0, i + 1).join("/"));
      if (Object.hasOwn(files, path) || folders.has(path) || parents.some((p) => Object.hasOwn(files, p))) continue;
      parents.forEach((p) => folders.add(p));
      if (it.folder) folders.add(path);
      else files[path] = it.bytes;
    }
    return { files, folders: [...folders] };
  });

  test("random unicode file names and contents: console, Python and browser manifests are byte for byte the same", {
    ...needsPython,
    timeout: 180_000,
  }, async () => {
    const certPem = VECTOR.certPem();
    await fc.assert(
      fc.asyncProperty(fc.array(job, { minLength: 1, maxLength: 12 }), async (jobs) => {
        const dirs = jobs.map((j) => {
          const d = join(tempDir("cohort-signers-prop-"), "job");
          writeJobFiles(d, j.files, j.folders);
          return d;
        });
        const py = pythonManifests(dirs.map((dir) => ({ dir, certPem, jobName: "j", nonce: VECTOR.nonce, at: VECTOR.at.toISOString() })));
        for (const [i, j] of jobs.entries()) {
          const dir = dirs[i] ?? "";
          const console_ = manifestCanonicalBytes(buildJobManifest(dir, certPem, { jobName: "j", nonce: VECTOR.nonce, at: VECTOR.at }));
          const files = Object.entries(j.files).map(([path, bytes]) => ({ path, bytes }));
          const browser = web.canonicalManifestBytes(
            await web.buildManifest({ files, emptyFolders: j.folders, certificatePem: certPem, jobName: "j", nonce: VECTOR.nonce, at: VECTOR.at }),
          );
          assert.deepEqual(Buffer.from(browser), console_, "browser vs console");
          const p = py[i];
          assert.ok(p && "bytes" in p, `Python refused: ${JSON.stringify(p)}`);
          assert.deepEqual(p.bytes, console_, "Python vs console");
        }
      }),
      { numRuns: 10 },
    );
  });
});

test("python/tests/test_job_manifest.py passes under /usr/bin/python3 with cryptography, nothing skipped", { ...needsPython, timeout: 120_000 }, () => {
  const r = runPython(["-m", "unittest", "-v", "tests.test_job_manifest"]);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /Ran \d+ tests[\s\S]*\nOK\n?$/);
  assert.doesNotMatch(r.stderr, /skipped/);
});
