import { existsSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { CohortError } from "../../errors/index.js";
import { allParticipants, kitDir, type Builder, type ProvisionContext } from "../context.js";
import { ProvisionErrorCode } from "../errors.js";
import type { BuilderSpec } from "../../config/index.js";

const PROD_RE = /^prod_(\d{2})$/;
export const MAX_PROD = 99;

/** Highest existing prod_NN number, or -1. */
export function lastProdNumber(projectDir: string): number {
  if (!existsSync(projectDir)) return -1;
  let last = -1;
  for (const name of readdirSync(projectDir)) {
    const m = PROD_RE.exec(name);
    if (m?.[1]) last = Math.max(last, Number(m[1]));
  }
  return last;
}

export function prodName(n: number): string {
  return `prod_${String(n).padStart(2, "0")}`;
}

/** Creates each participant's startup/, local/, transfer/ in wip/ and moves wip/ to prod_NN at the end. */
export function workspaceBuilder(spec: BuilderSpec): Builder {
  return {
    spec,
    initialize(ctx: ProvisionContext) {
      const last = lastProdNumber(ctx.projectDir);
      if (last >= MAX_PROD) {
        throw new CohortError(
          ProvisionErrorCode.WorkspaceFull,
          `${ctx.projectDir} already holds ${prodName(MAX_PROD)}; move or delete old prod_NN folders (keep state/) and run again`,
          {
            file: ctx.projectDir,
          },
        );
      }
      ctx.prodNumber = last + 1;
      mkdirSync(ctx.wipDir, { recursive: true, mode: 0o700 });
    },
    build(ctx: ProvisionContext) {
      for (const p of allParticipants(ctx.project)) {
        for (const sub of ["startup", "local", "transfer"]) mkdirSync(join(kitDir(ctx, p), sub), { recursive: true });
      }
    },
    finalize(ctx: ProvisionContext) {
      const prod = join(ctx.projectDir, prodName(ctx.prodNumber));
      renameSync(ctx.wipDir, prod);
      ctx.prodDir = prod;
    },
  };
}
