import { z } from "zod";
import type { Checker } from "./project.js";

export const SCHEMES = ["http", "grpc", "tcp"] as const;
export type Scheme = (typeof SCHEMES)[number];
export const CERT_KEY_ALGORITHMS = ["ec-p256", "rsa-2048", "rsa-3072"] as const;
export type CertKeyAlgorithm = (typeof CERT_KEY_ALGORITHMS)[number];

export type BuilderSpec =
  | { readonly kind: "workspace"; readonly path: string }
  | {
      readonly kind: "static_file";
      readonly path: string;
      readonly configFolder: string;
      readonly scheme: Scheme;
      readonly requireSignedJobs?: boolean;
      readonly downloadJobUrl?: string;
    }
  | { readonly kind: "cert"; readonly path: string; readonly rootValidDays: number; readonly validDays: number; readonly keyAlgorithm: CertKeyAlgorithm }
  | { readonly kind: "signature"; readonly path: string }
  | { readonly kind: "he"; readonly path: string; readonly coeffModBitSizes: readonly number[]; readonly scaleBits: number };

export type BuilderKind = BuilderSpec["kind"];

/** FLARE's builder class paths (and Cohort's own short names) → our built-ins. */
export const BUILDER_PATHS: Readonly<Record<string, BuilderKind>> = {
  "nvflare.lighter.impl.workspace.WorkspaceBuilder": "workspace",
  "nvflare.lighter.impl.static_file.StaticFileBuilder": "static_file",
  "nvflare.lighter.impl.cert.CertBuilder": "cert",
  "nvflare.lighter.impl.signature.SignatureBuilder": "signature",
  "nvflare.lighter.impl.he.HEBuilder": "he",
  "cohort.WorkspaceBuilder": "workspace",
  "cohort.StaticFileBuilder": "static_file",
  "cohort.CertBuilder": "cert",
  "cohort.SignatureBuilder": "signature",
  "cohort.HEBuilder": "he",
};

/** FLARE builders we know but do not run yet. */
export const NOT_YET_BUILDERS: Readonly<Record<string, string>> = {
  "nvflare.lighter.cc_provision.impl.cc.CCBuilder": "confidential computing arrives in a later release",
  "nvflare.lighter.impl.docker.DockerBuilder": "docker start scripts are not supported yet",
  "nvflare.lighter.impl.aws.AWSBuilder": "cloud start scripts are not supported yet",
  "nvflare.lighter.impl.azure.AzureBuilder": "cloud start scripts are not supported yet",
  "nvflare.lighter.impl.edge.EdgeBuilder": "edge provisioning is not supported yet",
  "nvflare.lighter.impl.helm_chart.HelmChartBuilder": "Helm charts are not supported yet",
};

/**
 * FLARE builders that do nothing in FLARE itself: accepted with a warning, nothing to run.
 * TemplateBuilder's initialize only prints "TemplateBuilder is obsolete!" (FLARE 2.4 and later).
 */
export const OBSOLETE_BUILDERS: Readonly<Record<string, string>> = {
  "nvflare.lighter.impl.template.TemplateBuilder": "obsolete in FLARE too (it only prints that it is obsolete); Cohort writes its own kit files",
};

export const DEFAULT_BUILDERS: readonly BuilderSpec[] = [
  { kind: "workspace", path: "nvflare.lighter.impl.workspace.WorkspaceBuilder" },
  { kind: "static_file", path: "nvflare.lighter.impl.static_file.StaticFileBuilder", configFolder: "config", scheme: "http" },
  { kind: "cert", path: "nvflare.lighter.impl.cert.CertBuilder", rootValidDays: 360, validDays: 360, keyAlgorithm: "ec-p256" },
  { kind: "signature", path: "nvflare.lighter.impl.signature.SignatureBuilder" },
];

// FLARE: one template file name or a list of them (dummy_project.yml lists three).
const workspaceArgs = z.strictObject({
  template_file: z.union([z.string(), z.array(z.string())], { error: "must be a file name or a list of file names" }).optional(),
});
const staticFileArgs = z.strictObject({
  config_folder: z.string().default("config"),
  scheme: z.enum(SCHEMES, { error: `must be one of ${SCHEMES.join(", ")}` }).default("http"),
  require_signed_jobs: z.boolean().optional(),
  download_job_url: z.string().optional(),
  app_validator: z.string().optional(),
  docker_image: z.string().optional(),
  overseer_agent: z.unknown().optional(),
  // FLARE's HA sample project (ha_project.yml, older project.yml): where the server kept its job snapshots.
  snapshot_persistor: z.unknown().optional(),
});
const certArgs = z.strictObject({
  root_valid_days: z.number().int().positive("must be a positive number of days").default(360),
  valid_days: z.number().int().positive("must be a positive number of days").default(360),
  key_algorithm: z.enum(CERT_KEY_ALGORITHMS, { error: `must be one of ${CERT_KEY_ALGORITHMS.join(", ")}` }).default("ec-p256"),
});
const signatureArgs = z.strictObject({});
/** SEAL's largest coefficient modulus at N = 8192 for 128-bit security. */
const CKKS_MAX_MODULUS_BITS = 218;
/** Bits the data modulus must hold above the scale: weighted sums of many sites' values. */
const CKKS_HEADROOM_BITS = 20;
// FLARE's HEBuilder arguments and defaults (TenSEAL there, node-seal here: the same CKKS).
const heArgs = z
  .strictObject({
    poly_modulus_degree: z.literal(8192, { error: "must be 8192 (Cohort packs 4096 values per ciphertext)" }).default(8192),
    coeff_mod_bit_sizes: z
      .array(z.number().int().min(20, "each prime must have 20 to 60 bits").max(60, "each prime must have 20 to 60 bits"), {
        error: "must be a list of prime sizes in bits, e.g. [60, 40, 40]",
      })
      .min(2, "needs at least 2 primes (data and special)")
      .max(5, "at most 5 primes (addition needs no more levels)")
      .default([60, 40, 40]),
    scale_bits: z.number().int().min(20, "must be 20 to 60").max(60, "must be 20 to 60").default(40),
    scheme: z.literal("CKKS", { error: "must be CKKS (Cohort's HE is CKKS only: the weights are real numbers)" }).default("CKKS"),
  })
  .superRefine((a, ctx) => {
    const total = a.coeff_mod_bit_sizes.reduce((x, y) => x + y, 0);
    if (total > CKKS_MAX_MODULUS_BITS)
      ctx.addIssue({
        code: "custom",
        path: ["coeff_mod_bit_sizes"],
        message: `adds up to ${total} bits, more than the ${CKKS_MAX_MODULUS_BITS} that keep 128-bit security at N = 8192`,
        input: a.coeff_mod_bit_sizes,
      });
    const data = total - (a.coeff_mod_bit_sizes.at(-1) ?? 0);
    if (data < a.scale_bits + CKKS_HEADROOM_BITS)
      ctx.addIssue({
        code: "custom",
        path: ["coeff_mod_bit_sizes"],
        message: `the data primes (all but the last) hold ${data} bits: fewer than scale_bits + ${CKKS_HEADROOM_BITS} = ${a.scale_bits + CKKS_HEADROOM_BITS} for weighted sums`,
        input: a.coeff_mod_bit_sizes,
      });
  });
const packagerSchema = z.strictObject({ path: z.string(), args: z.record(z.string(), z.unknown()).optional() });

export function normalizeBuilders(c: Checker, raw: unknown, rawPackager?: unknown): BuilderSpec[] {
  if (rawPackager !== undefined) {
    const p = c.parse(packagerSchema, rawPackager, ["packager"]);
    if (p && /cc_provision|OnPrem/i.test(p.path))
      c.fail(["packager", "path"], "not supported yet: confidential-computing packaging", p.path, "remove the packager entry");
    else if (p) c.warn(["packager"], `Cohort's packager is built in (it writes <participant>.tgz beside each kit); ${p.path} is not run`);
  }
  if (raw === undefined) return [...DEFAULT_BUILDERS];
  if (!Array.isArray(raw)) {
    c.fail(["builders"], "must be a list of {path, args} entries", raw);
    return [];
  }
  const out: BuilderSpec[] = [];
  // Every builder listed with a known path, in order, whether or not its args are valid: an error in
  // a builder's args is reported once, never as a second "builder is missing".
  const listed: BuilderKind[] = [];
  raw.forEach((entry: unknown, i) => {
    const at = ["builders", i];
    if (typeof entry !== "object" || entry === null || Array.isArray(entry) || typeof (entry as { path?: unknown }).path !== "string") {
      c.fail(at, "must be a mapping with a 'path' (and optional 'args')", entry);
      return;
    }
    const { path, args = {} } = entry as { path: string; args?: unknown };
    const notYet = NOT_YET_BUILDERS[path];
    if (notYet) {
      c.fail([...at, "path"], `not supported yet: ${notYet}`, path, "remove this builder");
      return;
    }
    const obsolete = OBSOLETE_BUILDERS[path];
    if (obsolete) {
      c.warn([...at, "path"], `ignored: ${obsolete}`);
      return;
    }
    const kind = BUILDER_PATHS[path];
    if (!kind) {
      c.fail(
        [...at, "path"],
        "unknown builder",
        path,
        `use one of ${Object.keys(BUILDER_PATHS)
          .filter((p) => p.startsWith("nvflare"))
          .join(", ")}`,
      );
      return;
    }
    listed.push(kind);
    const argsAt = [...at, "args"];
    if (kind === "workspace") {
      const a = c.parse(workspaceArgs, args, argsAt);
      if (a?.template_file !== undefined)
        c.warn([...argsAt, "template_file"], "ignored: FLARE's script and config templates are not used; Cohort writes its own kit files");
      if (a) out.push({ kind, path });
    } else if (kind === "static_file") {
      const a = c.parse(staticFileArgs, args, argsAt);
      if (!a) return;
      for (const k of ["app_validator", "docker_image", "overseer_agent", "snapshot_persistor"] as const) {
        if (a[k] !== undefined) c.warn([...argsAt, k], "ignored: not supported yet");
      }
      out.push({
        kind,
        path,
        configFolder: a.config_folder,
        scheme: a.scheme,
        ...(a.require_signed_jobs !== undefined ? { requireSignedJobs: a.require_signed_jobs } : {}),
        ...(a.download_job_url !== undefined ? { downloadJobUrl: a.download_job_url } : {}),
      });
    } else if (kind === "cert") {
      const a = c.parse(certArgs, args, argsAt);
      if (a) out.push({ kind, path, rootValidDays: a.root_valid_days, validDays: a.valid_days, keyAlgorithm: a.key_algorithm });
    } else if (kind === "he") {
      const a = c.parse(heArgs, args, argsAt, "FLARE's defaults work: poly_modulus_degree 8192, coeff_mod_bit_sizes [60, 40, 40], scale_bits 40, scheme CKKS");
      if (a) out.push({ kind, path, coeffModBitSizes: a.coeff_mod_bit_sizes, scaleBits: a.scale_bits });
    } else {
      if (c.parse(signatureArgs, args, argsAt)) out.push({ kind, path });
    }
  });
  const order = listed;
  for (const needed of ["workspace", "static_file", "cert"] as const) {
    if (!order.includes(needed))
      c.fail(
        ["builders"],
        `the ${needed} builder is missing: kits would be incomplete`,
        undefined,
        `add ${DEFAULT_BUILDERS.find((b) => b.kind === needed)?.path}`,
      );
  }
  if (order.indexOf("workspace") > 0) c.fail(["builders"], "WorkspaceBuilder must come first (it creates the folders the others write into)");
  if (order.filter((k) => k === "he").length > 1)
    c.fail(["builders"], "HEBuilder is listed twice: a project has one CKKS key pair", undefined, "keep one HEBuilder entry");
  const sig = order.indexOf("signature");
  if (sig === -1) c.warn(["builders"], "no SignatureBuilder: kits will carry no signature.json and 'cohort kit verify' will refuse them");
  else if (sig !== order.length - 1) c.fail(["builders"], "SignatureBuilder must come last (it signs the files the others write)");
  return out;
}
