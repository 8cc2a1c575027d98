/**
 * The CKKS context files of a kit (no node-seal import: cheap to load in every process).
 * `startup/client_context.ckks` (sites; with the secret key, mode 0600) and
 * `startup/server_context.ckks` (the server; public parameters only), JSON
 * `{"scheme":"ckks","params":<base64>,"scale_bits":40[,"secret_key":<base64>]}`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CohortError } from "../errors/index.js";
import { HeErrorCode } from "./errors.js";

export {} from "./types.js";

export const CLIENT_CONTEXT_FILE = "client_context.ckks";
export const SERVER_CONTEXT_FILE = "server_context.ckks";
/** FLARE's names for the same files (TenSEAL's): accepted beside Cohort's where kits are read; HEBuilder writes Cohort's. */
export const FLARE_CLIENT_CONTEXT_FILE = "client_context.tenseal";
export const FLARE_SERVER_CONTEXT_FILE = "server_context.tenseal";

/**
 * A kit's context file for a role in its `startup/` folder: Cohort's `.ckks` name, else FLARE's
 * `.tenseal` name; undefined when there is neither. Both at once is refused (which one holds the key?).
 */
export function kitContextFile(startupDir: string, role: "client" | "server"): string | undefined {
  const names = role === "client" ? [CLIENT_CONTEXT_FILE, FLARE_CLIENT_CONTEXT_FILE] : [SERVER_CONTEXT_FILE, FLARE_SERVER_CONTEXT_FILE];
  const present = names.map((n) => join(startupDir, n)).filter((f) => existsSync(f));
  if (present.length > 1)
    throw new CohortError(
      HeErrorCode.Context,
      `${present.join(" and ")}: two ${role} contexts in one kit; fix: keep one of them (re-provision with HEBuilder)`,
      {
        file: present[0],
      },
    );
  return present[0];
}

/**
 * The CKKS setup a project's key pair is made with (HEBuilder's args; N is always 8192). The
 * defaults are FLARE's HEBuilder defaults: coefficient modulus 60-40-40 bits, scale 2^40 (128-bit
 * security: SEAL refuses a modulus over 218 bits at N = 8192).
 */
export interface CkksOptions {
  readonly coeffModBitSizes: readonly number[];
  readonly scaleBits: number;
}
export const DEFAULT_CKKS_OPTIONS: CkksOptions = { coeffModBitSizes: [60, 40, 40], scaleBits: 40 };

/** A new key pair (node-seal loads here, on first use only). */
export async function generateCkksContexts(
  options: CkksOptions = DEFAULT_CKKS_OPTIONS,
): Promise<{ client: SerializedCkksContext; server: SerializedCkksContext }> {
  const { CkksContext } = await import("./he.js");
  return CkksContext.generate(options);
}

const base64 = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9+/=]+$/, "must be base64");

export const ckksContextSchema = z.strictObject({
  scheme: z.literal("ckks"),
  /** node-seal's serialized EncryptionParameters (zstd, base64). */
  params: base64,
  /** log2 of the CKKS scale the values are encoded with (default 40). */
  scale_bits: z.number().int().min(20).max(60).optional(),
  /** node-seal's serialized SecretKey: clients only. */
  secret_key: base64.optional(),
});

/** A serialized context: `{"scheme":"ckks","params":…,"scale_bits"?:…,"secret_key"?:…}` (base64 strings). */
export type SerializedCkksContext = z.infer<typeof ckksContextSchema>;

/** The same context without its secret key (what the server may hold). */
export function publicContext(c: SerializedCkksContext): SerializedCkksContext {
  return { scheme: c.scheme, params: c.params, ...(c.scale_bits !== undefined ? { scale_bits: c.scale_bits } : {}) };
}

/**
 * Refuses a context with a secret key where only the server's public context may be: the server
 * process never holds a key that decrypts a site's update.
 */
export function assertNoSecretKey(c: { secret_key?: string | undefined } | undefined, where: string): void {
  if (c?.secret_key !== undefined) {
    throw new CohortError(
      HeErrorCode.SecretAtServer,
      `${where}: secret_key: a CKKS context with a secret key was given to the server side (value not shown); fix: give the server only ${SERVER_CONTEXT_FILE} (public parameters, as HEBuilder writes it) and keep ${CLIENT_CONTEXT_FILE} at the sites`,
      {
        where,
        field: "secret_key",
      },
    );
  }
}

/**
 * Reads and validates a kit's context file. `role` says whose it is: a client context must carry
 * the secret key; a server context must not (refused, so that a server never starts with one).
 */
export function readCkksContextFile(file: string, role: "client" | "server"): SerializedCkksContext {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new CohortError(
      HeErrorCode.Context,
      `${file}: not readable JSON (${(cause as Error).message.split("\n")[0]})${file.endsWith(".tenseal") ? "; a TenSEAL context serialized by FLARE is not Cohort's format (Cohort reads its own JSON context under either name)" : ""}; fix: re-provision with HEBuilder to get a new kit`,
      { file },
      { cause },
    );
  }
  const r = ckksContextSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue?.path.join(".") || "(top)";
    // Never echo a secret key's value.
    const value =
      issue?.path[0] === "secret_key"
        ? "(not shown)"
        : JSON.stringify(
            issue?.path.reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[String(k)] : undefined), raw),
          )?.slice(0, 80);
    throw new CohortError(
      HeErrorCode.Context,
      `${file}: ${field}: ${issue?.message ?? "invalid"} (got ${value}); fix: re-provision with HEBuilder to get a new kit`,
      { file, field, value },
    );
  }
  if (role === "server") assertNoSecretKey(r.data, file);
  else if (r.data.secret_key === undefined) {
    throw new CohortError(
      HeErrorCode.Context,
      `${file}: secret_key: missing (a site's context must hold the project's CKKS secret key); fix: re-provision with HEBuilder to get a new client kit`,
      { file, field: "secret_key" },
    );
  }
  return r.data;
}
