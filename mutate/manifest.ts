// Mutants of the signed job manifest (src/pki/job-manifest*.ts): each lets a job changed after
// signing, or signed by the wrong key, be deployed.
import { mutant, type MutationArea } from "./_engine.js";

const MANIFEST = "src/pki/job-manifest.ts";
const FORMAT = "src/pki/job-manifest-format.ts";

const area: MutationArea = {
  title: "job manifest (src/pki/job-manifest.ts, job-manifest-format.ts)",
  tests: ["test/pki/job-manifest.test.ts", "test/runtime/site-security.test.ts", "test/pki/job-manifest-signers.test.ts"],
  mutants: [
    mutant(
      "manifest-signature-unchecked",
      "a manifest changed after signing (or signed by anyone) is accepted",
      MANIFEST,
      'if (!verifyBytes(new X509Certificate(certPem).publicKey, Buffer.from(outer.manifest, "utf8"), outer.signature)) {',
      "if (false) {",
    ),
    mutant(
      "manifest-non-canonical-accepted",
      "a manifest not in canonical form (two byte strings for one manifest) is accepted",
      MANIFEST,
      "if (canonicalJson(manifest) !== outer.manifest) return bad(",
      "if (false) return bad(",
    ),
    mutant(
      "manifest-folders-order-unchecked",
      "unsorted or duplicated folders are accepted",
      MANIFEST,
      "if (new Set(sorted).size !== sorted.length || sorted.some((f, i) => f !== manifest.folders[i])) return bad(",
      "if (false) return bad(",
    ),
    mutant(
      "manifest-added-file-ignored",
      "a file added after signing is deployed",
      MANIFEST,
      'if (want === undefined) fail(path, "added"',
      'if (false) fail(path, "added"',
    ),
    mutant("manifest-changed-file-ignored", "a file changed after signing is deployed", MANIFEST, "else if (want !== sha) fail(", "else if (false) fail("),
    mutant(
      "manifest-removed-file-ignored",
      "a file removed after signing goes unnoticed",
      MANIFEST,
      'if (!Object.hasOwn(files, path)) fail(path, "removed"',
      'if (false) fail(path, "removed"',
    ),
    mutant(
      "manifest-added-folder-ignored",
      "a folder added after signing is deployed",
      MANIFEST,
      'if (!manifest.folders.includes(f)) fail(f, "added"',
      'if (false) fail(f, "added"',
    ),
    mutant(
      "manifest-removed-folder-ignored",
      "a folder removed after signing goes unnoticed",
      MANIFEST,
      'if (!have.has(f)) fail(f, "removed"',
      'if (false) fail(f, "removed"',
    ),
    mutant(
      "manifest-symlink-followed",
      "a symbolic link in the job folder is hashed as its target",
      MANIFEST,
      "if (st.isSymbolicLink()) throw",
      "if (false) throw",
    ),
    mutant(
      "manifest-nested-manifest-skipped",
      "a file named like the manifest in a subfolder is neither signed nor checked",
      MANIFEST,
      "if (path === JOB_MANIFEST_FILE) continue;",
      "if (name === JOB_MANIFEST_FILE) continue;",
    ),
    mutant(
      "manifest-proto-record",
      "the scanned file table has a prototype: Object.prototype names look present",
      MANIFEST,
      "const files = Object.create(null) as Record<string, string>;",
      "const files = {} as Record<string, string>;",
    ),
    mutant(
      "format-dotdot-accepted",
      "'..' and '.' are accepted as path segments (path traversal at unpacking)",
      FORMAT,
      "/^(?!\\.\\.?$)[^/\\\\\\u0000-\\u001f\\u007f]+$/u",
      "/^[^/\\\\\\u0000-\\u001f\\u007f]+$/u",
    ),
    mutant("format-proto-accepted", "'__proto__' is accepted as a path segment", FORMAT, '  if (name === "__proto__") return "is __proto__";\n', ""),
    mutant(
      "format-keys-unsorted",
      "canonical JSON keeps insertion order: the bytes signed differ from other signers'",
      FORMAT,
      "Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareUtf8(a, b));",
      "Object.entries(value as Record<string, unknown>);",
    ),
    mutant(
      "format-utf16-order",
      "names sorted by UTF-16 units, not UTF-8 bytes (differs above U+FFFF)",
      FORMAT,
      "  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;\n  if (unit >= 0xe000) return unit - 0x800;\n",
      "",
    ),
    mutant(
      "format-lone-surrogate-accepted",
      "a name with a lone surrogate (no UTF-8 form) is accepted",
      FORMAT,
      "if (/\\p{Cs}/u.test(name)) return",
      "if (false) return",
    ),
  ],
};

export default area;
