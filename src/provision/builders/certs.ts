import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CohortError, isCohortError } from "../../errors/index.js";
import type { BuilderSpec, ParticipantSpec } from "../../config/index.js";
import {
  certificateFingerprint,
  createRootCertificate,
  generateKeyPair,
  issueCertificate,
  loadIssuer,
  PkiErrorCode,
  publicKeySpkiOf,
  readCertificateInfo,
  verifyRootCertificate,
  writePrivateKeyFile,
  type ExtendedKeyUsage,
} from "../../pki/index.js";
import { allParticipants, kitDir, type Builder, type ProvisionContext } from "../context.js";
import { ProvisionErrorCode } from "../errors.js";
import { loadParticipantKey, loadState, type CertsFile, type IssuedEntry, type LoadedState } from "../state.js";

type CertSpec = Extract<BuilderSpec, { kind: "cert" }>;

/** What a participant's certificate must say; a change in any of these fields needs a new certificate. */
interface WantedIdentity {
  readonly type: ParticipantSpec["type"];
  readonly org: string;
  readonly role: string | undefined;
  readonly subjectAltNames: readonly string[];
  readonly extendedKeyUsages: readonly ExtendedKeyUsage[];
}

function wantedIdentity(p: ParticipantSpec): WantedIdentity {
  if (p.type === "server") {
    const sans = [p.defaultHost, ...p.hostNames.filter((h) => h !== p.defaultHost)];
    return { type: "server", org: p.org, role: undefined, subjectAltNames: sans, extendedKeyUsages: ["serverAuth"] };
  }
  return { type: p.type, org: p.org, role: p.type === "admin" ? p.role : undefined, subjectAltNames: [p.name], extendedKeyUsages: ["clientAuth"] };
}

/** Files FLARE names the identity pair in each kit type. */
function pairNames(p: ParticipantSpec): { cert: string; key: string } {
  return p.type === "server" ? { cert: "server.crt", key: "server.key" } : { cert: "client.crt", key: "client.key" };
}

const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Creates (first run) or loads (re-runs) the project root CA, then gives every participant a
 * certificate: reused byte-for-byte when nothing about its identity changed, so kits already
 * handed out keep working; new participants get a fresh key and certificate.
 */
export function certBuilder(spec: CertSpec): Builder {
  let state: LoadedState | undefined;
  return {
    spec,
    async initialize(ctx: ProvisionContext) {
      state = loadState(ctx.projectDir, ctx.passphrase);
      if (state) {
        try {
          verifyRootCertificate(state.rootCertPem, { label: join(ctx.projectDir, "state", "rootCA.pem") });
        } catch (err) {
          if (isCohortError(err, PkiErrorCode.CertExpired)) {
            throw new CohortError(
              ProvisionErrorCode.RootExpired,
              `${err.message}. The root CA of ${ctx.project.name} can no longer sign: move ${join(ctx.projectDir, "state")} aside to create a new root, then redistribute every kit`,
              err.details,
              { cause: err },
            );
          }
          throw err;
        }
        if (state.certs.keyAlgorithm !== spec.keyAlgorithm) {
          throw new CohortError(
            ProvisionErrorCode.StateConflict,
            `${ctx.project.file}: CertBuilder key_algorithm is ${spec.keyAlgorithm} but this project's root CA (state/) uses ${state.certs.keyAlgorithm}; set key_algorithm: ${state.certs.keyAlgorithm}, or provision into a new workspace`,
            { field: "builders.args.key_algorithm", value: spec.keyAlgorithm, expected: state.certs.keyAlgorithm },
          );
        }
        if (state.certs.rootValidDays !== spec.rootValidDays) {
          ctx.warnings.push(
            `root_valid_days is ${spec.rootValidDays} but the existing root CA was made with ${state.certs.rootValidDays} (valid until ${readCertificateInfo(state.rootCertPem).notAfter.toISOString()}): the existing root is kept`,
          );
        }
        ctx.root = { certPem: state.rootCertPem, keyPem: state.rootKeyPem, fingerprint: certificateFingerprint(state.rootCertPem), isNew: false };
      } else {
        const keys = await generateKeyPair(spec.keyAlgorithm);
        const certPem = await createRootCertificate({
          commonName: ctx.project.name,
          validDays: spec.rootValidDays,
          privateKeyPem: keys.privateKeyPem,
          publicKeySpki: keys.publicKeySpki,
        });
        ctx.root = { certPem, keyPem: keys.privateKeyPem, fingerprint: certificateFingerprint(certPem), isNew: true };
      }
    },
    async build(ctx: ProvisionContext) {
      const root = ctx.root;
      if (!root) throw new Error("cert builder: initialize did not run");
      const issuer = await loadIssuer(root.certPem, root.keyPem);
      const previous = state?.certs.participants ?? {};
      const entries: Record<string, IssuedEntry> = { ...previous };
      const newKeys = new Map<string, string>();
      await Promise.all(
        allParticipants(ctx.project).map(async (p) => {
          const want = wantedIdentity(p);
          const old = previous[p.name];
          let keyPem: string | undefined;
          let spki: Uint8Array | undefined;
          let certPem: string | undefined;
          if (old) {
            const changes = identityChanges(old, want);
            const sansChanged = old.subjectAltNames.join(",") !== want.subjectAltNames.join(",");
            const expiring = readCertificateInfo(old.certPem).notAfter.getTime() - Date.now() < RENEW_BEFORE_MS;
            if (changes.length > 0 && !ctx.force) {
              throw new CohortError(
                ProvisionErrorCode.IdentityChanged,
                `${ctx.project.file}: participants[${p.index}] (${p.name}): ${changes.join(", ")} changed since its certificate was issued. Re-run with --force to issue a new certificate (the old one stays valid until it expires: Cohort has no revocation yet), or give the participant a new name`,
                { participant: p.name, changes },
              );
            }
            keyPem = loadParticipantKey(ctx.projectDir, state as LoadedState, p.name, ctx.passphrase);
            if (changes.length > 0 || sansChanged || expiring) {
              const why =
                changes.length > 0
                  ? changes.join(", ")
                  : sansChanged
                    ? `host names changed to ${want.subjectAltNames.join(", ")}`
                    : "certificate expires within 30 days";
              ctx.warnings.push(`${p.name}: new certificate issued (${why}); redistribute its kit`);
            } else {
              certPem = old.certPem; // unchanged identity: the same bytes as before
            }
          } else {
            const keys = await generateKeyPair(spec.keyAlgorithm);
            keyPem = keys.privateKeyPem;
            spki = keys.publicKeySpki;
            newKeys.set(p.name, keyPem);
          }
          certPem ??= await issueCertificate({
            subject: { commonName: p.name, organization: p.org, ...(want.role ? { role: want.role } : {}) },
            subjectPublicKeySpki: spki ?? publicKeySpkiOf(keyPem),
            subjectAltNames: want.subjectAltNames,
            extendedKeyUsages: want.extendedKeyUsages,
            validDays: spec.validDays,
            issuer,
          });
          entries[p.name] = { type: want.type, org: want.org, ...(want.role ? { role: want.role } : {}), subjectAltNames: [...want.subjectAltNames], certPem };
          const startup = join(kitDir(ctx, p), "startup");
          const names = pairNames(p);
          writeFileSync(join(startup, names.cert), certPem);
          writePrivateKeyFile(join(startup, names.key), keyPem);
          writeFileSync(join(startup, "rootCA.pem"), root.certPem);
        }),
      );
      const certs: CertsFile = {
        version: 1,
        keyAlgorithm: state?.certs.keyAlgorithm ?? spec.keyAlgorithm,
        rootValidDays: state?.certs.rootValidDays ?? spec.rootValidDays,
        participants: sortByName(entries),
      };
      ctx.pendingState = { certs, storedKeys: state?.storedKeys ?? {}, newKeys };
    },
  };
}

function identityChanges(old: IssuedEntry, want: WantedIdentity): string[] {
  const changes: string[] = [];
  if (old.type !== want.type) changes.push(`type (${old.type} → ${want.type})`);
  if (old.org !== want.org) changes.push(`org (${old.org} → ${want.org})`);
  if ((old.role ?? "") !== (want.role ?? "")) changes.push(`role (${old.role ?? "none"} → ${want.role ?? "none"})`);
  return changes;
}

function sortByName<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
