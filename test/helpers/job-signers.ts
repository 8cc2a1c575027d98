/**
 * The job manifest's three signers in tests (docs/protocol.md §5): the test vector read from the
 * document, a project root and admin kits issued by the real pki code, and the browser signer
 * bundled for the browser platform and run in a context with only a browser's globals.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { createContext, runInContext } from "node:vm";
import { build } from "esbuild";
import { createRootCertificate, generateKeyPair, issueCertificate, loadIssuer, type KeyAlgorithm } from "../../src/pki/index.js";
import { REPO_ROOT } from "./index.js";

/** A fenced block of docs/protocol.md, by its label (```text <label>). */
export function vectorBlock(label: string): string {
  const doc = readFileSync(join(REPO_ROOT, "docs", "protocol.md"), "utf8");
  const m = new RegExp(`\`\`\`text ${label}\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  assert.ok(m?.[1], `docs/protocol.md has no block ${label}`);
  return m[1];
}

/** §5.4's job: files (path → content), name, nonce and time; the certificate is the document's. */
export const VECTOR = {
  jobName: "vector-job",
  nonce: "0123456789abcdef".repeat(4),
  at: new Date("2026-12-01T12:00:00.000Z"),
  files: { "meta.json": '{"name":"vector-job"}', "app/config/config_fed_client.json": '{"executors":[]}', "data/é.txt": "ok\n" } as Readonly<
    Record<string, string>
  >,
  certPem: (): string => `${vectorBlock("vector-cert")}\n`,
} as const;

/** Writes a job folder: files (relative path → content) and folders, "/"-separated. */
export function writeJobFiles(dir: string, files: Readonly<Record<string, string | Uint8Array>>, folders: readonly string[] = []): void {
  mkdirSync(dir, { recursive: true });
  for (const f of folders) mkdirSync(join(dir, ...f.split("/")), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, ...path.split("/"));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

export interface TestKit {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A project root issued here and kits it signs: admins (a role) with EC and RSA keys, and a site (no role). */
export async function issueSigningProject(
  name = "signers_test",
): Promise<{ rootPem: string; admin: (alg?: KeyAlgorithm) => Promise<TestKit>; site: () => Promise<TestKit> }> {
  const rootKeys = await generateKeyPair("ec-p256");
  const rootPem = await createRootCertificate({
    commonName: name,
    validDays: 30,
    privateKeyPem: rootKeys.privateKeyPem,
    publicKeySpki: rootKeys.publicKeySpki,
  });
  const issuer = await loadIssuer(rootPem, rootKeys.privateKeyPem);
  const kit = async (commonName: string, role: string | undefined, alg: KeyAlgorithm): Promise<TestKit> => {
    const keys = await generateKeyPair(alg);
    const certPem = await issueCertificate({
      subject: { commonName, organization: "example", ...(role ? { role } : {}) },
      subjectPublicKeySpki: keys.publicKeySpki,
      subjectAltNames: [],
      extendedKeyUsages: ["clientAuth"],
      validDays: 30,
      issuer,
    });
    return { certPem, keyPem: keys.privateKeyPem };
  };
  return { rootPem, admin: (alg = "ec-p256") => kit("admin@example.org", "project_admin", alg), site: () => kit("site-1", undefined, "ec-p256") };
}

export type WebSigner = typeof import("../../src/pki/job-manifest-web.js");

/**
 * src/pki/job-manifest-web.ts bundled by esbuild for the browser platform (a Node built-in import
 * fails the build) and evaluated in a fresh context whose only globals besides JavaScript's own are
 * a browser's: crypto (WebCrypto), TextEncoder, btoa, atob. Also returns every module the bundle
 * took in (relative to the repository), every bare import it saw, and the bundled code.
 */
export async function loadWebSigner(): Promise<{ signer: WebSigner; modules: string[]; packages: string[]; code: string }> {
  const packages: string[] = [];
  const out = await build({
    entryPoints: [join(REPO_ROOT, "src", "pki", "job-manifest-web.ts")],
    bundle: true,
    platform: "browser",
    format: "iife",
    globalName: "CohortJobManifestWeb",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [
      {
        name: "record-bare-imports",
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            packages.push(args.path);
            return undefined;
          });
        },
      },
    ],
  });
  const code = out.outputFiles[0]?.text;
  assert.ok(code, "esbuild produced no bundle");
  const sandbox: Record<string, unknown> = { crypto: globalThis.crypto, TextEncoder, btoa, atob };
  const context = createContext(sandbox);
  runInContext(code, context, { filename: "job-manifest-web.bundle.js" });
  const modules = Object.keys(out.metafile.inputs).map((p) => relative(REPO_ROOT, join(process.cwd(), p)));
  return { signer: sandbox["CohortJobManifestWeb"] as WebSigner, modules, packages, code };
}
