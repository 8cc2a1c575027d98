import { join } from "node:path";
import type { BuilderSpec, ParticipantSpec, ProjectSpec } from "../config/index.js";
import type { CertsFile, HeState } from "./state.js";

export interface RootMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  readonly fingerprint: string;
  readonly isNew: boolean;
}

/** Shared state of one provisioning run, passed through every builder (FLARE's ProvisionContext). */
export interface ProvisionContext {
  readonly project: ProjectSpec;
  readonly builders: readonly BuilderSpec[];
  /** `<workspace>/<project name>` */
  readonly projectDir: string;
  /** Where kits are assembled before the final rename to prod_NN. */
  readonly wipDir: string;
  readonly passphrase: string | undefined;
  readonly force: boolean;
  readonly warnings: string[];
  prodNumber: number;
  prodDir: string | undefined;
  root: RootMaterial | undefined;
  /** State to persist once everything succeeded. */
  pendingState: { certs: CertsFile; storedKeys: Readonly<Record<string, string>>; newKeys: Map<string, string> } | undefined;
  /** A CKKS key pair made by this run (HEBuilder), saved with the rest of the state. */
  pendingHe?: HeState;
}

export function kitDir(ctx: ProvisionContext, p: ParticipantSpec): string {
  return join(ctx.wipDir, p.name);
}

export function allParticipants(project: ProjectSpec): ParticipantSpec[] {
  return [project.server, ...project.clients, ...project.admins];
}

/** A builder stage; FLARE's order: all initialize, all build, finalize in reverse. */
export interface Builder {
  readonly spec: BuilderSpec;
  initialize?(ctx: ProvisionContext): Promise<void> | void;
  build?(ctx: ProvisionContext): Promise<void> | void;
  finalize?(ctx: ProvisionContext): Promise<void> | void;
}
