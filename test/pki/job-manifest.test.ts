/**
 * The job manifest (docs/protocol.md §5): the test vector from the document itself, and what the
 * per-file scheme let through: files dropped, renamed or moved with their entries, and a file
 * transplanted from another job signed by the same admin.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  buildJobManifest,
  canonicalJson,
  JOB_MANIFEST_FILE,
  JOB_SIGNATURE_FILE,
  manifestCanonicalBytes,
  signJob,
  signJobManifest,
  verifyBytes,
  verifyJobManifest,
} from "../../src/pki/index.js";
import { JobNonceStore } from "../../src/runtime/jobs/nonces.js";
import { REPO_ROOT, tempDir } from "../helpers/index.js";
import { provisionTestProject, type TestProject } from "../helpers/secure-session.js";
import { VECTOR, vectorBlock, writeJobFiles } from "../helpers/job-signers.js";

describe("job manifest test vector (docs/protocol.md §5.4)", () => {
  test("the real code produces the documented canonical bytes and digest; the documented signature verifies", () => {
    const d = join(tempDir("cohort-vector-"), "job");
    writeJobFiles(d, VECTOR.files);
    const certPem = VECTOR.certPem();
    const manifest = buildJobManifest(d, certPem, { jobName: VECTOR.jobName, nonce: VECTOR.nonce, at: VECTOR.at });
    const bytes = manifestCanonicalBytes(manifest);
    assert.equal(bytes.toString("utf8"), vectorBlock("vector-canonical"));
    assert.equal(bytes.byteLength, 1151);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), vectorBlock("vector-digest"));
    assert.ok(verifyBytes(certPem, bytes, vectorBlock("vector-signature")), "the documented signature verifies");
    // A fresh signature by the real code, with a key made for this test (no key is committed).
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const file = JSON.parse(signJobManifest(manifest, privateKey.export({ type: "pkcs8", format: "pem" }).toString())) as {
      manifest: string;
      signature: string;
    };
    assert.equal(file.manifest, bytes.toString("utf8"));
    assert.ok(verifyBytes(publicKey, bytes, file.signature), "a fresh signature by the real code verifies");
  });

  test("canonical JSON: keys by UTF-8 bytes, no whitespace, JSON.stringify escapes", () => {
    assert.equal(canonicalJson({ b: ["z", "a"], a: { é: '\n\u0001"', e: "x" } }), '{"a":{"e":"x","é":"\\n\\u0001\\""},"b":["z","a"]}');
  });
});

describe("job manifest verification", () => {
  let p: TestProject;
  before(async () => {
    p = await provisionTestProject("manifest_test");
  });
  const admin = (): { certPem: string; keyPem: string } => ({ certPem: p.kit("admin@nvidia.com").certPem, keyPem: p.kit("admin@nvidia.com").keyPem });

  function signedCopy(name = "job"): string {
    const d = join(tempDir("cohort-manifest-"), name);
    cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), d, { recursive: true });
    mkdirSync(join(d, "app", "custom"), { recursive: true });
    writeFileSync(join(d, "app", "custom", "filter.js"), `export const job = ${JSON.stringify(name)};\n`);
    signJob(d, admin(), { jobName: "hello-fedavg" });
    return d;
  }
  const rejects = (d: string, re: RegExp, reason?: string): void =>
    assert.throws(
      () => verifyJobManifest(d, p.server.rootPem),
      (e: { code?: string; message: string; details?: Record<string, unknown> }) => {
        assert.match(e.message, re);
        if (reason) assert.equal(e.details?.["reason"], reason);
        return true;
      },
    );

  test("a signed job verifies; the signer is the admin; FLARE's files are written and covered", () => {
    const d = signedCopy();
    const v = verifyJobManifest(d, p.server.rootPem);
    assert.equal(v.signer.name, "admin@nvidia.com");
    assert.ok(v.manifest.files[`app/${JOB_SIGNATURE_FILE}`], "FLARE's per-folder signature file is in the manifest");
    assert.ok(statSync(join(d, JOB_MANIFEST_FILE)).isFile());
    writeFileSync(join(d, "app", JOB_SIGNATURE_FILE), "{}\n");
    rejects(d, /app\/\.__nvfl_sig\.json was changed after signing/, "changed");
  });

  test("a symbolic link in the job cannot be signed, and one added after signing fails verification", () => {
    const d = signedCopy();
    symlinkSync(join(d, "meta.json"), join(d, "app", "custom", "link.json"));
    rejects(d, /link\.json/, "symlink");
    const unsigned = join(tempDir("cohort-manifest-"), "job");
    cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), unsigned, { recursive: true });
    symlinkSync(join(unsigned, "meta.json"), join(unsigned, "link.json"));
    assert.throws(
      () => signJob(unsigned, admin(), { jobName: "hello-fedavg" }),
      (e: { code?: string; message: string }) => /link\.json/.test(e.message),
    );
  });

  test("a file dropped with its FLARE entry is refused", () => {
    const d = signedCopy();
    rmSync(join(d, "app", "custom", "filter.js"));
    const sigs = JSON.parse(readFileSync(join(d, "app", "custom", JOB_SIGNATURE_FILE), "utf8")) as Record<string, string>;
    delete sigs["filter.js"];
    writeFileSync(join(d, "app", "custom", JOB_SIGNATURE_FILE), JSON.stringify(sigs));
    rejects(d, /app\/custom\/\.__nvfl_sig\.json was changed|filter\.js was removed/);
  });

  test("a file renamed or moved (with or without its entry) is refused, naming the path", () => {
    const d = signedCopy();
    renameSync(join(d, "app", "custom", "filter.js"), join(d, "app", "custom", "other.js"));
    rejects(d, /job file app\/custom\/other\.js was added after signing/, "added");
    const e = signedCopy();
    renameSync(join(e, "app", "custom", "filter.js"), join(e, "app", "config", "filter.js"));
    rejects(e, /app\/config\/filter\.js was added after signing/, "added");
  });

  test("a file transplanted from another job signed by the same admin is refused", () => {
    const a = signedCopy("job-a");
    const b = signedCopy("job-b");
    cpSync(join(b, "app", "custom", "filter.js"), join(a, "app", "custom", "filter.js"));
    rejects(a, /app\/custom\/filter\.js was changed after signing \(sha256 [0-9a-f]{64}, the manifest says/, "changed");
  });

  test("an empty folder added, an altered or non-canonical manifest are refused", () => {
    const d = signedCopy();
    mkdirSync(join(d, "app", "extra"));
    rejects(d, /job folder app\/extra was added after signing/, "added");
    const e = signedCopy();
    const f = JSON.parse(readFileSync(join(e, JOB_MANIFEST_FILE), "utf8")) as { manifest: string; signature: string };
    writeFileSync(join(e, JOB_MANIFEST_FILE), JSON.stringify({ ...f, manifest: f.manifest.replace('"job_name":"hello-fedavg"', '"job_name":"other"') }));
    assert.throws(() => verifyJobManifest(e, p.server.rootPem), { code: "ERR_JOB_TAMPERED" });
    writeFileSync(join(e, JOB_MANIFEST_FILE), JSON.stringify({ ...f, manifest: JSON.stringify(JSON.parse(f.manifest), null, 1) }));
    assert.throws(
      () => verifyJobManifest(e, p.server.rootPem),
      (err: { code?: string; message: string }) => err.code === "ERR_JOB_BAD_MANIFEST" && /not in canonical form/.test(err.message),
    );
  });

  test("file names that are Object.prototype members are entries like any other", () => {
    const d = signedCopy();
    writeFileSync(join(d, "constructor"), "x");
    rejects(d, /job file constructor was added after signing/, "added");
    const e = join(tempDir("cohort-manifest-"), "job");
    cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), e, { recursive: true });
    writeFileSync(join(e, "toString"), "x");
    signJob(e, admin(), { jobName: "hello-fedavg" });
    verifyJobManifest(e, p.server.rootPem);
    rmSync(join(e, "toString"));
    rejects(e, /job file toString was removed after signing/, "removed");
    writeFileSync(join(e, "__proto__"), "x");
    assert.throws(() => signJob(e, admin(), { jobName: "hello-fedavg" }), { code: "ERR_JOB_TAMPERED" });
  });

  test("signed with a site's key: refused as a bad signer", () => {
    const d = join(tempDir("cohort-manifest-"), "job");
    cpSync(join(REPO_ROOT, "examples", "jobs", "hello-fedavg"), d, { recursive: true });
    signJob(d, { certPem: p.kit("site-1").certPem, keyPem: p.kit("site-1").keyPem }, { jobName: "hello-fedavg" });
    assert.throws(() => verifyJobManifest(d, p.server.rootPem), { code: "ERR_JOB_BAD_SIGNER" });
  });
});

describe("a site's manifest nonces", () => {
  const manifest = (nonce: string, at: Date) => ({
    format: "cohort-job-manifest/1" as const,
    job_name: "j",
    submitter_certificate: "x",
    nonce,
    submitted_at: at.toISOString(),
    folders: [],
    files: {},
  });
  const n1 = "a".repeat(64);

  test("a nonce under a second job id is refused, also after a restart; the same job id is not a replay", () => {
    const file = join(tempDir("cohort-nonces-"), "workspace", "job_manifest_nonces.jsonl");
    const now = Date.now();
    new JobNonceStore(file).admit("site-1", "job-1", manifest(n1, new Date(now)), now);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const reloaded = new JobNonceStore(file);
    reloaded.admit("site-1", "job-1", manifest(n1, new Date(now)), now);
    assert.throws(
      () => reloaded.admit("site-1", "job-2", manifest(n1, new Date(now)), now),
      (e: { code?: string; message: string }) => e.code === "ERR_JOB_REPLAYED" && /already deployed here as job job-1/.test(e.message),
    );
  });

  test("at first deployment, older than the maximum age or from the future: refused; a known job id is not aged", () => {
    const file = join(tempDir("cohort-nonces-"), "n.jsonl");
    const now = Date.now();
    const store = new JobNonceStore(file, 30);
    assert.throws(
      () => store.admit("site-1", "job-old", manifest("b".repeat(64), new Date(now - 31 * 86_400_000)), now),
      (e: { code?: string; message: string }) => e.code === "ERR_JOB_MANIFEST_EXPIRED" && /job_manifest_max_age_days \(30\)/.test(e.message),
    );
    assert.throws(() => store.admit("site-1", "job-future", manifest("c".repeat(64), new Date(now + 2 * 3_600_000)), now), {
      code: "ERR_JOB_MANIFEST_EXPIRED",
    });
    store.admit("site-1", "job-1", manifest("d".repeat(64), new Date(now - 29 * 86_400_000)), now);
    store.admit("site-1", "job-1", manifest("d".repeat(64), new Date(now - 29 * 86_400_000)), now + 5 * 86_400_000);
  });
});
