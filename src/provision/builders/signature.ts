import { join } from "node:path";
import type { BuilderSpec } from "../../config/index.js";
import { signKitFolder } from "../../pki/index.js";
import { allParticipants, kitDir, type Builder, type ProvisionContext } from "../context.js";

/** Signs every file of each kit's startup/ with the root key (FLARE 2.4–2.6 `sign_all` layout). */
export function signatureBuilder(spec: BuilderSpec): Builder {
  return {
    spec,
    build(ctx: ProvisionContext) {
      if (!ctx.root) return; // normalizeBuilders refuses a project without a CertBuilder
      for (const p of allParticipants(ctx.project)) signKitFolder(join(kitDir(ctx, p), "startup"), ctx.root.keyPem);
    },
  };
}
