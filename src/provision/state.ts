import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { decryptPrivateKeyPem, encryptPrivateKeyPem, writeFileAtomic } from "../pki/index.js";
import { ProvisionErrorCode } from "./errors.js";
import { ckksContextSchema } from "../privacy/index.js";

/**
 * The provisioning state (`<workspace>/<project>/state/`): the root CA and every certificate and
 * key issued, so re-runs reuse them and existing kits keep working.
 *   state/rootCA.pem, state/rootCA.key (0600; encrypted when COHORT_CA_PASSPHRASE is set)
 *   state/certs.json   { participant → type, org, role, SANs, cert PEM }
 *   state/keys.json    { participant → private key PEM } (0600; each encrypted like the root key)
 */

const STATE_VERSION = 1;
const issuedSchema = z.object({
  type: z.enum(["server", "client", "admin"]),
  org: z.string(),
  role: z.string().optional(),
  subjectAltNames: z.array(z.string()),
  certPem: z.string().includes("BEGIN CERTIFICATE"),
});
const certsFileSchema = z.object({
  version: z.literal(STATE_VERSION),
  keyAlgorithm: z.enum(["ec-p256", "rsa-2048", "rsa-3072"]),
  rootValidDays: z.number().int().positive(),
  participants: z.record(z.string(), issuedSchema),
});
export type CertsFile = z.infer<typeof certsFileSchema>;
export type IssuedEntry = z.infer<typeof issuedSchema>;

export interface LoadedState {
  readonly rootCertPem: string;
  readonly rootKeyPem: string;
  readonly certs: CertsFile;
  /** Participant keys as stored (encrypted when a passphrase is in use). */
  readonly storedKeys: Readonly<Record<string, string>>;
}

const keysFileSchema = z.record(z.string(), z.string().includes("PRIVATE KEY"));

export function stateDir(projectDir: string): string {
  return join(projectDir, "state");
}

/** Loads the state, or returns undefined for a first run. Keys are decrypted in memory only. */
export function loadState(projectDir: string, passphrase: string | undefined): LoadedState | undefined {
  const dir = stateDir(projectDir);
  const rootCert = join(dir, "rootCA.pem");
  if (!existsSync(rootCert)) return undefined;
  const certsPath = join(dir, "certs.json");
  let certs: CertsFile;
  try {
    certs = certsFileSchema.parse(JSON.parse(readFileSync(certsPath, "utf8")));
  } catch (cause) {
    throw new CohortError(
      ProvisionErrorCode.StateCorrupt,
      `${certsPath}: missing or damaged provisioning state (${(cause as Error).message.split("\n")[0]}); restore it from backup (deleting state/ creates a new root CA and invalidates every kit)`,
      { file: certsPath },
      { cause },
    );
  }
  const keysPath = join(dir, "keys.json");
  let storedKeys: Record<string, string>;
  try {
    storedKeys = keysFileSchema.parse(JSON.parse(readFileSync(keysPath, "utf8")));
  } catch (cause) {
    throw new CohortError(
      ProvisionErrorCode.StateCorrupt,
      `${keysPath}: missing or damaged provisioning state; restore it from backup`,
      { file: keysPath },
      { cause },
    );
  }
  return {
    rootCertPem: readFileSync(rootCert, "utf8"),
    rootKeyPem: decryptPrivateKeyPem(readFileSync(join(dir, "rootCA.key"), "utf8"), passphrase, join(dir, "rootCA.key")),
    certs,
    storedKeys,
  };
}

export function loadParticipantKey(projectDir: string, state: LoadedState, name: string, passphrase: string | undefined): string {
  const file = join(stateDir(projectDir), "keys.json");
  const stored = state.storedKeys[name];
  if (!stored) {
    throw new CohortError(ProvisionErrorCode.StateCorrupt, `${file}: no key for ${name} although state/certs.json lists it; restore state/ from backup`, {
      file,
      participant: name,
    });
  }
  return decryptPrivateKeyPem(stored, passphrase, `${file} (${name})`);
}

function protect(pem: string, passphrase: string | undefined): string {
  return passphrase ? encryptPrivateKeyPem(pem, passphrase) : pem;
}

/** Writes the state; called only after a build fully succeeded, so a failed run changes nothing. */
export function saveState(
  projectDir: string,
  state: {
    rootCertPem: string;
    rootKeyPem: string;
    certs: CertsFile;
    storedKeys: Readonly<Record<string, string>>;
    newKeys: ReadonlyMap<string, string>;
    rootIsNew: boolean;
  },
  passphrase: string | undefined,
): void {
  const dir = stateDir(projectDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (state.rootIsNew) writeFileAtomic(join(dir, "rootCA.key"), protect(state.rootKeyPem, passphrase), 0o600);
  const keys: Record<string, string> = { ...state.storedKeys };
  for (const [name, pem] of state.newKeys) keys[name] = protect(pem, passphrase);
  writeFileAtomic(join(dir, "keys.json"), `${JSON.stringify(keys, null, 2)}\n`, 0o600);
  writeFileAtomic(join(dir, "certs.json"), `${JSON.stringify(state.certs, null, 2)}\n`, 0o600);
  // rootCA.pem marks a complete state (loadState looks for it first), so it is written last.
  if (state.rootIsNew) writeFileAtomic(join(dir, "rootCA.pem"), state.rootCertPem);
}

export { STATE_VERSION };

/**
 * The project's CKKS key pair (HEBuilder): `state/he_context.json` (0600), reused on re-runs so
 * that every client kit of the project keeps the same key. Not covered by COHORT_CA_PASSPHRASE
 * (node-seal keys are not PEM keys): the file mode and the 0700 state/ folder protect it.
 */
const heStateSchema = z.strictObject({
  version: z.literal(STATE_VERSION),
  coeff_mod_bit_sizes: z.array(z.number().int()),
  scale_bits: z.number().int(),
  client: ckksContextSchema,
});
export type HeState = z.infer<typeof heStateSchema>;

export function heStateFile(projectDir: string): string {
  return join(stateDir(projectDir), "he_context.json");
}

export function loadHeState(projectDir: string): HeState | undefined {
  const file = heStateFile(projectDir);
  if (!existsSync(file)) return undefined;
  try {
    const s = heStateSchema.parse(JSON.parse(readFileSync(file, "utf8")));
    if (s.client.secret_key === undefined) throw new Error("client.secret_key is missing");
    return s;
  } catch (cause) {
    // The message names the file and field only: never the key.
    const field = cause instanceof z.ZodError ? (cause.issues[0]?.path.join(".") ?? "") : "";
    throw new CohortError(
      ProvisionErrorCode.StateCorrupt,
      `${file}: damaged CKKS state${field ? ` (field ${field})` : ""}; restore it from backup (moving it aside makes a new key pair: every client kit must then be redistributed)`,
      { file, field },
      { cause },
    );
  }
}

export function saveHeState(projectDir: string, state: HeState): void {
  mkdirSync(stateDir(projectDir), { recursive: true, mode: 0o700 });
  writeFileAtomic(heStateFile(projectDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
