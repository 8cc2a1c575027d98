import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { CohortError, isCohortError } from "../errors/index.js";
import { loadProjectFile, type BuilderSpec, type ParticipantSpec, type ProjectSpec } from "../config/index.js";
import { allParticipants, type Builder, type ProvisionContext } from "./context.js";
import { ProvisionErrorCode } from "./errors.js";
import { workspaceBuilder } from "./builders/workspace.js";
import { staticFileBuilder } from "./builders/static-files.js";
import { certBuilder } from "./builders/certs.js";
import { signatureBuilder } from "./builders/signature.js";
import { heBuilder } from "./builders/he.js";
import { packageKits } from "./packager.js";
import { saveHeState, saveState } from "./state.js";

export interface ProvisionOptions {
  /** project.yml path. */
  readonly projectFile: string;
  /** Workspace root (default `workspace`). Output goes to `<workspace>/<project>/prod_NN/`. */
  readonly workspace?: string;
  readonly addClients?: readonly string[];
  readonly addUsers?: readonly string[];
  /** Re-issue certificates whose identity (org, role, type) changed instead of refusing. */
  readonly force?: boolean;
  /** Encrypts the root and participant keys in state/ (COHORT_CA_PASSPHRASE). */
  readonly passphrase?: string;
}

export interface ProvisionedKit {
  readonly name: string;
  readonly type: ParticipantSpec["type"];
  readonly org: string;
  readonly role?: string;
  readonly dir: string;
  readonly tgz: string;
}

export interface ProvisionResult {
  readonly project: ProjectSpec;
  readonly prodDir: string;
  readonly rootFingerprint: string | undefined;
  readonly rootIsNew: boolean;
  readonly kits: readonly ProvisionedKit[];
  readonly warnings: readonly string[];
}

function instantiate(spec: BuilderSpec): Builder {
  switch (spec.kind) {
    case "workspace":
      return workspaceBuilder(spec);
    case "static_file":
      return staticFileBuilder(spec);
    case "cert":
      return certBuilder(spec);
    case "signature":
      return signatureBuilder(spec);
    case "he":
      return heBuilder(spec);
  }
}

/**
 * Provisions a project as FLARE's provisioner does: every builder's initialize in order, build in
 * order, finalize in reverse, then packaging. On any error the half-written output is removed and
 * state/ is left as it was (it is only written after everything succeeded).
 */
export async function provision(options: ProvisionOptions): Promise<ProvisionResult> {
  const { project, warnings } = loadProjectFile(options.projectFile, {
    ...(options.addClients ? { addClients: options.addClients } : {}),
    ...(options.addUsers ? { addUsers: options.addUsers } : {}),
  });
  const projectDir = join(resolve(options.workspace ?? "workspace"), project.name);
  mkdirSync(projectDir, { recursive: true });
  const ctx: ProvisionContext = {
    project,
    builders: project.builders,
    projectDir,
    wipDir: join(projectDir, "wip"),
    passphrase: options.passphrase,
    force: options.force ?? false,
    warnings: [...warnings],
    prodNumber: 0,
    prodDir: undefined,
    root: undefined,
    pendingState: undefined,
  };
  // A wip/ left by a crashed run holds nothing of value.
  rmSync(ctx.wipDir, { recursive: true, force: true });
  const builders = project.builders.map(instantiate);
  try {
    for (const b of builders) await b.initialize?.(ctx);
    for (const b of builders) await b.build?.(ctx);
    for (const b of [...builders].reverse()) await b.finalize?.(ctx);
    const prodDir = ctx.prodDir;
    if (!prodDir) throw new Error("the workspace builder did not produce a prod folder");
    const tgz = await packageKits(prodDir, allParticipants(project));
    if (ctx.root && ctx.pendingState) {
      saveState(
        projectDir,
        {
          rootCertPem: ctx.root.certPem,
          rootKeyPem: ctx.root.keyPem,
          certs: ctx.pendingState.certs,
          storedKeys: ctx.pendingState.storedKeys,
          newKeys: ctx.pendingState.newKeys,
          rootIsNew: ctx.root.isNew,
        },
        options.passphrase,
      );
    }
    if (ctx.pendingHe) saveHeState(projectDir, ctx.pendingHe);
    return {
      project,
      prodDir,
      rootFingerprint: ctx.root?.fingerprint,
      rootIsNew: ctx.root?.isNew ?? false,
      kits: allParticipants(project).map((p) => ({
        name: p.name,
        type: p.type,
        org: p.org,
        ...(p.type === "admin" ? { role: p.role } : {}),
        dir: join(prodDir, p.name),
        tgz: tgz.get(p.name) ?? "",
      })),
      warnings: ctx.warnings,
    };
  } catch (err) {
    rmSync(ctx.wipDir, { recursive: true, force: true });
    // Only the prod folder this run made (finalize records it once wip/ is renamed) is removed.
    if (ctx.prodDir) rmSync(ctx.prodDir, { recursive: true, force: true });
    if (isCohortError(err)) throw err;
    throw new CohortError(
      ProvisionErrorCode.BuildFailed,
      `provisioning ${project.name} failed: ${(err as Error).message}; nothing was written`,
      { project: project.name },
      { cause: err },
    );
  }
}
