import { join } from "node:path";
import { create as createTar } from "tar";
import type { ParticipantSpec } from "../config/index.js";

/** Writes `<prod>/<participant>.tgz` holding `<participant>/…` with file modes kept (keys stay 0600). */
export async function packageKits(prodDir: string, participants: readonly ParticipantSpec[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await Promise.all(
    participants.map(async (p) => {
      const file = join(prodDir, `${p.name}.tgz`);
      await createTar({ gzip: true, file, cwd: prodDir, portable: true, noMtime: false }, [p.name]);
      out.set(p.name, file);
    }),
  );
  return out;
}
