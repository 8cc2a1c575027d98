import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CohortError } from "../../errors/index.js";
import type { BuilderSpec } from "../../config/index.js";
import { writePrivateKeyFile } from "../../pki/index.js";
import { CLIENT_CONTEXT_FILE, generateCkksContexts, publicContext, SERVER_CONTEXT_FILE } from "../../privacy/index.js";
import { allParticipants, kitDir, type Builder, type ProvisionContext } from "../context.js";
import { ProvisionErrorCode } from "../errors.js";
import { heStateFile, loadHeState, type HeState } from "../state.js";

type HeSpec = Extract<BuilderSpec, { kind: "he" }>;

/**
 * FLARE's HEBuilder: one CKKS key pair per project (state/he_context.json, reused on re-runs).
 * Every client kit gets `startup/client_context.ckks` (with the secret key, 0600); the server kit
 * gets `startup/server_context.ckks` (public parameters only); admin kits get nothing. Both files
 * sit in startup/, so the SignatureBuilder (which runs last) signs them with the rest.
 */
export function heBuilder(spec: HeSpec): Builder {
  let state: HeState | undefined;
  return {
    spec,
    initialize(ctx: ProvisionContext) {
      state = loadHeState(ctx.projectDir);
      if (!state) return;
      const want = `coeff_mod_bit_sizes [${spec.coeffModBitSizes.join(", ")}], scale_bits ${spec.scaleBits}`;
      const have = `coeff_mod_bit_sizes [${state.coeff_mod_bit_sizes.join(", ")}], scale_bits ${state.scale_bits}`;
      if (want !== have) {
        throw new CohortError(
          ProvisionErrorCode.StateConflict,
          `${ctx.project.file}: HEBuilder args are ${want} but this project's CKKS key pair (${heStateFile(ctx.projectDir)}) was made with ${have}; set them back, or move that file aside for a new key pair (then redistribute every client kit)`,
          { field: "builders.args", value: want, expected: have },
        );
      }
    },
    async build(ctx: ProvisionContext) {
      if (!state) {
        const keys = await generateCkksContexts({ coeffModBitSizes: spec.coeffModBitSizes, scaleBits: spec.scaleBits });
        state = { version: 1, coeff_mod_bit_sizes: [...spec.coeffModBitSizes], scale_bits: spec.scaleBits, client: keys.client };
        ctx.pendingHe = state;
      }
      if (ctx.passphrase)
        ctx.warnings.push(`${heStateFile(ctx.projectDir)}: the CKKS secret key is protected by its file mode (0600), not by COHORT_CA_PASSPHRASE`);
      const client = `${JSON.stringify(state.client)}\n`;
      const server = `${JSON.stringify(publicContext(state.client))}\n`;
      for (const p of allParticipants(ctx.project)) {
        const startup = join(kitDir(ctx, p), "startup");
        if (p.type === "client") writePrivateKeyFile(join(startup, CLIENT_CONTEXT_FILE), client);
        else if (p.type === "server") writeFileSync(join(startup, SERVER_CONTEXT_FILE), server);
      }
    },
  };
}
