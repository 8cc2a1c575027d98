import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { certificateFingerprint, normalizeFingerprint } from "./fingerprint.js";
import { signBytes, verifyBytes } from "./signatures.js";
import { verifyCertificateChain, verifyRootCertificate } from "./verify-chain.js";
import { readCertificateInfo } from "./certificate-info.js";
import { KitErrorCode } from "./errors.js";

/** FLARE's kit signature file: a flat map file name → base64 signature, in `startup/`. */
export const KIT_SIGNATURE_FILE = "signature.json";

export type KitType = "server" | "client" | "admin";

/** Which config file marks which kit type, and the cert/key file names each type uses (FLARE's). */
const KIT_LAYOUT: Readonly<Record<KitType, { config: string; cert: string; key: string }>> = {
  server: { config: "fed_server.json", cert: "server.crt", key: "server.key" },
  client: { config: "fed_client.json", cert: "client.crt", key: "client.key" },
  admin: { config: "fed_admin.json", cert: "client.crt", key: "client.key" },
};

const signatureMapSchema = z.record(z.string().min(1), z.string().min(1));

/** Signs every regular file of a kit's startup folder with the root key into signature.json. */
export function signKitFolder(startupDir: string, rootPrivateKeyPem: string): Record<string, string> {
  const key = createPrivateKey(rootPrivateKeyPem);
  const signatures: Record<string, string> = {};
  for (const name of readdirSync(startupDir).sort()) {
    if (name === KIT_SIGNATURE_FILE) continue;
    const path = join(startupDir, name);
    const st = lstatSync(path);
    if (st.isSymbolicLink() || !st.isFile()) {
      throw new CohortError(
        KitErrorCode.Tampered,
        `${path}: only regular files may be signed into a kit (found ${st.isSymbolicLink() ? "a symlink" : "a folder"})`,
        { file: path },
      );
    }
    signatures[name] = signBytes(key, readFileSync(path));
  }
  writeFileSync(join(startupDir, KIT_SIGNATURE_FILE), `${JSON.stringify(signatures, null, 2)}\n`);
  return signatures;
}

export interface VerifyKitOptions {
  /** Expected root fingerprint (`SHA256:AA:BB:…`), compared out of band. */
  readonly rootFingerprint?: string;
  readonly at?: Date;
}

export interface VerifiedKit {
  readonly dir: string;
  readonly type: KitType;
  readonly name: string;
  readonly org: string | undefined;
  readonly role: string | undefined;
  readonly rootFingerprint: string;
  readonly certificateNotAfter: Date;
  readonly signedFiles: readonly string[];
}

function tampered(dir: string, file: string, reason: string, message: string): CohortError {
  return new CohortError(KitErrorCode.Tampered, `${join(dir, "startup", file)}: ${message}`, { file: join(dir, "startup", file), reason });
}

/**
 * Verifies a participant's startup kit: signature.json covers exactly the files in startup/ and
 * each signature checks against rootCA.pem; the identity certificate chains to that root and is
 * valid now; the private key matches it and is not readable by others; and, when given, the
 * root matches the expected fingerprint. Throws a CohortError naming the file and the reason.
 */
export function verifyStartupKit(dir: string, options: VerifyKitOptions = {}): VerifiedKit {
  const startup = join(dir, "startup");
  if (!existsSync(startup) || !statSync(startup).isDirectory()) {
    throw new CohortError(KitErrorCode.NotAKit, `${dir}: not a startup kit (no startup/ folder); give the participant folder, e.g. prod_00/site-1`, {
      file: startup,
    });
  }
  const type = (Object.keys(KIT_LAYOUT) as KitType[]).find((t) => existsSync(join(startup, KIT_LAYOUT[t].config)));
  const rootFile = join(startup, "rootCA.pem");
  if (!existsSync(rootFile)) throw tampered(dir, "rootCA.pem", "removed", "missing: every kit carries its project's root certificate");
  const rootPem = readFileSync(rootFile, "utf8");
  const root = verifyRootCertificate(rootPem, { label: rootFile, ...(options.at ? { at: options.at } : {}) });
  const fingerprint = certificateFingerprint(rootPem);
  if (options.rootFingerprint !== undefined) {
    const expected = normalizeFingerprint(options.rootFingerprint);
    if (expected !== fingerprint) {
      throw new CohortError(
        KitErrorCode.RootMismatch,
        `${rootFile}: root certificate fingerprint ${fingerprint} does not match the expected ${expected}; this kit was not made by your project's provisioning`,
        {
          file: rootFile,
          expected,
          actual: fingerprint,
        },
      );
    }
  }

  const sigFile = join(startup, KIT_SIGNATURE_FILE);
  if (!existsSync(sigFile)) {
    throw new CohortError(KitErrorCode.Unsigned, `${sigFile}: missing; the kit is unsigned and cannot be checked (re-provision with the SignatureBuilder)`, {
      file: sigFile,
    });
  }
  let map: Record<string, string>;
  try {
    map = signatureMapSchema.parse(JSON.parse(readFileSync(sigFile, "utf8")));
  } catch {
    throw tampered(dir, KIT_SIGNATURE_FILE, "invalid", "not a valid signature map (file name → base64 signature)");
  }
  const present = readdirSync(startup)
    .filter((n) => n !== KIT_SIGNATURE_FILE)
    .sort();
  for (const name of present) {
    const path = join(startup, name);
    const st = lstatSync(path);
    if (!(name in map)) throw tampered(dir, name, "added", "not covered by signature.json: the file was added after provisioning; remove it");
    if (st.isSymbolicLink() || !st.isFile()) throw tampered(dir, name, "replaced", "is not a regular file (symlink or folder) where a signed file should be");
    if (!verifyBytes(root.publicKey, readFileSync(path), map[name] ?? "")) {
      throw tampered(
        dir,
        name,
        "changed",
        "content does not match its signature: the file was changed after provisioning; restore it from the provisioned kit",
      );
    }
  }
  for (const name of Object.keys(map).sort()) {
    if (!present.includes(name)) throw tampered(dir, name, "removed", "signed at provisioning but missing now; restore it from the provisioned kit");
  }
  if (!type) throw new CohortError(KitErrorCode.NotAKit, `${startup}: none of fed_server.json, fed_client.json, fed_admin.json is present`, { file: startup });

  const layout = KIT_LAYOUT[type];
  const certFile = join(startup, layout.cert);
  const keyFile = join(startup, layout.key);
  for (const f of [certFile, keyFile]) {
    if (!existsSync(f)) throw tampered(dir, basename(f), "removed", `missing: a ${type} kit needs it`);
  }
  const certPem = readFileSync(certFile, "utf8");
  verifyCertificateChain(certPem, rootPem, { label: certFile, ...(options.at ? { at: options.at } : {}) });
  const mode = statSync(keyFile).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CohortError(
      KitErrorCode.KeyPermissions,
      `${keyFile}: mode ${mode.toString(8).padStart(4, "0")} lets other users read the private key; run chmod 600 ${keyFile}`,
      { file: keyFile, mode },
    );
  }
  const certKey = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  let keyPub: Buffer;
  try {
    keyPub = createPublicKey(readFileSync(keyFile)).export({ type: "spki", format: "der" });
  } catch {
    throw tampered(dir, layout.key, "invalid", "is not a readable private key");
  }
  if (!keyPub.equals(certKey)) {
    throw new CohortError(KitErrorCode.KeyMismatch, `${keyFile}: private key does not belong to ${layout.cert}`, { file: keyFile });
  }
  const info = readCertificateInfo(certPem);
  return {
    dir,
    type,
    name: info.commonName,
    org: info.organization,
    role: info.role,
    rootFingerprint: fingerprint,
    certificateNotAfter: info.notAfter,
    signedFiles: Object.keys(map).sort(),
  };
}
